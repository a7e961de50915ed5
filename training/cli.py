"""`python -m training <task> ...`: train a model and write its artifact folder."""

import argparse
import os

import torch

from models.artifact import ModelCard
from models.threads import thread_count
from training import golden, language_model, sentiment
from training.forecast import config as forecast_config
from training.forecast import train as forecast_train
from training.loop import train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training", description="Train rnnserve models into artifact folders."
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("RNNSERVE_THREADS", "0")),
        help="CPU threads for torch (default RNNSERVE_THREADS, else 0: half the usable CPUs per local "
        "process)",
    )
    tasks = parser.add_subparsers(dest="task", required=True)
    sentiment_parser = tasks.add_parser("sentiment", help="IMDB sentiment classifier (LSTM)")
    sentiment.add_arguments(sentiment_parser)
    sentiment_parser.set_defaults(trainer_from=sentiment.trainer_from)
    lm_parser = tasks.add_parser("lm", help="word-level RNN language model (PTB, WikiText-2)")
    language_model.add_arguments(lm_parser)
    lm_parser.set_defaults(trainer_from=language_model.trainer_from)
    forecast_parser = tasks.add_parser(
        "forecast", help="LSTM time-series forecaster (classic series, stocks, sine)"
    )
    forecast_config.add_arguments(forecast_parser)
    forecast_parser.set_defaults(trainer_from=forecast_train.trainer_from)
    golden_parser = tasks.add_parser(
        "golden", help="write golden.json into an artifact trained before training wrote one"
    )
    golden.add_arguments(golden_parser)
    golden_parser.set_defaults(command=golden.write_golden)
    return parser


def main(argv: list[str] | None = None) -> ModelCard | None:
    """Train and write the artifact; returns its card (None on the ranks other than 0 under torchrun)."""
    arguments = build_parser().parse_args(argv)
    torch.set_num_threads(thread_count(arguments.threads))  # the service's rule: models/threads.py
    try:
        if arguments.task == "golden":
            arguments.command(arguments)
            return None
        return train(arguments.trainer_from(arguments))
    except FileNotFoundError as error:  # a dataset that is not there: one line, and where to get it
        raise SystemExit(
            f"error: {error}. See README.md, 'Data and retraining', for where to get the data."
        ) from None
