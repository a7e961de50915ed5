"""Figures for the fault suite (tests/service/test_faults_e2e.py and test_hardening_rules.py assert the
outcomes; this times them).

(1) /healthz while 30 forecast requests with 2.5 MB bodies arrive at once;
(2) a forecast with a 0.5 s deadline while five ~10,000-word perplexity requests run;
(3) a drain with 40 generations of 200 tokens in flight and a 1 s window;
(4) 5 rounds of 48 innocent requests (next words, generations, session appends) with 3 signed state
    tokens of the wrong shape among them: how many innocent answers are not 200;
(5) slow clients: how long a connection that sends nothing, one that sends its head a byte every 0.2 s,
    and one that trickles its body are held (RNNSERVE_HEAD_TIMEOUT_S and _BODY_TIMEOUT_S at 2 s);
(6) 24 concurrent generations of 200 tokens with X-Request-Timeout 2: statuses and the latest answer.

    python -m bench.faults
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time

import httpx

from bench.common import REPO, free_port

KEY = "faults-bench-key"
PTB_LIKE = "the company said it expects a loss of about $ N million in the third quarter "


def start(**settings: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "RNNSERVE_LOG_LEVEL": "warning", **settings}
    process = subprocess.Popen(
        [sys.executable, "-m", "service"], cwd=REPO, env=env, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return url, process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server never became ready")


async def health_under_large_bodies(url: str) -> tuple[list[float], list[int]]:
    rows = [[round(random.uniform(50, 150), 6) for _ in range(5)] for _ in range(10_000)]
    body = json.dumps({"model": "forecast-stocks", "history": rows, "horizon": 5}).encode()  # about 2.5 MB
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=64)) as client:
        headers = {"Content-Type": "application/json"}
        posts = [
            asyncio.create_task(client.post(f"{url}/v1/forecast", content=body, headers=headers))
            for _ in range(30)
        ]
        latencies = []
        while not all(post.done() for post in posts):
            began = time.perf_counter()
            await client.get(f"{url}/healthz")
            latencies.append(time.perf_counter() - began)
            await asyncio.sleep(0.05)
        return latencies, [post.result().status_code for post in posts]


async def forecast_during_flood(url: str) -> tuple[int, float, list[int]]:
    # The network alone, one cheap forward (method auto would fit statistical models too).
    history = {"history": [float(100 + (i % 12)) for i in range(48)], "horizon": 12, "method": "network"}
    async with httpx.AsyncClient(timeout=120) as client:
        flood = [
            asyncio.create_task(client.post(f"{url}/v1/perplexity", json={"text": (PTB_LIKE * 600)[:19_000]}))
            for _ in range(5)
        ]
        await asyncio.sleep(0.5)
        began = time.perf_counter()
        cheap = await client.post(f"{url}/v1/forecast", json=history, headers={"X-Request-Timeout": "0.5"})
        seconds = time.perf_counter() - began
        return cheap.status_code, seconds, [response.status_code for response in await asyncio.gather(*flood)]


async def drain(url: str, process: subprocess.Popen[bytes]) -> tuple[int, int, float]:
    body = {"prompt": "the company said", "max_new_tokens": 200, "seed": 1}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as client:
        requests = [asyncio.create_task(client.post(f"{url}/v1/generate", json=body)) for _ in range(40)]
        await asyncio.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        statuses = [response.status_code for response in await asyncio.gather(*requests)]
    process.wait(timeout=60)
    return statuses.count(200), statuses.count(503), time.monotonic() - signalled


def signed(header: object, body: bytes) -> str:
    payload = json.dumps(header).encode() + b"\n" + body
    signature = hmac.new(KEY.encode(), payload, hashlib.sha256).digest()
    return f"{base64.urlsafe_b64encode(payload).decode()}.{base64.urlsafe_b64encode(signature).decode()}"


async def poisoned_batches(url: str) -> tuple[int, int, int]:
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as client:
        start = (await client.post(f"{url}/v1/sessions", json={"prompt": "the company"})).json()["state"]
        header, _, body = base64.urlsafe_b64decode(start.split(".")[0] + "==").partition(b"\n")
        shape = json.loads(header)
        wrong = signed(
            {**shape, "shape": [shape["shape"][0], 1, shape["shape"][2] // 2]}, body[: len(body) // 2]
        )
        failed = total = 0
        for _ in range(5):
            innocent = [
                client.post(f"{url}/v1/next-word", json={"text": "the company said"}) for _ in range(16)
            ]
            innocent += [
                client.post(
                    f"{url}/v1/generate", json={"prompt": "the company", "max_new_tokens": 3, "seed": 1}
                )
                for _ in range(16)
            ]
            innocent += [
                client.post(f"{url}/v1/sessions/append", json={"state": start, "text": "said"})
                for _ in range(16)
            ]
            poison = [
                client.post(f"{url}/v1/sessions/append", json={"state": wrong, "text": "said"})
                for _ in range(3)
            ]
            answers = await asyncio.gather(*innocent, *poison)
            failed += sum(response.status_code != 200 for response in answers[:48])
            total += 48
        return failed, total, 15


def held(url: str, first: bytes, trickle: bytes) -> float:
    """Seconds until the server closes a connection that sends `first`, then `trickle` a byte every 0.2 s."""
    host, port = url.removeprefix("http://").split(":")
    began = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=0.2) as connection:
        connection.sendall(first)
        for position in range(max(len(trickle), 200)):
            try:
                if position < len(trickle):
                    connection.sendall(trickle[position : position + 1])
                if connection.recv(4096) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
    return time.monotonic() - began


def slow_clients(url: str) -> tuple[float, float, float]:
    head = (
        b"POST /v1/sentiment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999\r\n"
    )
    head += b"\r\n"
    return held(url, b"", b""), held(url, b"", head), held(url, head, b'{"texts": ["' + b"a" * 900)


async def bounded_generations(url: str) -> tuple[list[int], float]:
    body = {"prompt": "the company said", "max_new_tokens": 200, "seed": 1}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as client:
        began = time.monotonic()

        async def one() -> tuple[int, float]:
            response = await client.post(f"{url}/v1/generate", json=body, headers={"X-Request-Timeout": "2"})
            return response.status_code, time.monotonic() - began

        answers = await asyncio.gather(*(one() for _ in range(24)))
    return sorted({status for status, _ in answers}), max(seconds for _, seconds in answers)


def main() -> None:
    url, process = start()
    try:
        latencies, statuses = asyncio.run(health_under_large_bodies(url))
        median, worst = statistics.median(latencies) * 1000, max(latencies) * 1000
        print(
            f"(1) /healthz while 30 forecast bodies of 2.5 MB arrive: median {median:.0f} ms, "
            f"worst {worst:.0f} ms over {len(latencies)} probes; forecasts {sorted(set(statuses))}"
        )
        status, seconds, flood = asyncio.run(forecast_during_flood(url))
        print(
            f"(2) forecast with a 0.5 s deadline during 5 long perplexity requests: {status} in "
            f"{seconds * 1000:.0f} ms; perplexity answers {flood}"
        )
    finally:
        process.kill()
        process.wait()
    url, process = start(RNNSERVE_DRAIN_TIMEOUT_S="1")
    finished, drained, exited = asyncio.run(drain(url, process))
    print(
        f"(3) drain, 40 generations in flight, 1 s window: {finished} finished, {drained} answered 503 "
        f"draining, exit {exited:.1f} s after SIGTERM"
    )
    url, process = start(RNNSERVE_SESSION_KEY=KEY, RNNSERVE_HEAD_TIMEOUT_S="2", RNNSERVE_BODY_TIMEOUT_S="2")
    try:
        failed, total, poisoned = asyncio.run(poisoned_batches(url))
        print(f"(4) {total} innocent requests beside {poisoned} poisoned tokens: {failed} not answered 200")
        silent, dripped, trickled = slow_clients(url)
        print(
            f"(5) held: a silent connection {silent:.1f} s, a head sent a byte every 0.2 s {dripped:.1f} s, "
            f"a trickled body {trickled:.1f} s (limits 2 s)"
        )
        statuses, latest = asyncio.run(bounded_generations(url))
        print(
            f"(6) 24 generations of 200 tokens, 2 s deadline: statuses {statuses}, "
            f"latest answer {latest:.2f} s"
        )
    finally:
        process.kill()
        process.wait()


if __name__ == "__main__":
    main()
