"""End to end: on SIGTERM no accepted request is lost, new connections are refused, and the process exits."""

import asyncio
import signal
import time

import httpx
import pytest

from tests.service.conftest import LiveServer

pytestmark = pytest.mark.e2e


async def send_then_terminate(server: LiveServer, count: int) -> tuple[list[int], float]:
    body = {"prompt": "the company said", "max_new_tokens": 200, "seed": 1}
    async with httpx.AsyncClient(timeout=60) as client:
        requests = [
            asyncio.create_task(client.post(f"{server.url}/v1/generate", json=body)) for _ in range(count)
        ]
        await asyncio.sleep(0.5)  # every request is accepted and generating
        server.process.send_signal(signal.SIGTERM)
        terminated_at = time.monotonic()
        responses = await asyncio.gather(*requests)
    return [response.status_code for response in responses], terminated_at


def test_sigterm_finishes_accepted_requests_and_refuses_new_ones(live_server: LiveServer) -> None:
    statuses, terminated_at = asyncio.run(send_then_terminate(live_server, 8))
    assert statuses == [200] * 8
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{live_server.url}/v1/generate", json={"prompt": "the"}, timeout=5)
    # uvicorn re-raises the signal once its graceful shutdown is done, so the exit reads as SIGTERM.
    assert live_server.process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert time.monotonic() - terminated_at < 30
