"""A middleware for Ray Serve's HTTP proxy: a request whose replica died under it is sent again.

When a replica process dies with requests on it, Serve's proxy returns from those requests without
answering, and uvicorn answers each with a bare 500 "Internal Server Error". Serve already routes new
requests around a dead replica; this resends the ones caught in flight, once, to whichever replica
Serve picks next, when nothing has reached the client yet and the route is safe to resend: the
inference routes and the state-token session steps (OpenAPI `x-retry-safe`: they change nothing on the
server) and GET/HEAD. What still
fails becomes a JSON 503 `replica_unavailable` with Retry-After. Only the proxy's own failures count:
every answer from the app carries `X-Replica-Id` (deploy/ray/app.py).

Serve loads it from RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH=deploy.ray.proxy:middlewares, read where
the proxy starts (export it before `serve run` or `ray start`).
"""

import json
import re

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The routes nginx resends in compose's scale profile too (docker/nginx/default.conf.template).
RETRY_SAFE_POST = re.compile(
    r"^/(v1/(sentiment|next-word|perplexity|generate|forecast|sessions/append|sessions/generate)|v2/models/[^/]+(/versions/[^/]+)?/infer)$"
)
TRIES = 2


class Attempt:
    """One pass of a request through the proxy: the body replayed, the proxy's own failure kept back."""

    def __init__(self, body: bytes, receive: Receive, send: Send) -> None:
        self.body, self.receive, self.send = body, receive, send
        self.replayed = False
        self.answered = False  # a response from the app has begun reaching the client
        self.failed = False  # the proxy answered a 5xx of its own

    async def replay(self) -> Message:
        if self.replayed:
            return await self.receive()  # after the body: the client's disconnect, when it comes
        self.replayed = True
        return {"type": "http.request", "body": self.body, "more_body": False}

    async def forward(self, message: Message) -> None:
        if message["type"] == "http.response.start" and not self.answered:
            from_app = b"x-replica-id" in dict(message.get("headers", ()))
            if message["status"] >= 500 and not from_app:
                self.failed = True
                return
            self.answered = True
        if not self.failed:
            await self.send(message)


class ResendOnReplicaFailure:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        safe = scope["type"] == "http" and (
            scope["method"] in ("GET", "HEAD")
            or (scope["method"] == "POST" and RETRY_SAFE_POST.match(scope["path"]))
        )
        if not safe:
            await self.app(scope, receive, send)
            return
        body = await read_whole_body(receive)  # the app's own size limit (413) still applies on the replica
        for _ in range(TRIES):
            attempt = Attempt(body, receive, send)
            try:
                await self.app(scope, attempt.replay, attempt.forward)
            except Exception:
                if attempt.answered:
                    raise  # the answer had begun: nothing can be resent
            if attempt.answered:
                return
            # Not answered: the proxy raised, sent a 5xx of its own, or returned without answering.
        error = {
            "error": {"code": "replica_unavailable", "message": "the replica failed; retry", "details": []}
        }
        headers = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(error).encode()})


async def read_whole_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def middlewares() -> list[Middleware]:
    return [Middleware(ResendOnReplicaFailure)]
