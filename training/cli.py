"""`python -m training <task> ...`: train a model and write its artifact folder."""

import argparse

import torch

from training import forecast, language_model, sentiment


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description="Train rnnserve models into artifact folders.")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    tasks = parser.add_subparsers(dest="task", required=True)
    sentiment_parser = tasks.add_parser("sentiment", help="IMDB sentiment classifier (LSTM)")
    sentiment.add_arguments(sentiment_parser)
    sentiment_parser.set_defaults(func=sentiment.train)
    lm_parser = tasks.add_parser("lm", help="word-level RNN language model (PTB, WikiText-2)")
    language_model.add_arguments(lm_parser)
    lm_parser.set_defaults(func=language_model.train)
    forecast_parser = tasks.add_parser("forecast", help="LSTM time-series forecaster (classic series, stocks, sine)")
    forecast.add_arguments(forecast_parser)
    forecast_parser.set_defaults(func=forecast.train)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.func(args)
