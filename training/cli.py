"""`python -m training <task> ...`: train a model and write its artifact folder."""

import argparse
import os

import torch

from models.artifact import ModelCard
from training import distributed, forecast, language_model, sentiment
from training.loop import train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description="Train rnnserve models into artifact folders.")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    tasks = parser.add_subparsers(dest="task", required=True)
    sentiment_parser = tasks.add_parser("sentiment", help="IMDB sentiment classifier (LSTM)")
    sentiment.add_arguments(sentiment_parser)
    sentiment_parser.set_defaults(trainer_from=sentiment.trainer_from)
    lm_parser = tasks.add_parser("lm", help="word-level RNN language model (PTB, WikiText-2)")
    language_model.add_arguments(lm_parser)
    lm_parser.set_defaults(trainer_from=language_model.trainer_from)
    forecast_parser = tasks.add_parser("forecast", help="LSTM time-series forecaster (classic series, stocks, sine)")
    forecast.add_arguments(forecast_parser)
    forecast_parser.set_defaults(trainer_from=forecast.trainer_from)
    return parser


def main(argv: list[str] | None = None) -> ModelCard | None:
    """Train and write the artifact; returns its card (None on the ranks other than 0 under torchrun)."""
    arguments = build_parser().parse_args(argv)
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    elif distributed.launched_by_torchrun():
        # torchrun starts several processes per node: by default each would take every core.
        torch.set_num_threads(distributed.threads_per_process(len(os.sched_getaffinity(0))))
    return train(arguments.trainer_from(arguments))
