"""Accuracy of the committed sentiment artifact on the full IMDB test split, through the serving code path.

python bench/sentiment_quality.py [--data ../shared/data/imdb] [--artifact artifacts/sentiment]
"""

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, data_dir, skip  # noqa: E402
from models.artifact import load_artifact  # noqa: E402
from service.predictors.sentiment import SentimentPredictor  # noqa: E402
from training import imdb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="IMDB folder (test.jsonl.gz or the aclImdb tree)")
    parser.add_argument("--artifact", type=Path, default=REPO / "artifacts" / "sentiment", help="artifact folder")
    parser.add_argument("--batch-size", type=int, default=128, help="reviews per forward pass")
    args = parser.parse_args()
    root = data_dir(args.data, "imdb")
    if root is None:
        skip("IMDB is absent: pass --data or set RNNSERVE_DATA_DIR (see README, 'Data')")

    artifact = load_artifact(args.artifact)
    predictor = SentimentPredictor(artifact, torch.device("cpu"))
    test = imdb.load_split(root, "test")
    started = time.perf_counter()
    # Sort by length so batches pad little; the answer per review does not depend on its batch.
    order = sorted(range(len(test.texts)), key=lambda i: len(test.texts[i]))
    correct = truncated = 0
    for start in range(0, len(order), args.batch_size):
        indices = order[start : start + args.batch_size]
        prepared = predictor.preprocess([test.texts[i] for i in indices])
        for index, item, probabilities in zip(indices, prepared, predictor.forward(prepared), strict=True):
            result = predictor.postprocess(item, probabilities)
            correct += int(result["label"] == predictor.labels[test.labels[index]])
            truncated += int(result["truncated"])
    seconds = time.perf_counter() - started
    accuracy = correct / len(order)
    print(f"model {artifact.card.name} version {artifact.card.version} ({args.artifact})")
    print(f"IMDB test: {len(order)} reviews, accuracy {accuracy:.4f} (card says {artifact.card.metrics['test_accuracy']:.4f})")
    print(
        f"truncated to {predictor.max_length} tokens: {truncated} reviews; "
        f"{seconds:.1f} s on {torch.get_num_threads()} CPU threads"
    )


if __name__ == "__main__":
    main()
