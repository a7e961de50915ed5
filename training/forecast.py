"""Train an LSTM forecaster (`python -m training forecast`) and write its artifact.

Presets name what is read and the defaults that suit it:
- `univariate`: the four classic series in a folder (airline, sunspots, min temperatures,
  births), one direct multi-horizon model for single series of any kind;
- `stocks`: every ticker CSV in a folder, Open/High/Low/Close/Volume in, the next closes out;
- `sine`: the seed's generated waves, a recursive model trained on its own rollouts;
- `csv`: one CSV file of your own (`--columns`, `--target`, `--test-length`, `--season`).

Loss is taken in each window's normalized units, so series of different levels weigh alike;
each training batch draws its windows from the series in equal shares.
"""

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from tqdm import tqdm

from models import architectures
from models.artifact import FORMAT_VERSION, ModelCard, write_artifact
from models.forecaster import Forecaster, ForecasterConfig, normalize_window
from training import forecast_data
from training.checkpoint import resume, save_epoch
from training.conformal import DEFAULT_QUANTILES, conformal_offsets
from training.early_stopping import EarlyStopping
from training.forecast_data import SeriesSet, part_windows
from training.forecast_eval import calibration_residuals, evaluate, format_rows
from training.plots import forecast_png, loss_curves_png
from training.provenance import now_iso, pick_device, seed_everything, training_record, weights_version

# Per preset: context length, most horizon, multi-step mode, loss, and the stride between
# validation and calibration origins (recursive rollouts are long, so those are spaced out).
PRESETS: dict[str, dict[str, Any]] = {
    "univariate": {"context": 48, "horizon": 30, "multi_step": "direct", "loss": "l1", "eval_stride": 1, "synthetic": 0.5},
    "stocks": {"context": 30, "horizon": 5, "multi_step": "direct", "loss": "l1", "eval_stride": 1, "synthetic": 0.0},
    "csv": {"context": 48, "horizon": 24, "multi_step": "direct", "loss": "l1", "eval_stride": 1, "synthetic": 0.0},
    # 251 steps is two periods of sin(t / 20) (2 x 40 pi): each window's mean and spread then do not
    # depend on where in the wave it starts, so the normalized input is always the same unit sine.
    "sine": {"context": 251, "horizon": 1000, "multi_step": "recursive", "loss": "mse", "eval_stride": 60, "synthetic": 0.0},
}
LICENSES = {
    "univariate": "Time Series Data Library series (Hyndman) via jbrownlee/Datasets: no license stated",
    "stocks": "Yahoo! Finance daily prices via backtrader / backtesting.py sample data: no license stated",
    "csv": "as the user's data",
    "sine": "generated (no data license)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(PRESETS), required=True, help="what to read and its defaults")
    parser.add_argument("--data", type=Path, help="folder (univariate, stocks) or CSV file (csv); unused for sine")
    parser.add_argument("--out", type=Path, required=True, help="artifact folder to write (replaced atomically)")
    parser.add_argument("--name", help="model name recorded in the card (default: forecast-<preset>)")
    parser.add_argument("--columns", help="csv: comma-separated value columns (default: all but the date)")
    parser.add_argument("--target", help="csv: the column to forecast (default: the last one)")
    parser.add_argument("--test-length", type=int, default=24, help="csv: rows held out at the end")
    parser.add_argument("--season", type=int, default=1, help="csv: season length for seasonal naive (1: none)")
    parser.add_argument("--context", type=int, help="input rows per forecast (preset default)")
    parser.add_argument("--horizon", type=int, help="most steps forecast (preset default)")
    parser.add_argument("--multi-step", choices=["direct", "recursive"], help="direct head or fed-back rollout")
    parser.add_argument("--hidden-size", type=int, default=64, help="LSTM units per layer")
    parser.add_argument("--num-layers", type=int, default=2, help="stacked LSTM layers")
    parser.add_argument("--dropout", type=float, default=0.1, help="dropout between LSTM layers")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per step")
    parser.add_argument("--steps-per-epoch", type=int, default=200, help="training steps per epoch")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient norm clipping")
    parser.add_argument("--epochs", type=int, default=30, help="most epochs to run")
    parser.add_argument("--patience", type=int, default=5, help="epochs without validation improvement before stopping")
    parser.add_argument(
        "--rollout-start", type=int, default=50, help="recursive: free-running steps trained in epoch 1, growing each epoch"
    )
    parser.add_argument("--rollout-max", type=int, default=400, help="recursive: most free-running steps trained")
    parser.add_argument(
        "--synthetic-share", type=float, default=None, help="share of training windows drawn from synthetic seasonal series"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed for init, sampling and the sine waves")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help="resume from / save to this folder each epoch")
    parser.add_argument(
        "--init-weights", type=Path, default=None, help="start from these weights (a same-shaped artifact's weights.safetensors)"
    )


def load_series(args: argparse.Namespace) -> SeriesSet:
    if args.preset == "sine":
        return forecast_data.load_sine(seed=args.seed)
    if args.data is None:
        raise SystemExit(f"--data is required for the {args.preset} preset")
    if args.preset == "univariate":
        return forecast_data.load_univariate(args.data)
    if args.preset == "stocks":
        return forecast_data.load_stocks(args.data)
    columns = args.columns.split(",") if args.columns else None
    return forecast_data.load_csv(args.data, columns, args.target, args.test_length, args.season)


def resolve_preset(args: argparse.Namespace) -> None:
    """Fill the arguments left unset from the preset, so the card records what actually ran."""
    preset = PRESETS[args.preset]
    args.context = args.context or preset["context"]
    args.horizon = args.horizon or preset["horizon"]
    args.multi_step = args.multi_step or preset["multi_step"]
    args.name = args.name or f"forecast-{args.preset}"
    args.synthetic_share = preset["synthetic"] if args.synthetic_share is None else args.synthetic_share


def normalized_pair(
    contexts: torch.Tensor, targets: torch.Tensor, min_scale: torch.Tensor, target_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalize windows (B, T, F) and express targets (B, H) in the target feature's window units."""
    normalized, center, scale = normalize_window(contexts, min_scale)
    column = slice(target_index, target_index + 1)
    return normalized, (targets - center[:, column]) / scale[:, column]


def loss_function(kind: str) -> torch.nn.Module:
    return torch.nn.L1Loss() if kind == "l1" else torch.nn.MSELoss()


class WindowSampler:
    """Training batches drawn from every series in equal shares (the short series count as much as the long),
    plus, for one-feature models, a share of windows cut from fresh synthetic seasonal series."""

    def __init__(
        self, series_set: SeriesSet, context: int, horizon: int, rng: np.random.Generator, synthetic_share: float = 0.0
    ) -> None:
        self.pools = [(contexts, targets) for _, contexts, targets in part_windows(series_set, "train", context, horizon)]
        if not self.pools:
            raise ValueError(f"no training window of context {context} and horizon {horizon} fits in any series")
        self.context, self.horizon = context, horizon
        self.synthetic_share = synthetic_share
        self.rng = rng

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        synthetic = int(self.rng.binomial(size, self.synthetic_share))
        picks = self.rng.integers(len(self.pools), size=size - synthetic)
        contexts, targets = [], []
        for pool_index in picks:
            pool_contexts, pool_targets = self.pools[pool_index]
            row = self.rng.integers(len(pool_contexts))
            contexts.append(pool_contexts[row])
            targets.append(pool_targets[row])
        if synthetic:
            series = forecast_data.synthetic_series(self.rng, synthetic, self.context + self.horizon)  # (n, T + H)
            contexts.extend(series[:, : self.context, None])
            targets.extend(series[:, self.context :])
        return torch.from_numpy(np.stack(contexts)), torch.from_numpy(np.stack(targets))


def validation_loss(
    model: Forecaster,
    series_set: SeriesSet,
    args: argparse.Namespace,
    horizon: int,
    min_scale: torch.Tensor,
    loss: Any,
    device: torch.device,
) -> float:
    """Mean over series of the mean loss on their validation windows."""
    model.eval()
    per_series = []
    with torch.inference_mode():
        stride = PRESETS[args.preset]["eval_stride"]
        for series, contexts, targets in part_windows(series_set, "validation", args.context, horizon, stride):
            x, y = normalized_pair(
                torch.from_numpy(contexts).to(device), torch.from_numpy(targets).to(device), min_scale, series.target_index
            )
            chunks = [(x[i : i + 512], y[i : i + 512]) for i in range(0, len(x), 512)]
            total = sum(float(loss(model(xc, horizon), yc)) * len(xc) for xc, yc in chunks)
            per_series.append(total / len(x))
    if not per_series:
        raise ValueError("no validation window fits; use longer series or a shorter context/horizon")
    return float(np.mean(per_series))


def train(args: argparse.Namespace) -> ModelCard:
    resolve_preset(args)
    seed_everything(args.seed)
    device = pick_device(args.device)
    started = time.time()
    series_set = load_series(args)
    preset = PRESETS[args.preset]
    recursive = args.multi_step == "recursive"
    first = series_set.series[0]
    features, target = first.features, first.target
    if args.synthetic_share and len(features) != 1:
        raise SystemExit("--synthetic-share needs a one-feature series: the synthetic series have no covariates")
    min_scale_values = forecast_data.fitted_min_scale(series_set, args.context)
    min_scale = torch.tensor(min_scale_values, dtype=torch.float32)
    print(
        f"{args.preset}: {len(series_set.series)} series, features {features}, target {target}, "
        f"context {args.context}, horizon {args.horizon} ({args.multi_step}), device {device}"
    )

    config = ForecasterConfig(
        input_size=len(features),
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        multi_step=args.multi_step,
        max_horizon=args.horizon,
        target_index=features.index(target),
        dropout=args.dropout,
    )
    model = Forecaster(config)
    if args.init_weights:
        # A warm start, e.g. longer rollouts at a lower rate after a first run; the card records the file.
        model.load_state_dict(load_file(str(args.init_weights)), strict=True)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    stopper = EarlyStopping(args.patience)
    history: dict[str, list[float]] = {"train_loss": [], "validation_loss": []}
    history, first_epoch, seconds_before = resume(args.checkpoint_dir, model, optimizer, stopper, history)
    loss = loss_function(preset["loss"])
    rng = np.random.default_rng(args.seed + first_epoch)
    # Recursive models validate on the longest rollout they train on, so epochs compare alike.
    validation_horizon = min(args.rollout_max, args.horizon) if recursive else args.horizon

    stop = stopper.epochs_without_improvement >= args.patience
    sampler: WindowSampler | None = None
    for epoch in range(first_epoch, args.epochs + 1):
        if stop:
            break
        horizon = min(args.rollout_max, args.rollout_start * epoch, args.horizon) if recursive else args.horizon
        if sampler is None or horizon != sampler.horizon:  # windows are cut again only when the rollout grows
            sampler = WindowSampler(series_set, args.context, horizon, rng, args.synthetic_share)
        model.train()
        total = 0.0
        progress = tqdm(range(args.steps_per_epoch), desc=f"epoch {epoch}", leave=False, mininterval=5)
        for _ in progress:
            contexts, targets = sampler.batch(args.batch_size)
            x, y = normalized_pair(contexts.to(device), targets.to(device), min_scale.to(device), config.target_index)
            batch_loss = loss(model(x, horizon), y)
            optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            total += batch_loss.item()
            progress.set_postfix(loss=f"{batch_loss.item():.4f}")
        validation = validation_loss(model, series_set, args, validation_horizon, min_scale.to(device), loss, device)
        history["train_loss"].append(total / args.steps_per_epoch)
        history["validation_loss"].append(validation)
        stop = stopper.update(epoch, validation, model)
        print(
            f"epoch {epoch}: train {history['train_loss'][-1]:.4f} (horizon {horizon}) | validation {validation:.4f} "
            f"| best epoch {stopper.best_epoch} | {time.time() - started:.0f}s"
        )
        save_epoch(args.checkpoint_dir, epoch, model, optimizer, stopper, history, seconds_before + time.time() - started)

    model.load_state_dict(stopper.best_state)
    model.cpu().eval()
    residuals = calibration_residuals(model, series_set, args.context, args.horizon, min_scale_values, preset["eval_stride"])
    io = {
        "features": features,
        "target": target,
        "context_length": args.context,
        "max_horizon": args.horizon,
        "multi_step": args.multi_step,
        "scaling": {
            "method": "each feature standardized by its mean and standard deviation over the input window",
            "min_scale": min_scale_values,
            "fitted_on": "train part",
        },
        "quantiles": conformal_offsets(residuals, DEFAULT_QUANTILES),
        "calibration_windows": int(residuals.shape[0]),
    }
    evaluation = evaluate(model, series_set, io)
    print(format_rows(evaluation.rows))

    card = ModelCard(
        format=FORMAT_VERSION,
        name=args.name,
        version=weights_version(model),
        task="forecast",
        arch=architectures.describe(model),
        io=io,
        license=LICENSES[args.preset],
        metrics={**evaluation.metrics, "validation_loss": round(stopper.best_loss, 5)},
        data={
            "dataset": args.preset,
            "series": [s.name for s in series_set.series] if args.preset != "sine" else "100 waves sin((t + shift) / 20)",
            "splits": "chronological per series: train 70% | validation 15% | calibration 15% of the part before the test tail"
            if args.preset != "sine"
            else "by wave: 20 test, 20 calibration, 10 validation, 50 train",
            "test_parts": {s.name: list(s.parts["test"]) for s in series_set.series if "test" in s.parts}
            if args.preset != "sine"
            else "steps 1000..1999 of each test wave, forecast from step 1000",
            "sha256": series_set.files,
        },
        training=training_record(args, history, stopper.best_epoch, seconds_before + time.time() - started, device),
        created=now_iso(),
    )
    curves = loss_curves_png(history["train_loss"], history["validation_loss"], f"{args.name}: {preset['loss']} loss")
    pictures = {"curves.png": curves}
    if evaluation.picture is not None:
        pictures["forecast.png"] = forecast_png(evaluation.picture)
    write_artifact(args.out, card, model, pictures=pictures)
    print(f"wrote {args.out}: " + json.dumps(card.metrics))
    return card
