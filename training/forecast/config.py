"""What a forecast run reads and how: the presets (typed), the command-line flags, and the run's config.

Presets name what is read and the defaults that suit it:
- `univariate`: the four classic series in a folder (airline, sunspots, min temperatures,
  births), one direct multi-horizon model for single series of any kind;
- `stocks`: every ticker CSV in a folder, Open/High/Low/Close/Volume in, the next closes out;
- `sine`: the seed's generated waves, a recursive model trained on its own rollouts;
- `csv`: one CSV file of your own (`--columns`, `--target`, `--test-length`, `--season`).
"""

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

from models.card_io import ForecastMethod
from models.forecaster import MultiStep, Network
from training.forecast import data as forecast_data
from training.forecast.data import SeriesSet
from training.loop import RunConfig, RunDefaults


@dataclass(frozen=True, kw_only=True)
class Preset:
    """A preset's defaults and fixed choices."""

    context: int  # input rows per forecast
    horizon: int  # most steps forecast
    multi_step: MultiStep
    loss: Literal["l1", "mse"]  # taken in each window's normalized units
    eval_stride: int  # between validation and calibration origins (recursive rollouts are long: spaced out)
    synthetic: float  # share of synthetic training windows
    license: str  # of the data
    # The shortest history served (None: the context); shorter ones are padded back by their season
    # (forecasting.season.last_window), at training as at serving.
    min_history: int | None = None
    methods: tuple[ForecastMethod, ...] = ("network",)  # what may answer a request: the card's io.methods


PRESETS: dict[str, Preset] = {
    "univariate": Preset(
        context=96,
        horizon=30,
        multi_step="direct",
        loss="l1",
        eval_stride=1,
        synthetic=0.8,
        min_history=16,
        methods=("network", "seasonal_naive", "ets", "theta", "combination"),
        license="Time Series Data Library series (Hyndman) via jbrownlee/Datasets: no license stated",
    ),
    "stocks": Preset(
        context=30,
        horizon=5,
        multi_step="direct",
        loss="l1",
        eval_stride=1,
        synthetic=0.0,
        license="Yahoo! Finance daily prices via backtrader / backtesting.py sample data: no license stated",
    ),
    "csv": Preset(
        context=48,
        horizon=24,
        multi_step="direct",
        loss="l1",
        eval_stride=1,
        synthetic=0.0,
        license="as the user's data",
    ),
    # 251 steps is two periods of sin(t / 20) (2 x 40 pi): each window's mean and spread then do not
    # depend on where in the wave it starts, so the normalized input is always the same unit sine.
    "sine": Preset(
        context=251,
        horizon=1000,
        multi_step="recursive",
        loss="mse",
        eval_stride=60,
        synthetic=0.0,
        license="generated (no data license)",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), required=True, help="what to read and its defaults"
    )
    parser.add_argument(
        "--data", type=Path, help="folder (univariate, stocks) or CSV file (csv); unused for sine"
    )
    RunConfig.add_arguments(parser, RunDefaults(name=None, epochs=30, patience=5, seed=7))
    parser.add_argument("--columns", help="csv: comma-separated value columns (default: all but the date)")
    parser.add_argument("--target", help="csv: the column to forecast (default: the last one)")
    parser.add_argument("--test-length", type=int, default=24, help="csv: rows held out at the end")
    parser.add_argument(
        "--season", type=int, default=1, help="csv: season length for seasonal naive (1: none)"
    )
    parser.add_argument("--context", type=int, help="input rows per forecast (preset default)")
    parser.add_argument("--horizon", type=int, help="most steps forecast (preset default)")
    parser.add_argument(
        "--multi-step", choices=["direct", "recursive"], help="direct head or fed-back rollout"
    )
    parser.add_argument(
        "--arch",
        choices=["head", "seq2seq"],
        default="head",
        help="head: an LSTM and a linear head (direct or recursive); seq2seq: an encoder-decoder LSTM whose "
        "decoder emits the horizon step by step (default head)",
    )
    parser.add_argument(
        "--attention", action="store_true", help="seq2seq: the decoder attends over the encoder's outputs"
    )
    parser.add_argument("--hidden-size", type=int, default=64, help="LSTM units per layer")
    parser.add_argument("--num-layers", type=int, default=2, help="stacked LSTM layers")
    parser.add_argument("--dropout", type=float, default=0.1, help="dropout between LSTM layers")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per step")
    parser.add_argument("--steps-per-epoch", type=int, default=200, help="training steps per epoch")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient norm clipping")
    parser.add_argument(
        "--rollout-start",
        type=int,
        default=50,
        help="recursive: free-running steps trained in epoch 1, growing each epoch",
    )
    parser.add_argument(
        "--rollout-max", type=int, default=400, help="recursive: most free-running steps trained"
    )
    parser.add_argument(
        "--synthetic-share",
        type=float,
        default=None,
        help="share of training windows drawn from synthetic seasonal series",
    )
    parser.add_argument(
        "--init-weights",
        type=Path,
        default=None,
        help="start from these weights (a same-shaped artifact's weights.safetensors)",
    )


@dataclass(frozen=True, kw_only=True)
class ForecastRun(RunConfig):
    preset: str
    data: Path | None
    columns: str | None
    target: str | None
    test_length: int
    season: int
    context: int
    horizon: int
    multi_step: MultiStep
    arch: Network
    attention: bool
    hidden_size: int
    num_layers: int
    dropout: float
    batch_size: int
    steps_per_epoch: int
    lr: float
    clip: float
    rollout_start: int
    rollout_max: int
    synthetic_share: float
    init_weights: Path | None

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace) -> Self:
        """Fill what was left unset from the preset, so the card records what actually ran."""
        preset = PRESETS[arguments.preset]
        resolved = argparse.Namespace(**vars(arguments))
        resolved.context = arguments.context or preset.context
        resolved.horizon = arguments.horizon or preset.horizon
        resolved.multi_step = arguments.multi_step or preset.multi_step
        if arguments.arch == "seq2seq" and resolved.multi_step != "direct":
            raise SystemExit("--arch seq2seq decodes whole horizons: it needs --multi-step direct")
        resolved.name = arguments.name or f"forecast-{arguments.preset}"
        resolved.synthetic_share = (
            preset.synthetic if arguments.synthetic_share is None else arguments.synthetic_share
        )
        return super().from_arguments(resolved)

    @property
    def recursive(self) -> bool:
        return self.multi_step == "recursive"

    @property
    def preset_defaults(self) -> Preset:
        return PRESETS[self.preset]


def load_series(config: ForecastRun) -> SeriesSet:
    if config.preset == "sine":
        return forecast_data.load_sine(seed=config.seed)
    if config.data is None:
        raise SystemExit(f"--data is required for the {config.preset} preset")
    if config.preset == "univariate":
        return forecast_data.load_univariate(config.data)
    if config.preset == "stocks":
        return forecast_data.load_stocks(config.data)
    columns = config.columns.split(",") if config.columns else None
    return forecast_data.load_csv(config.data, columns, config.target, config.test_length, config.season)
