"""Throughput and latency under concurrency, side by side in one run, for sentiment and next word:

  (a) raw   the model alone, batched, no HTTP: the ceiling. For concurrency c, requests are taken
            in arrival order in batches of min(c, --max-batch-size) and run through the serving
            predictor's forward (grouped by length as the server does); each request's latency is
            its batch's time.
  (b) naive FastAPI doing one forward per request (bench/naive_server.py)
  (c) rnnserve as shipped (python -m service)
  (d) LitServe with its batching on the same predictors (bench/litserve_server.py), if installed

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

from bench.common import REPO, data_dir, free_port, percentile, run_load, running_process, running_server, skip
from models.artifact import load_artifact
from service.predictors.language_model import LanguageModelRunner
from service.predictors.sentiment import SentimentPredictor, SentimentRunner
from service.schemas.sentiment import SentimentRequest
from training import imdb

Result = tuple[float, float, float]  # p50 ms, p99 ms, requests per second


def raw_ceiling(run_batch: Callable[[list[Any]], None], payloads: list[Any], concurrency: int, max_batch: int) -> Result:
    size = min(concurrency, max_batch)
    latencies: list[float] = []
    total = 0.0
    for start in range(0, len(payloads), size):
        batch = payloads[start : start + size]
        began = time.perf_counter()
        run_batch(batch)
        elapsed = time.perf_counter() - began
        total += elapsed
        latencies.extend([elapsed * 1000] * len(batch))
    return percentile(latencies, 50), percentile(latencies, 99), len(payloads) / total


def http_levels(url: str, path: str, bodies: list[dict[str, object]], levels: list[int]) -> dict[int, Result]:
    results = {}
    for concurrency in levels:
        latencies, seconds = asyncio.run(run_load(url, path, bodies, concurrency))
        results[concurrency] = (percentile(latencies, 50), percentile(latencies, 99), len(latencies) / seconds)
    return results


def print_table(task: str, table: dict[str, dict[int, Result]], levels: list[int]) -> None:
    print(f"\n{task}: p50 ms / p99 ms / requests per second")
    print(f"{'system':10}" + "".join(f"{'c=' + str(c):>26}" for c in levels))
    for system, results in table.items():
        cells = "".join(f"{results[c][0]:9.1f} {results[c][1]:7.1f} {results[c][2]:8.1f}" for c in levels)
        print(f"{system:10}{cells}")
    ours = table["rnnserve"]
    for other in [name for name in table if name != "rnnserve"]:
        ratios = "  ".join(f"c={c}: {ours[c][2] / table[other][c][2]:.2f}" for c in levels)
        print(f"throughput rnnserve / {other:8} {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=256, help="requests per system and concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64], help="concurrency levels")
    parser.add_argument("--max-batch-size", type=int, default=32, help="batch size for (a), (c) and (d)")
    args = parser.parse_args()
    imdb_dir, ptb_dir = data_dir(None, "imdb"), data_dir(None, "ptb")
    if imdb_dir is None or ptb_dir is None:
        skip("IMDB and PTB are needed: set RNNSERVE_DATA_DIR (see README, 'Data')")
    rng = random.Random(0)
    reviews = rng.sample(imdb.load_split(imdb_dir, "test").texts, args.requests)
    lines = [line.split() for line in (ptb_dir / "ptb.test.txt").read_text().splitlines()]
    sentences = [words for words in lines if len(words) > 4 and words[0] != "<unk>"]
    contexts = [" ".join(words[: rng.randint(2, min(20, len(words) - 1))]) for words in rng.sample(sentences, args.requests)]

    sentiment = SentimentRunner(load_artifact(REPO / "artifacts" / "sentiment"), torch.device("cpu"))
    reviews_in = SentimentPredictor(sentiment)
    language = LanguageModelRunner(load_artifact(REPO / "artifacts" / "lm-ptb"), torch.device("cpu"))
    sentiment.warmup()
    language.warmup()
    tasks: dict[str, dict[str, Any]] = {
        "sentiment": {
            "path": "/v1/sentiment",
            "bodies": [{"texts": [review]} for review in reviews],
            "raw": lambda batch: sentiment.forward(reviews_in.preprocess(SentimentRequest(texts=batch)).items),
            "payloads": reviews,
        },
        "next-word": {
            "path": "/v1/next-word",
            "bodies": [{"text": context, "top_k": 5} for context in contexts],
            "raw": lambda batch: language.forward([language.next_word_item(language.context(t, "text")) for t in batch]),
            "payloads": contexts,
        },
    }
    has_litserve = importlib.util.find_spec("litserve") is not None
    print(f"{args.requests} requests per cell; CPU threads {torch.get_num_threads()}; client: asyncio + aiohttp, same machine")
    for task, spec in tasks.items():
        table: dict[str, dict[int, Result]] = {
            "raw": {c: raw_ceiling(spec["raw"], spec["payloads"], c, args.max_batch_size) for c in args.concurrency}
        }
        port = free_port()
        with running_process(
            [sys.executable, "-m", "bench.naive_server", "--port", str(port)], f"http://127.0.0.1:{port}/healthz"
        ):
            table["naive"] = http_levels(f"http://127.0.0.1:{port}", spec["path"], spec["bodies"], args.concurrency)
        with running_server(REPO / "artifacts", extra_env={"RNNSERVE_MAX_BATCH_SIZE": str(args.max_batch_size)}) as server:
            table["rnnserve"] = http_levels(server.url, spec["path"], spec["bodies"], args.concurrency)
        if has_litserve:
            port = free_port()
            command = [sys.executable, "-m", "bench.litserve_server", "--task", task, "--port", str(port),
                       "--max-batch-size", str(args.max_batch_size)]  # fmt: skip
            with running_process(command, f"http://127.0.0.1:{port}/health"):
                table["litserve"] = http_levels(f"http://127.0.0.1:{port}", spec["path"], spec["bodies"], args.concurrency)
        else:
            print("(d) LitServe is not installed: pip install litserve==0.2.19 to include it")
        print_table(task, table, args.concurrency)


if __name__ == "__main__":
    main()
