"""Figures for the fault suite (tests/service/test_faults_e2e.py asserts the outcomes; this times them).

(1) /healthz while 30 forecast requests with 2.5 MB bodies arrive at once;
(2) a forecast with a 0.5 s deadline while five ~10,000-word perplexity requests run;
(3) a drain with 40 generations of 200 tokens in flight and a 1 s window.

    python -m bench.faults
"""

import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time

import httpx

from bench.common import REPO, free_port

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


def main() -> None:
    url, process = start()
    try:
        latencies, statuses = asyncio.run(health_under_large_bodies(url))
        median, worst = statistics.median(latencies) * 1000, max(latencies) * 1000
        print(f"(1) /healthz while 30 forecast bodies of 2.5 MB arrive: median {median:.0f} ms, worst "
            f"{worst:.0f} ms "
              f"over {len(latencies)} probes; forecasts {sorted(set(statuses))}")  # fmt: skip
        status, seconds, flood = asyncio.run(forecast_during_flood(url))
        print(f"(2) forecast with a 0.5 s deadline during 5 long perplexity requests: {status} in "
            f"{seconds * 1000:.0f} ms; "
              f"perplexity answers {flood}")  # fmt: skip
    finally:
        process.kill()
        process.wait()
    url, process = start(RNNSERVE_DRAIN_TIMEOUT_S="1")
    finished, drained, exited = asyncio.run(drain(url, process))
    print(f"(3) drain, 40 generations in flight, 1 s window: {finished} finished, {drained} answered 503 "
        f"draining, "
          f"exit {exited:.1f} s after SIGTERM")  # fmt: skip


if __name__ == "__main__":
    main()
