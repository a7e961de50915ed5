"""Test perplexity of the committed language model on PTB, recomputed from the artifact files alone.

python -m bench.lm_quality [--data ../shared/data/ptb] [--artifact artifacts/lm-ptb]
"""

import argparse
import math
import time
from pathlib import Path

import torch

from bench.common import REPO, data_dir, skip
from models.artifact import load_artifact
from training.corpus import batchify, read_tokens
from training.language_model import EVAL_STREAMS, evaluate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=None, help="folder with ptb.valid.txt and ptb.test.txt")
    parser.add_argument(
        "--artifact", type=Path, default=REPO / "artifacts" / "lm-ptb", help="artifact folder"
    )
    parser.add_argument(
        "--bptt", type=int, default=35, help="window length; the state is carried across windows"
    )
    args = parser.parse_args()
    root = data_dir(args.data, "ptb")
    if root is None:
        skip("PTB is absent: pass --data or set RNNSERVE_DATA_DIR (see README, 'Data')")
    if not (args.artifact / "card.json").is_file():
        skip(f"no language-model artifact at {args.artifact}")
    artifact = load_artifact(args.artifact)
    assert artifact.tokenizer is not None
    vocabulary = artifact.tokenizer.get_vocab()
    size = sum(p.numel() for p in artifact.model.parameters())
    print(f"model {artifact.card.name} version {artifact.card.version}: {size / 1e6:.2f}M parameters, "
          f"{sum(f.stat().st_size for f in args.artifact.iterdir()) / 1e6:.1f} MB on disk")  # fmt: skip
    for split in ("valid", "test"):
        tokens = read_tokens(root / f"ptb.{split}.txt")
        ids = torch.tensor([vocabulary.get(token, vocabulary["<unk>"]) for token in tokens])
        began = time.perf_counter()
        loss = evaluate(artifact.model, batchify(ids, EVAL_STREAMS), args.bptt)  # type: ignore[arg-type]
        print(
            f"PTB {split}: {len(tokens)} tokens, perplexity {math.exp(loss):.2f} "
            f"({time.perf_counter() - began:.1f} s)"
        )
    print(f"card says test perplexity {artifact.card.metrics['test_perplexity']:.2f}")


if __name__ == "__main__":
    main()
