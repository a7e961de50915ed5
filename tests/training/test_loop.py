"""The shared training skeleton: early stopping's state survives a checkpoint; configs come from the command
line."""

import argparse
from pathlib import Path

import torch

from training.early_stopping import EarlyStopping
from training.forecast.config import ForecastRun
from training.loop import RunConfig


def test_early_stopping_keeps_the_best_weights_and_stops_after_patience() -> None:
    model = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2)
    assert stopper.update(1, 1.0, model) and not stopper.should_stop
    best = {key: value.clone() for key, value in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    assert not stopper.update(2, 1.5, model) and not stopper.should_stop
    assert not stopper.update(3, 1.2, model) and stopper.should_stop
    assert stopper.best_epoch == 1 and all(torch.equal(stopper.best_state[key], best[key]) for key in best)


def test_early_stopping_state_round_trips() -> None:
    model = torch.nn.Linear(2, 1)
    first = EarlyStopping(patience=3)
    first.update(1, 0.5, model)
    first.update(2, 0.7, model)
    second = EarlyStopping(patience=3)
    second.load_state_dict(first.state_dict(), first.best_state)
    assert second.state_dict() == {"best_loss": 0.5, "best_epoch": 1, "epochs_without_improvement": 1}
    assert second.update(3, 0.8, model) is False and second.epochs_without_improvement == 2


def test_run_config_takes_its_fields_from_the_arguments_and_records_them() -> None:
    arguments = argparse.Namespace(
        out=Path("out"),
        name="m",
        epochs=3,
        patience=1,
        seed=5,
        device="cpu",
        checkpoint_dir=None,
        unrelated="ignored",
    )
    config = RunConfig.from_arguments(arguments)
    assert config.epochs == 3 and config.record()["out"] == "out" and "unrelated" not in config.record()


def test_forecast_run_fills_what_was_left_unset_from_its_preset() -> None:
    from training.cli import build_parser

    arguments = build_parser().parse_args(["forecast", "--preset", "sine", "--out", "x"])
    config = ForecastRun.from_arguments(arguments)
    assert (config.name, config.context, config.horizon, config.multi_step) == (
        "forecast-sine",
        251,
        1000,
        "recursive",
    )
