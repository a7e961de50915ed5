"""Training throughput at 1 and 2 processes (torchrun, DistributedDataParallel), side by side in one run.

Each trainer trains the real data for a fixed amount of work, once as plain `python -m training`
(one process, torch's threads) and once under `torchrun --nproc-per-node 2` (one thread each, as
the CLI sets under torchrun). Samples per second are the card's `samples_per_second` over the
epochs (reviews, tokens or windows of every rank, divided by the training time of each epoch,
validation excluded); wall seconds include start-up, data loading and the final test.

    python -m bench.distributed [--processes 1 2] [--device cpu]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.common import data_dir, skip

# Enough work per trainer to time steps, not start-up: a share of IMDB and PTB, and generated sine waves.
WORK = {
    "sentiment": (["sentiment", "--limit", "3000", "--epochs", "1", "--batch-size", "64"], "imdb", "reviews"),
    "lm": (["lm", "--limit-tokens", "120000", "--epochs", "1", "--batch-size", "20"], "ptb", "tokens"),
    "forecast": (
        [
            "forecast",
            "--preset",
            "sine",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "60",
            "--batch-size",
            "64",
            "--rollout-start",
            "50",
        ],
        None,
        "windows",
    ),
}


def run(arguments: list[str], processes: int, out: Path) -> tuple[float, float]:
    """Train once; returns (samples per second, wall seconds)."""
    launcher = [sys.executable, "-m", "training"]
    if processes > 1:
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={processes}",
            "-m",
            "training",
        ]
    began = time.perf_counter()
    done = subprocess.run([*launcher, *arguments, "--out", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{arguments[0]} with {processes} processes failed:\n{done.stderr[-3000:]}")
    history = json.loads((out / "card.json").read_text())["training"]["history"]
    rates = history["samples_per_second"]
    return sum(rates) / len(rates), wall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="process counts to compare")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (one GPU per process)")
    args = parser.parse_args()
    roots = {dataset: data_dir(None, dataset) for dataset in ("imdb", "ptb")}
    if not all(roots.values()):
        skip("IMDB and PTB are needed: set RNNSERVE_DATA_DIR (see README, 'Data')")
    print(
        f"device {args.device}; {torch.get_num_threads()} CPU threads for one process, 1 each under torchrun"
    )
    print("| trainer | samples | processes | samples/s | wall s | speed-up |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for trainer, (arguments, dataset, unit) in WORK.items():
            data = ["--data", str(roots[dataset])] if dataset else []
            first_rate = None
            for processes in args.processes:
                out = Path(scratch) / f"{trainer}-{processes}"
                rate, wall = run([*arguments, *data, "--device", args.device], processes, out)
                first_rate = first_rate or rate
                print(
                    f"| {trainer} | {unit} | {processes} | {rate:,.0f} | {wall:.1f} | "
                    f"{rate / first_rate:.2f} |"
                )


if __name__ == "__main__":
    main()
