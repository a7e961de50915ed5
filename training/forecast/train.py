"""Train an LSTM forecaster (`python -m training forecast`) and write its artifact.

Loss is taken in each window's normalized units, so series of different levels weigh alike;
each training batch draws its windows from the series in equal shares. What is read and the
presets' defaults: training/forecast/config.py.
"""

import argparse
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from tqdm import tqdm

from forecasting.intervals import DEFAULT_QUANTILES, conformal_offsets
from forecasting.season import last_window
from models.card_io import ForecastIO, ForecastScaling
from models.forecaster import Forecaster, ForecasterConfig, normalize_window
from training import distributed
from training.forecast import data as forecast_data
from training.forecast import synthetic
from training.forecast.config import ForecastRun, load_series
from training.forecast.data import SeriesSet, part_windows
from training.forecast.evaluate import calibration_residuals, evaluate, format_rows
from training.golden import forecast_golden
from training.loop import EpochStats, Finished, Fit, Trainer
from training.plots import forecast_png

# A target this many window spreads from the window's mean (a flat window, then a level shift) is clamped in
# training: one such window would otherwise outweigh a batch.
MAX_NORMALIZED_TARGET = 20.0
# share of synthetic training windows cut short and padded, when the preset serves short histories
SHORT_SHARE = 0.25


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
    plus, for one-feature models, a share of windows cut from fresh synthetic series
    (training/forecast/synthetic.py).

    With `min_history`, a real series' first windows have as little as that much history, and SHORT_SHARE
    of the synthetic windows are cut to a random shorter history; both are padded as the service pads."""

    def __init__(
        self,
        series_set: SeriesSet,
        context: int,
        horizon: int,
        rng: np.random.Generator,
        synthetic_share: float = 0.0,
        min_history: int | None = None,
    ) -> None:
        windows = part_windows(series_set, "train", context, horizon, min_history=min_history)
        self.pools = [(contexts, targets) for _, contexts, targets in windows]
        if not self.pools and synthetic_share < 1:
            raise ValueError(
                f"no training window of context {context} and horizon {horizon} fits in any series"
            )
        self.context, self.horizon, self.min_history = context, horizon, min_history
        self.synthetic_share = synthetic_share if self.pools else 1.0
        self.rng = rng

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        made = int(self.rng.binomial(size, self.synthetic_share))
        picks = self.rng.integers(len(self.pools), size=size - made)
        contexts, targets = [], []
        for pool_index in picks:
            pool_contexts, pool_targets = self.pools[pool_index]
            row = self.rng.integers(len(pool_contexts))
            contexts.append(pool_contexts[row])
            targets.append(pool_targets[row])
        if made:
            series = synthetic.synthetic_series(self.rng, made, self.context + self.horizon)  # (n, T + H)
            for row in series:
                history = row[: self.context, None]  # (context, 1)
                if self.min_history is not None and self.rng.random() < SHORT_SHARE:
                    history = last_window(
                        history[self.rng.integers(self.min_history, self.context) :], self.context, 0
                    )
                contexts.append(history)
                targets.append(row[self.context :])
        return torch.from_numpy(np.stack(contexts).astype(np.float32)), torch.from_numpy(np.stack(targets))


class ForecastTrainer(Trainer[Forecaster]):
    config: ForecastRun

    def setup(self) -> None:
        config = self.config
        self.series_set = load_series(config)
        self.preset = config.preset_defaults
        first = self.series_set.series[0]
        self.features, self.target = first.features, first.target
        if config.synthetic_share and len(self.features) != 1:
            raise SystemExit(
                "--synthetic-share needs a one-feature series: the synthetic series have no covariates"
            )
        self.min_scale_values = forecast_data.fitted_min_scale(self.series_set, config.context)
        self.min_scale = torch.tensor(self.min_scale_values, dtype=torch.float32, device=self.device)
        print(
            f"{config.preset}: {len(self.series_set.series)} series, features {self.features}, target "
            f"{self.target}, context {config.context}, horizon {config.horizon} ({config.multi_step}), "
            f"device {self.device}"
        )
        self.model = Forecaster(
            ForecasterConfig(
                input_size=len(self.features),
                hidden_size=config.hidden_size,
                num_layers=config.num_layers,
                multi_step=config.multi_step,
                max_horizon=config.horizon,
                target_index=self.features.index(self.target),
                dropout=config.dropout,
                network=config.arch,
                attention=config.attention,
            )
        )
        if config.init_weights:
            # A warm start, e.g. longer rollouts at a lower rate after a first run; the card records the file.
            self.model.load_state_dict(load_file(str(config.init_weights)), strict=True)
        self.model.to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.loss = loss_function(self.preset.loss)
        self.sampler: WindowSampler | None = None

    def start(self, first_epoch: int) -> None:
        self.rng = np.random.default_rng(
            self.config.seed + first_epoch
        )  # a resumed run draws other windows than epoch 1's

    def _rollout(self, epoch: int) -> int:
        """Recursive models train on free-running rollouts that grow each epoch; direct ones on the whole
        horizon."""
        config = self.config
        return (
            min(config.rollout_max, config.rollout_start * epoch, config.horizon)
            if config.recursive
            else config.horizon
        )

    def train_epoch(self, epoch: int) -> EpochStats:
        """Every rank draws the same global batch and trains on its own rows of it."""
        config, horizon = self.config, self._rollout(epoch)
        if (
            self.sampler is None or horizon != self.sampler.horizon
        ):  # windows are cut again only when the rollout grows
            self.sampler = WindowSampler(
                self.series_set,
                config.context,
                horizon,
                self.rng,
                config.synthetic_share,
                self.preset.min_history,
            )
        self.train_model.train()
        rows = distributed.rows_of(range(config.batch_size), self.world)
        share = distributed.share_of_batch(len(rows), config.batch_size, self.world)
        total = 0.0
        progress = tqdm(
            range(config.steps_per_epoch),
            f"epoch {epoch} (horizon {horizon})",
            leave=False,
            mininterval=5,
            disable=not self.world.is_main,
        )
        for _ in progress:
            contexts, targets = self.sampler.batch(config.batch_size)
            contexts, targets = contexts[rows].to(self.device), targets[rows].to(self.device)
            x, y = normalized_pair(contexts, targets, self.min_scale, self.model.config.target_index)
            y = y.clamp(
                -MAX_NORMALIZED_TARGET, MAX_NORMALIZED_TARGET
            )  # a near-flat window then a jump: not a lesson
            batch_loss = self.loss(self.train_model(x, horizon), y)
            self.optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(batch_loss * share)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.clip)
            self.optimizer.step()
            total += batch_loss.item()
            progress.set_postfix(loss=f"{batch_loss.item():.4f}")
        return EpochStats(total / config.steps_per_epoch, len(rows) * config.steps_per_epoch)

    def validate(self) -> tuple[float, dict[str, float]]:
        """Mean over series of the mean loss on their validation windows; each rank scores its rows of each
        series and the sums are added across ranks. Recursive models validate on the longest rollout they
        train on, so epochs compare alike."""
        config = self.config
        horizon = min(config.rollout_max, config.horizon) if config.recursive else config.horizon
        windows = part_windows(
            self.series_set,
            "validation",
            config.context,
            horizon,
            self.preset.eval_stride,
            self.preset.min_history,
        )
        if not windows:
            raise ValueError("no validation window fits; use longer series or a shorter context/horizon")
        self.model.eval()
        sums: list[float] = []  # per series: summed loss, windows
        with torch.inference_mode():
            for series, contexts, targets in windows:
                mine = slice(self.world.rank, None, self.world.size)
                x, y = normalized_pair(
                    torch.from_numpy(contexts[mine]).to(self.device),
                    torch.from_numpy(targets[mine]).to(self.device),
                    self.min_scale,
                    series.target_index,
                )
                chunks = [(x[i : i + 512], y[i : i + 512]) for i in range(0, len(x), 512)]
                sums += [
                    sum(float(self.loss(self.model(xc, horizon), yc)) * len(xc) for xc, yc in chunks),
                    len(x),
                ]
        totals = distributed.sum_across(sums, self.world, self.device)
        return float(
            np.mean([total / count for total, count in zip(totals[::2], totals[1::2], strict=True)])
        ), {}

    def finish(self, fit: Fit) -> Finished:
        """Conformal offsets from the calibration part, then the held-out evaluation beside the baselines."""
        config = self.config
        self.model.cpu()
        residuals = calibration_residuals(
            self.model,
            self.series_set,
            config.context,
            config.horizon,
            self.min_scale_values,
            self.preset.eval_stride,
            self.preset.min_history,
        )
        io = ForecastIO(
            features=self.features,
            target=self.target,
            context_length=config.context,
            max_horizon=config.horizon,
            multi_step=config.multi_step,
            scaling=ForecastScaling(
                method="each feature standardized by its mean and standard deviation over the input window",
                min_scale=self.min_scale_values,
                fitted_on="train part",
            ),
            quantiles=conformal_offsets(residuals, DEFAULT_QUANTILES),
            calibration_windows=int(residuals.shape[0]),
            min_history=self.preset.min_history,
            methods=list(self.preset.methods),
        )
        evaluation = evaluate(self.model, self.series_set, io)
        print(format_rows(evaluation.rows))
        card = self.card(
            fit,
            "forecast",
            io=io,
            license=self.preset.license,
            metrics={**evaluation.metrics, "validation_loss": round(fit.best_loss, 5)},
            data=self._data_record(),
        )
        pictures = self.loss_curves(fit, f"{self.preset.loss} loss")
        if evaluation.picture is not None:
            pictures["forecast.png"] = forecast_png(evaluation.picture)
        return Finished(card, None, pictures, forecast_golden(self.model, io, self.series_set))

    def _data_record(self) -> dict[str, Any]:
        series = self.series_set.series
        if self.config.preset == "sine":
            return {
                "dataset": "sine",
                "series": "100 waves sin((t + shift) / 20)",
                "splits": "by wave: 20 test, 20 calibration, 10 validation, 50 train",
                "test_parts": "steps 1000..1999 of each test wave, forecast from step 1000",
                "sha256": self.series_set.files,
            }
        return {
            "dataset": self.config.preset,
            "series": [s.name for s in series],
            "splits": "chronological per series: train 70% | validation 15% | calibration 15% of the part "
            "before the test tail",
            "test_parts": {s.name: list(s.parts["test"]) for s in series if "test" in s.parts},
            "sha256": self.series_set.files,
        }


def trainer_from(arguments: argparse.Namespace) -> ForecastTrainer:
    return ForecastTrainer(ForecastRun.from_arguments(arguments))
