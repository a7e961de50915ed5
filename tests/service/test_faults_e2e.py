"""The fault suite against a real `python -m service`: a drain with more work in flight than its window,
abandoned streams, an expensive model flooded while a cheap one keeps its deadline, stalled bodies,
broken artifacts beside good ones, and what a newcomer sees on the console."""

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_until_ok
from tests.service.conftest import COMMITTED_ARTIFACTS, LiveServer

pytestmark = pytest.mark.e2e
PTB_LIKE = "the company said it expects a loss of about $ N million in the third quarter "


@contextmanager
def serve(artifacts: Path, log: Path | None = None, **settings: str) -> Iterator[LiveServer]:
    """`python -m service` on a free loopback port; its log goes to `log` (a file: a pipe nobody reads would
    fill)."""
    port = free_port()
    env = {
        **os.environ,
        "RNNSERVE_ARTIFACTS_DIR": str(artifacts),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **settings,
    }
    stderr = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "service"], env=env, stdout=subprocess.DEVNULL, stderr=stderr
    )
    server = LiveServer(f"http://127.0.0.1:{port}", process)
    try:
        wait_until_ok(f"{server.url}/readyz", 90, process)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if log:
            stderr.close()  # type: ignore[union-attr]


def events_of(text: str) -> list[dict[str, object]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_a_drain_with_more_work_than_its_window_answers_every_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """30 generations and 10 streams of 200 tokens (several seconds of work) with a 1 s drain window."""
    body = {"prompt": "the company said", "max_new_tokens": 200, "seed": 1}

    async def run(server: LiveServer) -> tuple[list[httpx.Response], list[httpx.Response], float]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=100)) as client:
            plain = [
                asyncio.create_task(client.post(f"{server.url}/v1/generate", json=body)) for _ in range(30)
            ]
            streams = [
                asyncio.create_task(client.post(f"{server.url}/v1/generate", json={**body, "stream": True}))
                for _ in range(10)
            ]
            await asyncio.sleep(1.0)  # every request is accepted and generating
            server.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            return list(await asyncio.gather(*plain)), list(await asyncio.gather(*streams)), signalled

    with serve(COMMITTED_ARTIFACTS, RNNSERVE_DRAIN_TIMEOUT_S="1") as server:
        plain, streams, signalled = asyncio.run(run(server))
        exit_code = server.process.wait(timeout=30)
        exited_after = time.monotonic() - signalled
    for response in plain:
        assert response.status_code in (200, 503), response.text
        if response.status_code == 503:
            assert response.json()["error"]["code"] == "draining"
    for response in streams:
        assert response.status_code == 200
        last = events_of(response.text)[-1]
        assert last.get("generated_text") or last["error"]["code"] == "draining", last  # type: ignore[index]
    assert exit_code in (0, -signal.SIGTERM) and exited_after < 1 + 3 + 5
    drained = sum(r.status_code == 503 for r in plain) + sum(
        "error" in events_of(r.text)[-1] for r in streams
    )
    with capsys.disabled():
        print(
            f"\ndrain: 40 in flight, window 1 s: {40 - drained} finished, {drained} answered draining, "
            f"exit after {exited_after:.1f} s"
        )


def test_abandoned_streams_stop_generating_and_the_server_carries_on() -> None:
    async def abandon(server: LiveServer) -> None:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as client:

            async def one() -> None:
                body = {"prompt": "the", "max_new_tokens": 200, "stream": True}
                async with client.stream("POST", f"{server.url}/v1/generate", json=body) as response:
                    async for _ in response.aiter_lines():
                        break  # the client leaves after the first event

            await asyncio.gather(*(one() for _ in range(50)))

    with serve(COMMITTED_ARTIFACTS) as server:
        asyncio.run(abandon(server))
        time.sleep(1.0)
        metrics = httpx.get(f"{server.url}/metrics").text
        depth = next(
            line for line in metrics.splitlines() if line.startswith('rnnserve_queue_depth{model="lm-ptb"}')
        )
        assert float(depth.split()[-1]) == 0
        answer = httpx.post(f"{server.url}/v1/next-word", json={"text": "the new york stock"}, timeout=10)
        assert answer.status_code == 200


def test_a_cheap_model_keeps_its_deadline_while_an_expensive_one_is_flooded() -> None:
    long_text = PTB_LIKE * 600  # about 10,000 words: seconds of CPU each
    # The network alone, one cheap forward (method auto would fit statistical models too).
    history = {"history": [float(100 + (i % 12)) for i in range(48)], "horizon": 12, "method": "network"}

    async def flood(server: LiveServer) -> tuple[list[int], httpx.Response, float, httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            expensive = [
                asyncio.create_task(
                    client.post(f"{server.url}/v1/perplexity", json={"text": long_text[:19_000]})
                )
                for _ in range(5)
            ]
            await asyncio.sleep(0.5)  # the perplexity work has started
            began = time.monotonic()
            cheap = await client.post(
                f"{server.url}/v1/forecast", json=history, headers={"X-Request-Timeout": "0.5"}
            )
            cheap_seconds = time.monotonic() - began
            statuses = [response.status_code for response in await asyncio.gather(*expensive)]
            # After the long texts, short next-word requests are not refused on their account.
            next_word = await client.post(
                f"{server.url}/v1/next-word",
                json={"text": "the company said"},
                headers={"X-Request-Timeout": "2"},
            )
            return statuses, cheap, cheap_seconds, next_word

    with serve(COMMITTED_ARTIFACTS) as server:
        statuses, cheap, cheap_seconds, next_word = asyncio.run(flood(server))
    assert cheap.status_code == 200 and cheap_seconds < 0.5 + 0.5, (cheap.status_code, cheap_seconds)
    assert all(status in (200, 429) for status in statuses) and next_word.status_code == 200


def read_reply(connection: socket.socket) -> str:
    """One whole HTTP response: its head, then Content-Length bytes of body (they may come in several
    reads)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += connection.recv(4096)
    return (head + b"\r\n\r\n" + body).decode()


def test_a_stalled_body_is_cut_with_408_and_health_stays_prompt(artifacts_dir: Path) -> None:
    with serve(artifacts_dir, RNNSERVE_BODY_TIMEOUT_S="1") as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
            head = (
                "POST /v1/sentiment HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            )
            stalled.sendall(head.encode() + b'{"texts": ["gr')
            began = time.monotonic()
            assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
            reply = read_reply(stalled)
            waited = time.monotonic() - began
        assert reply.startswith("HTTP/1.1 408") and '"code":"body_timeout"' in reply and waited < 5


def test_broken_artifacts_beside_good_ones_are_failed_and_the_rest_serve(
    artifacts_dir: Path, tmp_path: Path
) -> None:
    for name in ("sentiment", "lm-ptb", "forecast-univariate"):
        shutil.copytree(artifacts_dir / name, tmp_path / name)
    shutil.copytree(artifacts_dir / "sentiment", tmp_path / "no-weights")
    (tmp_path / "no-weights" / "weights.safetensors").unlink()
    shutil.copytree(artifacts_dir / "sentiment", tmp_path / "corrupt-weights")
    (tmp_path / "corrupt-weights" / "weights.safetensors").write_bytes(b"\x00" * 64)
    for folder in ("no-weights", "corrupt-weights"):
        card = json.loads((tmp_path / folder / "card.json").read_text())
        (tmp_path / folder / "card.json").write_text(json.dumps({**card, "name": folder}))
    with serve(tmp_path) as server:
        models = {m["name"]: m for m in httpx.get(f"{server.url}/v1/models").json()["models"]}
        assert (
            models["no-weights"]["status"] == "failed"
            and "missing required file" in models["no-weights"]["reason"]
        )
        assert (
            models["corrupt-weights"]["status"] == "failed"
            and "cannot be read" in models["corrupt-weights"]["reason"]
        )
        refused = httpx.post(f"{server.url}/v1/sentiment", json={"texts": ["great"], "model": "no-weights"})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "model_not_ready"
        assert httpx.post(f"{server.url}/v1/sentiment", json={"texts": ["great"]}).status_code == 200


def test_the_console_says_where_it_listens_and_when_it_is_ready(artifacts_dir: Path, tmp_path: Path) -> None:
    with serve(artifacts_dir, log=tmp_path / "server.log") as server:
        httpx.get(f"{server.url}/healthz")
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=30)
    lines = [
        json.loads(line)
        for line in (tmp_path / "server.log").read_text().splitlines()
        if line.startswith("{")
    ]
    messages = [line["message"] for line in lines]
    assert messages[0] == "listening" and lines[0]["url"] == server.url
    assert any(message.startswith("ready:") for message in messages)
    assert sum(1 for line in lines if line["message"] == "request" and line["path"] == "/healthz") == 1


def test_a_bad_setting_and_missing_data_are_one_line_each(tmp_path: Path) -> None:
    env = {**os.environ, "RNNSERVE_MAX_BATCH_SIZE": "0"}
    bad = subprocess.run(
        [sys.executable, "-m", "service"], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
        "rnnserve: bad setting: RNNSERVE_MAX_BATCH_SIZE: Input should be greater than or equal to 1"
    ]
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "forecast",
            "--preset",
            "univariate",
            "--data",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        missing.returncode != 0
        and len(missing.stderr.strip().splitlines()) == 1
        and "README" in missing.stderr
    )
