"""ASGI middleware: request ids, one log line and metrics per request, the API key, the body limit, and the
last-resort 500."""

import asyncio
import logging
import os
import re
import secrets
import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import response_for
from service.errors import BodyTimeout, PayloadTooLarge, ServiceError, Unauthorized
from service.runtime.drain import Drain
from service.runtime.metrics import Metrics

logger = logging.getLogger("rnnserve.access")
REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,128}")


def header(scope: Scope, name: bytes) -> bytes | None:
    """One request header's raw value (names arrive lowercased), without building a dict of them all."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class RequestContextMiddleware:
    """Outermost layer: tags the request with an id, times it, counts it, and turns crashes into a bare
    500."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # Metric children per (route, method, status): a label lookup costs microseconds on every request.
        self._counters: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def _observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._counters.get(key)
        if children is None:
            children = (
                self.metrics.requests.labels(route, method, str(status)),
                self.metrics.request_latency.labels(route),
            )
            self._counters[key] = children
        children[0].inc()
        children[1].observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header(scope, REQUEST_ID_HEADER) or b""
        # Kept as sent when it is 1-128 visible ASCII characters; anything else is replaced by a new id.
        request_id = incoming.decode() if REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()
        log_fields: dict[str, Any] = {}
        scope.setdefault("state", {}).update(request_id=request_id, log_fields=log_fields)
        status = 500
        response_started = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error", extra={"fields": {"request_id": request_id}})
            if not response_started:
                response = response_for(
                    scope["path"],
                    ServiceError("internal error; see the server log for request " + request_id),
                )
                await response(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self._observe(getattr(scope.get("route"), "path", "unmatched"), scope["method"], status, seconds)
            if logger.isEnabledFor(logging.INFO):
                fields = {
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                    **log_fields,  # sizes the route recorded; never the inputs themselves
                }
                logger.info("request", extra={"fields": fields})


def _guarded(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


class DrainingMiddleware:
    """Once the drain has begun, new requests to the API prefixes get 503 `draining` before anything is
    read."""

    def __init__(self, app: ASGIApp, drain: Drain, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.drain = drain
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.drain.draining and _guarded(scope["path"], self.prefixes):
            response = response_for(scope["path"], self.drain.refusal())
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class ApiKeyMiddleware:
    """With RNNSERVE_API_KEY set, every route under the API prefixes needs `Authorization: Bearer <key>`.

    It answers 401 before the app runs, so an unauthorized body is never read or parsed.
    """

    def __init__(self, app: ASGIApp, api_key: str, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.expected = api_key.encode()
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _guarded(scope["path"], self.prefixes):
            await self.app(scope, receive, send)
            return
        authorization = header(scope, b"authorization") or b""
        scheme, _, token = authorization.partition(b" ")
        if scheme.lower() == b"bearer" and secrets.compare_digest(token, self.expected):
            await self.app(scope, receive, send)
            return
        refusal = Unauthorized(
            "missing or wrong API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
        response = response_for(scope["path"], refusal)
        await response(scope, receive, send)


class BodyLimitsMiddleware:
    """Refuse bodies over `max_bytes` with 413 (by Content-Length when given, by counting otherwise), and
    bodies that have not fully arrived `timeout_s` after the request began with 408: a stalled upload
    never holds a connection and its buffer for long. Once the body is in, `receive` passes through
    untouched (a streaming response listens on it for the client leaving)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = response_for(
                scope["path"], PayloadTooLarge(f"request body over {self.max_bytes} bytes")
            )
            await response(scope, receive, send)
            return
        received = 0
        complete = False
        deadline_at = asyncio.get_running_loop().time() + self.timeout_s

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline_at):  # no task per read, unlike asyncio.wait_for
                    message = await receive()
            except TimeoutError:
                # Raised here, it reaches the app's error handlers as the body is read.
                raise BodyTimeout(
                    f"the request body did not arrive within {self.timeout_s:g} s",
                    headers={"Connection": "close"},  # a client that trickles bytes gets no more time
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(f"request body over {self.max_bytes} bytes")
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, limited_receive, send)
