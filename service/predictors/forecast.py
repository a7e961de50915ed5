"""Forecast: a history and a horizon -> the next values of the target and conformal bounds."""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models.artifact import Artifact
from models.card_io import ForecastIO, interval
from models.forecaster import Forecaster, forecast_values
from service.errors import ErrorDetail, InvalidInput
from service.predictors.base import ModelRunner, Predictor, Prepared, typed_io, typed_network
from service.schemas.forecast import ForecastRequest, ForecastResponse

# The network computes in float32: a window's spread squares its values, which must stay far below 3.4e38.
MAX_MAGNITUDE = 1e18


@dataclass(frozen=True)
class PreparedHistory:
    window: torch.Tensor  # (context_length, features): the most recent rows, float32
    horizon: int


@dataclass(frozen=True)
class ForecastOutput:
    forecast: list[float]  # (horizon,)
    scale: float  # the target's spread over the input window: conformal offsets are in these units


class ForecastRunner(ModelRunner[PreparedHistory, ForecastOutput]):
    task = "forecast"

    def __init__(self, artifact: Artifact, device: torch.device) -> None:
        super().__init__(artifact, device)
        self.io = typed_io(self.card, ForecastIO)
        self.network = typed_network(artifact, Forecaster).to(device)
        self.min_scale = torch.tensor(self.io.scaling.min_scale, dtype=torch.float32, device=device)
        # level -> offset per horizon step, in units of the window's target spread
        self.offsets = self.io.levels

    def forward(self, items: list[PreparedHistory]) -> list[ForecastOutput]:
        """One pass for the batch, to the longest horizon asked; each item keeps its own first steps."""
        horizon = max(item.horizon for item in items)
        windows = torch.stack([item.window for item in items]).to(self.device)  # (B, context, features)
        with torch.inference_mode():
            forecasts, scales = forecast_values(self.network, windows, horizon, self.min_scale)  # (B, horizon), (B,)
            forecasts, scales = forecasts.float().cpu(), scales.float().cpu()
        return [
            ForecastOutput(forecast=forecasts[index, : item.horizon].tolist(), scale=float(scales[index]))
            for index, item in enumerate(items)
        ]

    def cost(self, item: PreparedHistory) -> tuple[str, float]:
        """A recursive model runs one step per horizon step; a direct one a single pass."""
        return ("forecast", float(item.horizon if self.io.multi_step == "recursive" else 1))

    def predictors(self) -> list[Predictor[Any, Any, ForecastOutput, Any]]:
        return [ForecastPredictor(self)]

    def warmup(self) -> None:
        request = ForecastRequest(history=self._example_history(), horizon=self.io.max_horizon)
        [output] = self.forward(ForecastPredictor(self).preprocess(request).items)
        self.require_finite(torch.tensor([*output.forecast, output.scale]))

    def _example_history(self) -> list[float | list[float]]:
        """A seasonal wave around 100 with a period of 12 rows; one column per feature."""
        values = [round(100 + 10 * math.sin(2 * math.pi * step / 12), 2) for step in range(self.io.context_length)]
        if len(self.io.features) == 1:
            return list(values)
        return [[value + feature for feature in range(len(self.io.features))] for value in values]

    def example_request(self) -> dict[str, Any]:
        return {
            "model": self.card.name,
            "history": self._example_history(),
            "horizon": min(12, self.io.max_horizon),
            "quantiles": [level for level in (0.1, 0.9) if level in self.offsets],
        }


class ForecastPredictor(Predictor[ForecastRequest, Prepared[PreparedHistory], ForecastOutput, ForecastResponse]):
    """The schema made every row alike; this checks the history against the card."""

    task = "forecast"

    def __init__(self, runner: ForecastRunner) -> None:
        super().__init__(runner)
        self.io = runner.io
        self.offsets = runner.offsets

    def preprocess(self, request: ForecastRequest) -> Prepared[PreparedHistory]:
        """Check the feature count, context length, horizon and levels; keep the last context_length rows."""
        history, features = request.history, self.io.features
        first = history[0]
        width = len(first) if isinstance(first, list) else 1
        if width != len(features):
            expected = (
                "numbers (one feature)" if len(features) == 1 else f"rows of {len(features)} values ({', '.join(features)})"
            )
            raise InvalidInput(
                f"model {self.card.name!r} takes {expected}; got {width} value(s) per row",
                [ErrorDetail(loc=["body", "history"], msg=f"expected {len(features)} feature(s) per row: {features}")],
            )
        context = self.io.context_length
        if len(history) < context:
            raise InvalidInput(
                f"history has {len(history)} rows; model {self.card.name!r} needs at least {context}",
                [ErrorDetail(loc=["body", "history"], msg=f"at least {context} rows (the model's context_length)")],
            )
        if request.horizon > self.io.max_horizon:
            raise InvalidInput(
                f"horizon {request.horizon} is beyond model {self.card.name!r}'s max_horizon {self.io.max_horizon}",
                [ErrorDetail(loc=["body", "horizon"], msg=f"at most {self.io.max_horizon}")],
            )
        unknown = [
            ErrorDetail(loc=["body", "quantiles", index], msg=f"offered levels: {sorted(self.offsets)}")
            for index, level in enumerate(request.quantiles)
            if level not in self.offsets
        ]
        if unknown:
            raise InvalidInput(f"model {self.card.name!r} offers the quantiles {sorted(self.offsets)} only", unknown)
        tail = history[-context:]  # only the last context_length rows are fed
        window = torch.tensor([row if isinstance(row, list) else [row] for row in tail], dtype=torch.float64)
        if float(window.abs().max()) > MAX_MAGNITUDE:
            raise InvalidInput(
                f"history values must lie within ±{MAX_MAGNITUDE:.0e}: model {self.card.name!r} computes in float32",
                [ErrorDetail(loc=["body", "history"], msg=f"a value fed to the model exceeds ±{MAX_MAGNITUDE:.0e}")],
            )
        window = window.float()
        return Prepared([PreparedHistory(window, request.horizon)], {"rows": len(history), "horizon": request.horizon})

    def postprocess(
        self, request: ForecastRequest, prepared: Prepared[PreparedHistory], outputs: list[ForecastOutput]
    ) -> ForecastResponse:
        [output] = outputs
        forecast, scale = np.array([output.forecast]), np.array([output.scale])  # (1, horizon), (1,)
        if not (np.isfinite(forecast).all() and np.isfinite(scale).all()):
            raise InvalidInput(
                f"model {self.card.name!r} gives no finite forecast for this history",
                [ErrorDetail(loc=["body", "history"], msg="the forecast is not finite; rescale the values")],
            )
        bounds = {str(level): interval(forecast, scale, self.offsets[level])[0].tolist() for level in request.quantiles}
        return ForecastResponse(
            model=self.card.name, version=self.card.version, horizon=request.horizon, forecast=output.forecast, quantiles=bounds
        )
