"""Sentiment latency against a running server, next to the raw model's forward time on the same reviews.

Starts rnnserve on a loopback port with the committed artifacts (or uses --url), then:
  * p50/p99 of one-review requests at concurrency 1,
  * throughput (reviews/s) and p50/p99 at concurrency 16,
  * the raw forward pass (no HTTP, no queue) on the same reviews: one at a time, and in batches of 16.
Requests are bounded in number; traffic goes to loopback only.

    python bench/sentiment_latency.py [--data ../shared/data/imdb] [--requests 300]
"""

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import HEADER, REPO, data_dir, percentile, row, run_load, running_server, skip  # noqa: E402
from models.artifact import load_artifact  # noqa: E402
from service.predictors.sentiment import SentimentPredictor  # noqa: E402
from training import imdb  # noqa: E402


def raw_forward_ms(predictor: SentimentPredictor, reviews: list[str], batch_size: int) -> list[float]:
    """Milliseconds per forward pass (tokenizing included, as the server does), batches of `batch_size`."""
    timings = []
    for start in range(0, len(reviews), batch_size):
        began = time.perf_counter()
        predictor.forward(predictor.preprocess(reviews[start : start + batch_size]))
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="IMDB folder; reviews are drawn from its test split")
    parser.add_argument("--url", default=None, help="a running server; by default one is started on loopback")
    parser.add_argument("--requests", type=int, default=300, help="requests per concurrency level (bounded)")
    parser.add_argument("--seed", type=int, default=0, help="which reviews are drawn")
    args = parser.parse_args()
    root = data_dir(args.data, "imdb")
    if root is None:
        skip("IMDB is absent: pass --data or set RNNSERVE_DATA_DIR (see README, 'Data')")
    reviews = random.Random(args.seed).sample(imdb.load_split(root, "test").texts, args.requests)

    predictor = SentimentPredictor(load_artifact(REPO / "artifacts" / "sentiment"), torch.device("cpu"))
    predictor.warmup()
    single = raw_forward_ms(predictor, reviews, 1)
    batched = raw_forward_ms(predictor, reviews, 16)

    async def measure(url: str) -> None:
        bodies: list[dict[str, object]] = [{"texts": [review]} for review in reviews]
        serial, _ = await run_load(url, "/v1/sentiment", bodies, 1)
        concurrent, seconds = await run_load(url, "/v1/sentiment", bodies, 16)
        words = sum(len(r.split()) for r in reviews) / len(reviews)
        print(f"{len(reviews)} IMDB reviews, mean {words:.0f} words; threads {torch.get_num_threads()}; per sec = reviews/s")
        print(HEADER)
        print(row("raw forward, one review", single, 1000 * len(single) / sum(single)))
        print(row("raw forward, batches of 16 (per batch)", batched, 1000 * len(reviews) / sum(batched)))
        print(row("rnnserve HTTP, concurrency 1", serial, 1000 * len(serial) / sum(serial)))
        print(row("rnnserve HTTP, concurrency 16", concurrent, len(concurrent) / seconds))
        print(f"HTTP overhead at concurrency 1 (p50): {percentile(serial, 50) - percentile(single, 50):.2f} ms")

    if args.url:
        asyncio.run(measure(args.url))
    else:
        with running_server(REPO / "artifacts") as server:
            asyncio.run(measure(server.url))


if __name__ == "__main__":
    main()
