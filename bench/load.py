"""Throughput and latency under concurrency, side by side in one run, for sentiment and next word:

  (a) raw   the model alone, batched, no HTTP: the ceiling. For concurrency c, requests are taken
            in arrival order in batches of min(c, --max-batch-size) and run through the serving
            predictor's forward (grouped by length as the server does); each request's latency is
            its batch's time.
  floor     uvicorn + FastAPI answering a constant (bench/floor_server.py): what any FastAPI server pays
  (b) naive FastAPI doing one forward per request (bench/naive_server.py)
  (c) rnnserve as shipped (python -m service)
  (d) LitServe with its batching on the same predictors (bench/litserve_server.py), if installed

Every cell also gives the server's CPU per request: its process's (and its workers') CPU seconds
during the cell, from /proc, over the requests; for raw, this process's CPU over the forward loop.
The last lines check the per-request overhead targets on this run's figures.

Sentiment requests carry one real IMDB test review each; next-word requests carry the opening
words of PTB test sentences. Every level sends --requests requests to loopback, then stops.

    python -m bench.load [--requests 256] [--concurrency 1 8 32 64]
"""

import argparse
import asyncio
import importlib.util
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from bench.common import (
    REPO,
    data_dir,
    free_port,
    percentile,
    run_load,
    running_process,
    running_server,
    session_cpu_seconds,
    skip,
)
from models.artifact import load_artifact
from models.threads import thread_count
from service.schemas.sentiment import SentimentRequest
from service.tasks.language_model.runner import LanguageModelRunner
from service.tasks.sentiment import SentimentPredictor, SentimentRunner
from training import imdb

Result = tuple[float, float, float, float]  # p50 ms, p99 ms, requests per second, server CPU ms per request


def raw_ceiling(
    run_batch: Callable[[list[Any]], None], payloads: list[Any], concurrency: int, max_batch: int
) -> Result:
    """The forward alone, in this process; its CPU per request is this process's CPU time over the loop."""
    size = min(concurrency, max_batch)
    latencies: list[float] = []
    total = 0.0
    cpu_began = time.process_time()
    for start in range(0, len(payloads), size):
        batch = payloads[start : start + size]
        began = time.perf_counter()
        run_batch(batch)
        elapsed = time.perf_counter() - began
        total += elapsed
        latencies.extend([elapsed * 1000] * len(batch))
    cpu = (time.process_time() - cpu_began) * 1000 / len(payloads)
    return percentile(latencies, 50), percentile(latencies, 99), len(payloads) / total, cpu


def http_levels(
    url: str, session: int, path: str, bodies: list[dict[str, object]], levels: list[int]
) -> dict[int, Result]:
    """Each concurrency level in turn; the server's CPU is read from /proc before and after each."""
    results = {}
    for concurrency in levels:
        cpu_began = session_cpu_seconds(session)
        latencies, seconds = asyncio.run(run_load(url, path, bodies, concurrency))
        cpu = (session_cpu_seconds(session) - cpu_began) * 1000 / len(latencies)
        results[concurrency] = (
            percentile(latencies, 50),
            percentile(latencies, 99),
            len(latencies) / seconds,
            cpu,
        )
    return results


def print_table(task: str, table: dict[str, dict[int, Result]], levels: list[int]) -> None:
    print(f"\n{task}: p50 ms / p99 ms / requests per second / server CPU ms per request")
    print(f"{'system':10}" + "".join(f"{'c=' + str(c):>33}" for c in levels))
    for system, results in table.items():
        cells = "".join(
            f"{r[0]:9.1f} {r[1]:7.1f} {r[2]:8.1f} {r[3]:6.2f}" for r in (results[c] for c in levels)
        )
        print(f"{system:10}{cells}")
    ours = table["rnnserve"]
    for other in [name for name in table if name not in ("rnnserve", "floor")]:
        ratios = "  ".join(f"c={c}: {ours[c][2] / table[other][c][2]:.2f}" for c in levels)
        print(f"throughput rnnserve / {other:8} {ratios}")


def print_targets(table: dict[str, dict[str, dict[int, Result]]], levels: list[int]) -> None:
    """The per-request overhead targets, checked on this run's figures."""
    print("\ntargets (this run):")
    checks = []
    if 32 in levels:
        nw = table["next-word"]
        limit = nw["floor"][32][3] + nw["raw"][32][3] + 0.3
        checks.append(
            (
                f"next-word server CPU at c=32 {nw['rnnserve'][32][3]:.2f} ms <= floor "
                f"{nw['floor'][32][3]:.2f} + raw {nw['raw'][32][3]:.2f} + 0.3 = {limit:.2f} ms",
                nw["rnnserve"][32][3] <= limit,
            )
        )
        for task, share in (("next-word", 0.5), ("sentiment", 0.85)):
            ratio = table[task]["rnnserve"][32][2] / table[task]["raw"][32][2]
            checks.append((f"{task} throughput at c=32 {ratio:.2f} of raw >= {share}", ratio >= share))
    if 1 in levels:
        for task in ("next-word", "sentiment"):
            ours, raw = table[task]["rnnserve"][1][0], table[task]["raw"][1][0]
            checks.append((f"{task} p50 at c=1 {ours:.1f} ms <= raw {raw:.1f} + 1 ms", ours <= raw + 1))
    for task in table:
        if "litserve" in table[task]:
            ahead = all(table[task]["rnnserve"][c][2] > table[task]["litserve"][c][2] for c in levels)
            checks.append((f"{task}: ahead of LitServe at every concurrency", ahead))
    for text, met in checks:
        print(f"  [{'met' if met else 'NOT met'}] {text}")


def served(
    command: list[str],
    health_path: str,
    url_of: Callable[[int], str],
    spec: dict[str, Any],
    levels: list[int],
) -> dict[int, Result]:
    port = free_port()
    with running_process([*command, "--port", str(port)], f"{url_of(port)}{health_path}") as process:
        return http_levels(url_of(port), process.pid, spec["path"], spec["bodies"], levels)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=256, help="requests per system and concurrency level")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 8, 32, 64], help="concurrency levels"
    )
    parser.add_argument("--max-batch-size", type=int, default=32, help="batch size for (a), (c) and (d)")
    parser.add_argument("--tasks", nargs="+", default=["sentiment", "next-word"], help="which tasks to load")
    parser.add_argument(
        "--systems",
        nargs="+",
        default=["floor", "naive", "rnnserve", "litserve"],
        help="which servers to load",
    )
    args = parser.parse_args()
    imdb_dir, ptb_dir = data_dir(None, "imdb"), data_dir(None, "ptb")
    if imdb_dir is None or ptb_dir is None:
        skip("IMDB and PTB are needed: set RNNSERVE_DATA_DIR (see README, 'Data')")
    rng = random.Random(0)
    reviews = rng.sample(imdb.load_split(imdb_dir, "test").texts, args.requests)
    lines = [line.split() for line in (ptb_dir / "ptb.test.txt").read_text().splitlines()]
    sentences = [words for words in lines if len(words) > 4 and words[0] != "<unk>"]
    contexts = [
        " ".join(words[: rng.randint(2, min(20, len(words) - 1))])
        for words in rng.sample(sentences, args.requests)
    ]

    torch.set_num_threads(thread_count())  # the server's rule, so the raw forward runs as the server's does
    sentiment = SentimentRunner(load_artifact(REPO / "artifacts" / "sentiment"), torch.device("cpu"))
    reviews_in = SentimentPredictor(sentiment)
    language = LanguageModelRunner(load_artifact(REPO / "artifacts" / "lm-ptb"), torch.device("cpu"))
    sentiment.warmup()
    language.warmup()
    tasks: dict[str, dict[str, Any]] = {
        "sentiment": {
            "path": "/v1/sentiment",
            "bodies": [{"texts": [review]} for review in reviews],
            "raw": lambda batch: sentiment.forward(
                reviews_in.preprocess(SentimentRequest(texts=batch)).items
            ),
            "payloads": reviews,
        },
        "next-word": {
            "path": "/v1/next-word",
            "bodies": [{"text": context, "top_k": 5} for context in contexts],
            "raw": lambda batch: language.forward(
                [language.next_word_item(language.context(t, "text")) for t in batch]
            ),
            "payloads": contexts,
        },
    }
    systems = list(args.systems)
    if "litserve" in systems and importlib.util.find_spec("litserve") is None:
        print("(d) LitServe is not installed: pip install litserve==0.2.19 to include it")
        systems.remove("litserve")
    print(
        f"{args.requests} requests per cell; CPU threads {torch.get_num_threads()} (raw and rnnserve); "
        "client: asyncio + aiohttp, same machine"
    )
    local = "http://127.0.0.1:{}".format
    tables: dict[str, dict[str, dict[int, Result]]] = {}
    for task in args.tasks:
        spec = tasks[task]
        table = {
            "raw": {
                c: raw_ceiling(spec["raw"], spec["payloads"], c, args.max_batch_size)
                for c in args.concurrency
            }
        }
        for system in systems:
            if system == "floor":
                table["floor"] = served(
                    [sys.executable, "-m", "bench.floor_server"], "/healthz", local, spec, args.concurrency
                )
            elif system == "naive":
                table["naive"] = served(
                    [sys.executable, "-m", "bench.naive_server"], "/healthz", local, spec, args.concurrency
                )
            elif system == "rnnserve":
                with running_server(
                    REPO / "artifacts", extra_env={"RNNSERVE_MAX_BATCH_SIZE": str(args.max_batch_size)}
                ) as server:
                    table["rnnserve"] = http_levels(
                        server.url, server.pid, spec["path"], spec["bodies"], args.concurrency
                    )
            elif system == "litserve":
                command = [
                    sys.executable,
                    "-m",
                    "bench.litserve_server",
                    "--task",
                    task,
                    "--max-batch-size",
                    str(args.max_batch_size),
                ]
                table["litserve"] = served(command, "/health", local, spec, args.concurrency)
        print_table(task, table, args.concurrency)
        tables[task] = table
    if {"floor", "rnnserve"} <= set(systems) and set(args.tasks) == {"sentiment", "next-word"}:
        print_targets(tables, args.concurrency)


if __name__ == "__main__":
    main()
