"""Helpers shared by the benchmarks: where the data is, starting a server, percentiles."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

REPO = Path(__file__).resolve().parent.parent


def data_dir(explicit: Path | None, dataset: str) -> Path | None:
    """--data, else $RNNSERVE_DATA_DIR/<dataset>, else ../shared/data/<dataset>; None when absent."""
    candidates = [explicit] if explicit else []
    if os.environ.get("RNNSERVE_DATA_DIR"):
        candidates.append(Path(os.environ["RNNSERVE_DATA_DIR"]) / dataset)
    candidates.append(REPO.parent / "shared" / "data" / dataset)
    return next((path for path in candidates if path and path.exists()), None)


def skip(message: str) -> None:
    print(f"SKIPPED: {message}")
    sys.exit(0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_process(
    command: list[str], health_url: str, env: dict[str, str] | None = None, cwd: Path = REPO
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process; yield it once `health_url` answers 200; terminate it afterwards."""
    # A session of its own, so that stopping it also stops any worker processes it started (LitServe's).
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[:3]} exited during start")
            try:
                if httpx.get(health_url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[:3]} never became ready")
            time.sleep(0.2)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def session_cpu_seconds(session_id: int) -> float:
    """CPU seconds of every live thread of every process in a session (a server and any workers it started),
    from /proc/PID/task/TID/schedstat, which counts in nanoseconds (utime/stime count in 10 ms ticks)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[3]) != session_id:  # field 6: the session id
                continue
            total += sum(int(task.read_text().split()[0]) for task in stat.parent.glob("task/*/schedstat"))
        except (OSError, ValueError):
            continue  # the process or thread ended while we looked
    return total / 1e9


@dataclass
class Server:
    url: str
    pid: int


@contextmanager
def running_server(
    artifacts_dir: Path, threads: int = 0, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Start `python -m service` on a free loopback port; yields its URL and pid once /readyz is 200."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "RNNSERVE_ARTIFACTS_DIR": str(artifacts_dir),
        # fmt: skip
        "RNNSERVE_LOG_LEVEL": "warning",
        "RNNSERVE_THREADS": str(threads),
        **(extra_env or {}),
    }
    with running_process([sys.executable, "-m", "service"], f"{url}/readyz", env) as process:
        yield Server(url, process.pid)


async def run_load(
    url: str, path: str, bodies: list[dict[str, object]], concurrency: int
) -> tuple[list[float], float]:
    """POST each body once, `concurrency` at a time, after one warm-up; returns latencies (ms) and wall
    seconds.

    The client is aiohttp with bodies encoded beforehand: it adds about 0.2 ms a request on this
    machine, where httpx's AsyncClient added about 1.8 ms, all of it charged to the server measured.
    """
    queue = [json.dumps(body).encode() for body in bodies]
    latencies: list[float] = []
    headers = {"Content-Type": "application/json"}

    async def post(session: aiohttp.ClientSession, payload: bytes) -> None:
        async with session.post(f"{url}{path}", data=payload, headers=headers) as response:
            await response.read()
            response.raise_for_status()

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            payload = queue.pop()
            began = time.perf_counter()
            await post(session, payload)
            latencies.append((time.perf_counter() - began) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:
        await post(session, queue[-1])
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return latencies, time.perf_counter() - began
