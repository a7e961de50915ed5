"""Forecast: a history and a horizon -> the next values of the target and conformal bounds."""

import math
from dataclasses import dataclass
from typing import Any

import torch

from models.artifact import Artifact
from models.forecaster import Forecaster, forecast_values
from service.errors import ErrorDetail, InvalidInput
from service.predictors.base import Predictor


@dataclass(frozen=True)
class PreparedHistory:
    window: torch.Tensor  # (context_length, features): the most recent rows, float32
    horizon: int
    quantiles: list[float]


@dataclass(frozen=True)
class ForecastOutput:
    forecast: list[float]  # (horizon,)
    scale: float  # the target's spread over the input window: conformal offsets are in these units


class ForecastPredictor(Predictor):
    def __init__(self, artifact: Artifact, device: torch.device) -> None:
        super().__init__(artifact, device)
        assert isinstance(self.model, Forecaster)
        self.forecaster: Forecaster = self.model
        io = self.card.io
        self.features: list[str] = list(io["features"])
        self.context_length: int = int(io["context_length"])
        self.max_horizon: int = int(io["max_horizon"])
        self.min_scale = torch.tensor(io["scaling"]["min_scale"], dtype=torch.float32, device=device)
        # level -> offset per horizon step, in units of the window's target spread
        self.offsets: dict[float, list[float]] = {float(level): list(values) for level, values in io["quantiles"].items()}

    def preprocess(self, history: list[float] | list[list[float]], horizon: int, quantiles: list[float]) -> PreparedHistory:
        """Check the history's shape against the card and keep its last context_length rows."""
        width = len(self.features)
        first_width = len(history[0]) if isinstance(history[0], list) else 1  # the schema made every row alike
        if first_width != width:
            expected = "numbers (one feature)" if width == 1 else f"rows of {width} values ({', '.join(self.features)})"
            raise InvalidInput(
                f"model {self.card.name!r} takes {expected}; got {first_width} value(s) per row",
                [ErrorDetail(loc=["body", "history"], msg=f"expected {width} feature(s) per row: {self.features}")],
            )
        if len(history) < self.context_length:
            raise InvalidInput(
                f"history has {len(history)} rows; model {self.card.name!r} needs at least {self.context_length}",
                [ErrorDetail(loc=["body", "history"], msg=f"at least {self.context_length} rows (the model's context_length)")],
            )
        if horizon > self.max_horizon:
            raise InvalidInput(
                f"horizon {horizon} is beyond model {self.card.name!r}'s max_horizon {self.max_horizon}",
                [ErrorDetail(loc=["body", "horizon"], msg=f"at most {self.max_horizon}")],
            )
        unknown = [
            ErrorDetail(loc=["body", "quantiles", index], msg=f"offered levels: {sorted(self.offsets)}")
            for index, level in enumerate(quantiles)
            if level not in self.offsets
        ]
        if unknown:
            raise InvalidInput(f"model {self.card.name!r} offers the quantiles {sorted(self.offsets)} only", unknown)
        tail = history[-self.context_length :]  # only the last context_length rows are fed
        window = torch.tensor([row if isinstance(row, list) else [row] for row in tail], dtype=torch.float32)
        return PreparedHistory(window, horizon, quantiles)

    def forward(self, items: list[PreparedHistory]) -> list[ForecastOutput]:
        """One pass for the batch, to the longest horizon asked; each item keeps its own first steps."""
        horizon = max(item.horizon for item in items)
        windows = torch.stack([item.window for item in items]).to(self.device)  # (B, context, features)
        with torch.inference_mode():
            forecasts, scales = forecast_values(self.forecaster, windows, horizon, self.min_scale)  # (B, horizon), (B,)
            forecasts, scales = forecasts.float().cpu(), scales.float().cpu()
        return [
            ForecastOutput(forecast=forecasts[index, : item.horizon].tolist(), scale=float(scales[index]))
            for index, item in enumerate(items)
        ]

    def postprocess(self, item: PreparedHistory, output: ForecastOutput) -> dict[str, Any]:
        steps = len(output.forecast)
        bounds = {
            str(level): [
                value + offset * output.scale for value, offset in zip(output.forecast, self.offsets[level][:steps], strict=True)
            ]
            for level in item.quantiles
        }
        return {"forecast": output.forecast, "quantiles": bounds}

    def warmup(self) -> None:
        self.forward([self.preprocess(self._example_history(), self.max_horizon, [])])

    def _example_history(self) -> list[float] | list[list[float]]:
        """A seasonal wave around 100 with a period of 12 rows; one column per feature."""
        values = [round(100 + 10 * math.sin(2 * math.pi * step / 12), 2) for step in range(self.context_length)]
        if len(self.features) == 1:
            return values
        return [[value + feature for feature in range(len(self.features))] for value in values]

    def example_request(self) -> dict[str, Any]:
        return {
            "model": self.card.name,
            "history": self._example_history(),
            "horizon": min(12, self.max_horizon),
            "quantiles": [level for level in (0.1, 0.9) if level in self.offsets],
        }
