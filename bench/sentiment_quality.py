"""Accuracy of the committed sentiment artifact on the full IMDB test split, through the serving code path.

python -m bench.sentiment_quality [--data ../shared/data/imdb] [--artifact artifacts/sentiment]
"""

import argparse
import time
from pathlib import Path

import torch

from bench.common import REPO, data_dir, skip
from models.artifact import load_artifact
from service.schemas.sentiment import MAX_TEXTS, SentimentRequest
from service.tasks.sentiment import SentimentPredictor, SentimentRunner
from training import imdb


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="IMDB folder (test.jsonl.gz or the aclImdb tree)"
    )
    parser.add_argument(
        "--artifact", type=Path, default=REPO / "artifacts" / "sentiment", help="artifact folder"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=MAX_TEXTS,
        help=f"reviews per request and forward pass (at most {MAX_TEXTS})",
    )
    args = parser.parse_args()
    root = data_dir(args.data, "imdb")
    if root is None:
        skip("IMDB is absent: pass --data or set RNNSERVE_DATA_DIR (see README, 'Data')")

    artifact = load_artifact(args.artifact)
    runner = SentimentRunner(artifact, torch.device("cpu"))
    predictor = SentimentPredictor(runner)
    test = imdb.load_split(root, "test")
    started = time.perf_counter()
    # Sort by length so batches pad little; the answer per review does not depend on its batch.
    order = sorted(range(len(test.texts)), key=lambda i: len(test.texts[i]))
    correct = truncated = 0
    for start in range(0, len(order), args.batch_size):
        indices = order[start : start + args.batch_size]
        request = SentimentRequest(texts=[test.texts[i] for i in indices])
        prepared = predictor.preprocess(request)
        response = predictor.postprocess(request, prepared, runner.forward(prepared.items))
        for index, result in zip(indices, response.results, strict=True):
            correct += int(result.label == runner.io.labels[test.labels[index]])
            truncated += int(result.truncated)
    seconds = time.perf_counter() - started
    accuracy = correct / len(order)
    print(f"model {artifact.card.name} version {artifact.card.version} ({args.artifact})")
    print(
        f"IMDB test: {len(order)} reviews, accuracy {accuracy:.4f} (card says "
        f"{artifact.card.metrics['test_accuracy']:.4f})"
    )
    print(
        f"truncated to {runner.io.max_length} tokens: {truncated} reviews; "
        f"{seconds:.1f} s on {torch.get_num_threads()} CPU threads"
    )


if __name__ == "__main__":
    main()
