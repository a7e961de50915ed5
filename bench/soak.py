"""Soak: rnnserve driven at a multiple of its measured capacity for a few minutes, bounded.

    python -m bench.soak [--seconds 180] [--factor 2] [--deadline 2]

1. Starts rnnserve on loopback with the committed artifacts.
2. Measures capacity: requests per second at concurrency 32, closed loop, on the mix below.
3. Sends requests open loop (at fixed intervals, whatever the answers) at --factor x that rate
   for --seconds. Each asks for a --deadline in X-Request-Timeout. The mix is half sentiment
   (one real IMDB test review) and half next-word (the opening words of a PTB test sentence).
4. Samples the server's resident memory every 5 s.

Passes when every request is answered 200 or refused with 429, 503 or 504, none hangs past
deadline + --grace seconds, and the server still answers afterwards. Prints the RSS at start,
peak and end.
"""

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp

from bench.common import REPO, data_dir, percentile, running_server, skip
from training import imdb

REFUSALS = {429, 503, 504}
Request = tuple[str, dict[str, object]]  # path, body


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def request_mix(count: int, seed: int) -> list[Request]:
    imdb_dir, ptb_dir = data_dir(None, "imdb"), data_dir(None, "ptb")
    if imdb_dir is None or ptb_dir is None:
        skip("IMDB and PTB are needed: set RNNSERVE_DATA_DIR (see README, 'Data')")
    rng = random.Random(seed)
    reviews = rng.sample(imdb.load_split(imdb_dir, "test").texts, count)
    sentences = [
        line.split() for line in (ptb_dir / "ptb.test.txt").read_text().splitlines() if len(line.split()) > 4
    ]
    mix: list[Request] = []
    for index in range(count):
        if index % 2:
            mix.append(("/v1/sentiment", {"texts": [reviews[index]]}))
        else:
            words = rng.choice(sentences)
            mix.append(
                ("/v1/next-word", {"text": " ".join(words[: rng.randint(2, min(20, len(words) - 1))])})
            )
    return mix


async def capacity(url: str, mix: list[Request], concurrency: int, count: int) -> float:
    """Requests per second, closed loop: each of `concurrency` workers sends its next request when
    answered."""
    queue = list(mix[:count])

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            path, body = queue.pop()
            async with session.post(url + path, json=body) as response:
                await response.read()
                response.raise_for_status()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return count / (time.perf_counter() - began)


async def soak(
    url: str, pid: int, mix: list[Request], rate: float, seconds: float, deadline: float, grace: float
) -> dict:
    outcomes: Counter[str] = Counter()
    answered_ms: list[float] = []
    slowest = 0.0
    memory = [(0.0, resident_mb(pid))]
    headers = {"X-Request-Timeout": str(deadline)}
    # Idle connections are closed before uvicorn closes them (5 s), so no request races a closing socket.
    connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=2)

    async def one(session: aiohttp.ClientSession, path: str, body: dict[str, object]) -> None:
        nonlocal slowest
        began = time.perf_counter()
        try:
            async with session.post(url + path, json=body, headers=headers) as response:
                await response.read()
                status = response.status
        except TimeoutError:
            outcomes["hung (no answer within deadline + grace)"] += 1
            return
        except aiohttp.ClientError as error:
            outcomes[f"transport error {type(error).__name__}"] += 1
            return
        elapsed = (time.perf_counter() - began) * 1000
        slowest = max(slowest, elapsed)
        outcomes[str(status)] += 1
        if status == 200:
            answered_ms.append(elapsed)

    async def sample_memory(started: float) -> None:
        while True:
            await asyncio.sleep(5)
            memory.append((time.perf_counter() - started, resident_mb(pid)))

    timeout = aiohttp.ClientTimeout(total=deadline + grace)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        sampler = asyncio.create_task(sample_memory(started))
        tasks = []
        sent = 0
        while (now := time.perf_counter() - started) < seconds:
            due = int(now * rate) + 1  # open loop: the schedule, not the answers, sets the pace
            while sent < due:
                path, body = mix[sent % len(mix)]
                tasks.append(asyncio.create_task(one(session, path, body)))
                sent += 1
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)
        await asyncio.sleep(5)  # let the server settle before the last memory sample
        sampler.cancel()
        memory.append((time.perf_counter() - started, resident_mb(pid)))
        async with session.post(url + mix[1][0], json=mix[1][1]) as after:
            after_status = after.status
    return {
        "sent": sent,
        "seconds": seconds,
        "outcomes": outcomes,
        "answered_ms": answered_ms,
        "slowest_ms": slowest,
        "memory": memory,
        "after_status": after_status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=180, help="length of the overload")
    parser.add_argument(
        "--factor", type=float, default=2.0, help="offered load as a multiple of measured capacity"
    )
    parser.add_argument(
        "--deadline", type=float, default=2.0, help="X-Request-Timeout sent with each request (s)"
    )
    parser.add_argument(
        "--grace", type=float, default=10.0, help="a request unanswered past deadline + grace has hung"
    )
    parser.add_argument("--probe", type=int, default=400, help="requests used to measure capacity")
    parser.add_argument("--server-env", nargs="*", default=[], help="KEY=VALUE pairs for the server process")
    args = parser.parse_args()
    mix = request_mix(1000, seed=0)
    server_env = dict(pair.split("=", 1) for pair in args.server_env)
    with running_server(REPO / "artifacts", extra_env=server_env) as server:
        measured = asyncio.run(capacity(server.url, mix, 32, args.probe))
        rate = args.factor * measured
        print(f"capacity (mix, concurrency 32, closed loop): {measured:.1f} requests/s")
        print(
            f"offering {rate:.1f} requests/s ({args.factor}x) open loop for {args.seconds:.0f} s, deadline "
            f"{args.deadline} s"
        )
        result = asyncio.run(soak(server.url, server.pid, mix, rate, args.seconds, args.deadline, args.grace))
    outcomes: Counter[str] = result["outcomes"]
    answered = outcomes["200"]
    print(f"\nsent {result['sent']} requests; outcomes: {dict(sorted(outcomes.items()))}")
    print(f"answered 200: {answered / result['seconds']:.1f}/s; "
          f"p50 {percentile(result['answered_ms'], 50):.0f} ms, p99 "
              f"{percentile(result['answered_ms'], 99):.0f} ms; "
          f"slowest answer of any status {result['slowest_ms']:.0f} ms")  # fmt: skip
    memory = result["memory"]
    peak = max(mb for _, mb in memory)
    print(f"server RSS: start {memory[0][1]:.0f} MB, peak {peak:.0f} MB, end {memory[-1][1]:.0f} MB "
          f"({memory[-1][1] - memory[0][1]:+.0f} MB)")  # fmt: skip
    settled = next(mb for t, mb in memory if t >= 30)  # the overload's own working set is in place by then
    print(f"server RSS growth after the first 30 s: {memory[-1][1] - settled:+.0f} MB")
    print("RSS samples (s, MB): " + ", ".join(f"{t:.0f}:{mb:.0f}" for t, mb in memory))
    unexpected = {
        code: n
        for code, n in outcomes.items()
        if code != "200" and not (code.isdigit() and int(code) in REFUSALS)
    }
    print(f"request after the soak: {result['after_status']}")
    passed = not unexpected and result["after_status"] == 200
    print(
        f"{'PASS' if passed else 'FAIL'}: every request answered or refused with 429/503/504, none hung"
        + ("" if passed else f"; unexpected: {unexpected}")
    )
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
