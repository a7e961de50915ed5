"""deploy/ray/proxy.py against a stand-in for Serve's proxy: a request whose replica died is resent once,
only where that is safe, and the client never sees the proxy's bare 500."""

import asyncio
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from deploy.ray.proxy import RETRY_SAFE_POST, ResendOnReplicaFailure
from tests.docker.dockerfile import REPO

Behaviour = Callable[[Scope, Receive, Send], Awaitable[None]]


async def dies(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()  # Serve's proxy read the request, then the replica died: it returns without answering


async def answers(scope: Scope, receive: Receive, send: Send) -> None:
    body = (await receive())["body"]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-replica-id", b"r2")]})
    await send({"type": "http.response.body", "body": b"echo:" + body})


class FakeProxy:
    """Plays the given behaviours in turn, one per request it is handed."""

    def __init__(self, *behaviours: Behaviour) -> None:
        self.behaviours = list(behaviours)
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        behaviour = self.behaviours[min(self.calls, len(self.behaviours) - 1)]
        self.calls += 1
        await behaviour(scope, receive, send)


def post(proxy: FakeProxy, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=ResendOnReplicaFailure(proxy), raise_app_exceptions=False)

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            return await client.post(path, content=b'{"texts": ["great"]}')

    return asyncio.run(send())


def test_a_request_whose_replica_died_is_resent_with_its_body() -> None:
    proxy = FakeProxy(dies, answers)
    response = post(proxy, "/v1/sentiment")
    assert (
        response.status_code == 200 and response.content == b'echo:{"texts": ["great"]}' and proxy.calls == 2
    )


def test_two_failures_answer_a_retryable_503() -> None:
    proxy = FakeProxy(dies)
    response = post(proxy, "/v2/models/sentiment/infer")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "replica_unavailable" and proxy.calls == 2


@pytest.mark.parametrize("path", ["/v1/sessions/abc/append", "/v1/sentiment/extra"])
def test_a_route_not_marked_safe_is_never_resent(path: str) -> None:
    proxy = FakeProxy(dies, answers)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    asyncio.run(ResendOnReplicaFailure(proxy)(scope, receive, send))
    assert proxy.calls == 1 and sent == []  # the failure is left to uvicorn (its bare 500), never resent


def test_the_apps_own_errors_pass_through() -> None:
    async def app_error(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 503, "headers": [(b"x-replica-id", b"r1")]})
        await send({"type": "http.response.body", "body": b'{"error": {"code": "draining"}}'})

    proxy = FakeProxy(app_error, answers)
    response = post(proxy, "/v1/sentiment")
    assert response.status_code == 503 and response.json()["error"]["code"] == "draining" and proxy.calls == 1


def test_ray_and_nginx_resend_the_same_routes() -> None:
    template = (REPO / "docker" / "nginx" / "default.conf.template").read_text()
    [nginx_pattern] = re.findall(r"location ~ (\S+) \{", template)
    assert RETRY_SAFE_POST.pattern == nginx_pattern
