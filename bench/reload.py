"""Hot reload under load: how long a new version takes to answer, what a swap costs the requests in flight,
and the memory of two versions at once.

    python -m bench.reload [--seconds 20] [--swaps 5] [--concurrency 8] [--interval 0.5]

1. Copies the committed artifacts into a temporary folder and starts rnnserve on it, scanning every
   --interval seconds, with an admin key.
2. Keeps --concurrency clients posting real IMDB test reviews to /v1/sentiment (closed loop).
3. For --seconds with no swap, then for --seconds with --swaps swaps spread over them: each swap writes
   a new version of the sentiment model (the committed weights under a new version string, so that the
   answers stay comparable) beside the served folder and renames it in, as write_artifact does.
4. Prints: the time from each rename to the first answer of the new version (scan wait + copy + load +
   warm-up + golden check), the same through POST /v2/repository/models/sentiment/load (no scan wait),
   p50/p99 latency without and with swaps, and the server's resident memory before, at its peak during
   the swaps, and after.
"""

import argparse
import asyncio
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
from safetensors.torch import load_file, save_file

from bench.common import REPO, data_dir, percentile, running_server, skip
from bench.soak import resident_mb
from models.artifact import WEIGHTS_FILE, replace_folder
from training import imdb

ADMIN = {"Authorization": "Bearer bench-admin"}


def write_version(root: Path, version: str) -> Path:
    """The committed sentiment model as `version`, in a staging folder beside the served one."""
    staging = root / f".staging-{version}"
    shutil.copytree(REPO / "artifacts" / "sentiment", staging)
    card = json.loads((staging / "card.json").read_text())
    (staging / "card.json").write_text(json.dumps({**card, "version": version}, indent=2))
    weights = load_file(staging / WEIGHTS_FILE)
    save_file(weights, str(staging / WEIGHTS_FILE), metadata={"name": "sentiment", "version": version})
    return staging


class Load:
    """Closed-loop clients; every answer kept as (sent at, latency ms, version)."""

    def __init__(self, url: str, reviews: list[str], concurrency: int) -> None:
        self.url, self.reviews, self.concurrency = url, reviews, concurrency
        self.answers: list[tuple[float, float, str]] = []
        self.failures = 0
        self.running = True

    async def client(self, session: aiohttp.ClientSession, seed: int) -> None:
        rng = random.Random(seed)
        while self.running:
            body = json.dumps({"texts": [rng.choice(self.reviews)]}).encode()
            sent = time.monotonic()
            async with session.post(
                f"{self.url}/v1/sentiment", data=body, headers={"Content-Type": "application/json"}
            ) as response:
                answer = await response.read()
            if response.status != 200:
                self.failures += 1
                continue
            self.answers.append((sent, (time.monotonic() - sent) * 1000, json.loads(answer)["version"]))

    def between(self, start: float, end: float) -> list[float]:
        return [latency for sent, latency, _ in self.answers if start <= sent < end]

    def first_of(self, version: str) -> float:
        return min(sent + latency / 1000 for sent, latency, seen in self.answers if seen == version)


async def sample_memory(pid: int, samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(resident_mb(pid))
        await asyncio.sleep(0.05)


async def wait_for(load: Load, version: str, timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(seen == version for _, _, seen in load.answers[-200:]):
            return load.first_of(version)
        await asyncio.sleep(0.01)
    raise RuntimeError(f"version {version} never answered")


async def measure(url: str, pid: int, root: Path, reviews: list[str], args: argparse.Namespace) -> None:
    load = Load(url, reviews, args.concurrency)
    memory: list[float] = []
    stop_memory = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:
        clients = [asyncio.create_task(load.client(session, seed)) for seed in range(args.concurrency)]
        await asyncio.sleep(2)  # warm
        before = resident_mb(pid)
        quiet_start = time.monotonic()
        await asyncio.sleep(args.seconds)
        quiet_end = time.monotonic()
        sampler = asyncio.create_task(sample_memory(pid, memory, stop_memory))
        by_scan = []
        for swap in range(args.swaps):
            version = f"bench-{swap}"
            staging = await asyncio.to_thread(write_version, root, version)
            renamed = time.monotonic()
            await asyncio.to_thread(replace_folder, root / "sentiment", staging)
            by_scan.append(await wait_for(load, version) - renamed)
            await asyncio.sleep(max(0.0, args.seconds / args.swaps - (time.monotonic() - renamed)))
        swaps_end = time.monotonic()
        stop_memory.set()
        await sampler
        await asyncio.sleep(3)  # the retired versions freed
        after = resident_mb(pid)
        by_call = []
        async with httpx.AsyncClient(base_url=url, timeout=120) as admin:
            for _ in range(3):  # a forced reload of the folder: copy, load, warm-up, check and swap, no scan
                began = time.monotonic()
                answer = await admin.post("/v2/repository/models/sentiment/load", headers=ADMIN)
                answer.raise_for_status()
                by_call.append(time.monotonic() - began)
        load.running = False
        await asyncio.gather(*clients)
    quiet, swapping = load.between(quiet_start, quiet_end), load.between(quiet_end, swaps_end)
    print(f"answers: {len(load.answers)}, refused or failed: {load.failures}")
    print(
        f"rename -> first answer of the new version (scan every {args.interval} s): "
        + ", ".join(f"{value:.2f}" for value in by_scan)
        + f" s (median {percentile(by_scan, 50):.2f} s)"
    )
    print(
        "POST .../load (copy + load + warm-up + check + swap): "
        + ", ".join(f"{v:.2f}" for v in by_call)
        + " s"
    )
    for label, latencies in (("no swap", quiet), (f"{args.swaps} swaps", swapping)):
        print(
            f"{label:>9}: {len(latencies)} requests, p50 {percentile(latencies, 50):.1f} ms, "
            f"p99 {percentile(latencies, 99):.1f} ms"
        )
    print(
        f"resident memory: before {before:.0f} MiB, peak during swaps {max(memory):.0f} MiB, "
        f"after {after:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20, help="each phase's length (default 20)")
    parser.add_argument("--swaps", type=int, default=5, help="swaps in the second phase (default 5)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients in a closed loop (default 8)")
    parser.add_argument(
        "--interval", type=float, default=0.5, help="RNNSERVE_RELOAD_INTERVAL_S (default 0.5)"
    )
    parser.add_argument("--data", type=Path, help="the IMDB folder (default: RNNSERVE_DATA_DIR/imdb)")
    args = parser.parse_args()
    imdb_dir = data_dir(args.data, "imdb")
    if imdb_dir is None:
        skip("IMDB is needed for the reviews: set RNNSERVE_DATA_DIR (see README, 'Data')")
    reviews = random.Random(0).sample(imdb.load_split(imdb_dir, "test").texts, 500)
    with tempfile.TemporaryDirectory(prefix="rnnserve-reload-bench-") as folder:
        root = Path(folder) / "artifacts"
        shutil.copytree(REPO / "artifacts", root)
        settings = {"RNNSERVE_RELOAD_INTERVAL_S": str(args.interval), "RNNSERVE_ADMIN_KEY": "bench-admin"}
        with running_server(root, extra_env=settings) as server:
            asyncio.run(measure(server.url, server.pid, root, reviews, args))


if __name__ == "__main__":
    main()
