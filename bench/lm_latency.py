"""Next-word latency against a running server, next to the raw forward time on the same contexts.

Contexts are the opening words of PTB test sentences (or fixed phrases where PTB is absent).
Requests are bounded in number and go to loopback only.

    python bench/lm_latency.py [--data ../shared/data/ptb] [--requests 500]
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
from service.predictors.language_model import LanguageModelPredictor  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="PTB folder; contexts come from ptb.test.txt")
    parser.add_argument("--url", default=None, help="a running server; by default one is started on loopback")
    parser.add_argument("--requests", type=int, default=500, help="requests per concurrency level (bounded)")
    args = parser.parse_args()
    artifact_dir = REPO / "artifacts" / "lm-ptb"
    if not (artifact_dir / "card.json").is_file():
        skip(f"no language-model artifact at {artifact_dir}")
    root = data_dir(args.data, "ptb")
    rng = random.Random(0)
    if root is not None:
        # Sentences that open with a known word, so no context is refused as all-unknown.
        lines = (root / "ptb.test.txt").read_text().splitlines()
        sentences = [line.split() for line in lines if len(line.split()) > 4 and line.split()[0] != "<unk>"]
        contexts = [" ".join(words[: rng.randint(2, min(20, len(words) - 1))]) for words in rng.sample(sentences, args.requests)]
    else:
        contexts = [rng.choice(["the new york stock", "the company said it", "mr. smith said the"]) for _ in range(args.requests)]

    predictor = LanguageModelPredictor(load_artifact(artifact_dir), torch.device("cpu"))
    predictor.warmup()
    raw = []
    for text in contexts:
        began = time.perf_counter()
        predictor.forward([predictor.next_word_item(predictor.context(text, "text"))])
        raw.append((time.perf_counter() - began) * 1000)

    async def measure(url: str) -> None:
        bodies: list[dict[str, object]] = [{"text": text, "top_k": 5} for text in contexts]
        serial, _ = await run_load(url, "/v1/next-word", bodies, 1)
        concurrent, seconds = await run_load(url, "/v1/next-word", bodies, 16)
        words = sum(len(text.split()) for text in contexts) / len(contexts)
        print(f"{len(contexts)} contexts, mean {words:.1f} words; CPU threads {torch.get_num_threads()}; per sec = requests/s")
        print(HEADER)
        print(row("raw forward, one context", raw, 1000 * len(raw) / sum(raw)))
        print(row("rnnserve HTTP next-word, concurrency 1", serial, 1000 * len(serial) / sum(serial)))
        print(row("rnnserve HTTP next-word, concurrency 16", concurrent, len(concurrent) / seconds))
        print(f"HTTP overhead at concurrency 1 (p50): {percentile(serial, 50) - percentile(raw, 50):.2f} ms")

    if args.url:
        asyncio.run(measure(args.url))
    else:
        with running_server(REPO / "artifacts") as server:
            asyncio.run(measure(server.url))


if __name__ == "__main__":
    main()
