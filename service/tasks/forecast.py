"""Forecast: a history and a horizon -> the next values of the target and conformal bounds."""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from forecasting.choice import Forecast, choose, plan
from forecasting.intervals import interval
from forecasting.season import SeasonSource, chosen_season, last_window
from forecasting.statistical import FitError, is_statistical, statistical_forecast
from models.artifact import Artifact
from models.card_io import ForecastIO, ForecastMethod
from models.forecaster import Forecaster, forecast_values
from service.errors import ErrorDetail, InvalidInput
from service.runtime.contract import ModelRunner, Predictor, Prepared, typed_io, typed_network
from service.schemas.forecast import ForecastRequest, ForecastResponse

# The network computes in float32: a window's spread squares its values, which must stay far below 3.4e38.
MAX_MAGNITUDE = 1e18
NETWORK_METHODS = ("network", "combination")  # what needs the network's forecast for the whole horizon


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
            forecasts, scales = forecast_values(
                self.network, windows, horizon, self.min_scale
            )  # (B, horizon), (B,)
            forecasts, scales = forecasts.float().cpu(), scales.float().cpu()
        return [
            ForecastOutput(forecast=forecasts[index, : item.horizon].tolist(), scale=float(scales[index]))
            for index, item in enumerate(items)
        ]

    def cost(self, item: PreparedHistory) -> tuple[str, float]:
        """A recursive model runs one step per horizon step; a direct one a single pass."""
        return ("forecast", float(item.horizon if self.io.multi_step == "recursive" else 1))

    def calibration(self) -> list[list[PreparedHistory]]:
        """One window, then eight: a direct model's items are all of one size, so batches differ by count."""
        request = ForecastRequest(
            history=self._example_history(), horizon=self.io.max_horizon, method="network"
        )
        items = ForecastPredictor(self).preprocess(request).items
        return [items, items * 8]

    def warmup(self) -> None:
        request = ForecastRequest(
            history=self._example_history(), horizon=self.io.max_horizon, method="network"
        )
        [output] = self.forward(ForecastPredictor(self).preprocess(request).items)
        self.require_finite(torch.tensor([*output.forecast, output.scale]))
        seasons = 100 + 10 * np.sin(
            2 * np.pi * np.arange(48) / 12
        )  # four seasons of 12, whatever the context
        for method in self.io.methods:  # statsforecast builds some of its state on the first fit
            if is_statistical(method):
                statistical_forecast(method, seasons, self.io.max_horizon, 12, [0.1, 0.9])

    def _example_history(self) -> list[float | list[float]]:
        """A seasonal wave around 100 with a period of 12 rows; one column per feature."""
        values = [
            round(100 + 10 * math.sin(2 * math.pi * step / 12), 2) for step in range(self.io.context_length)
        ]
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


@dataclass(frozen=True)
class PreparedForecast(Prepared[PreparedHistory]):
    """The items are the network's windows: the whole history's first, then, when the network is a candidate,
    one per backtest origin."""

    target: npt.NDArray[np.float64]  # (T,): the target column of the history
    season: int
    season_source: SeasonSource
    candidates: list[ForecastMethod]
    origins: list[
        int
    ]  # backtest origins, newest first: each candidate forecasts target[origin:origin + horizon]
    ends: list[int]  # the history end of each item's window


class ForecastPredictor(Predictor[ForecastRequest, PreparedForecast, ForecastOutput, ForecastResponse]):
    """The schema made every row alike; this checks the history against the card, estimates its season and,
    for method auto, backtests the card's methods on the history's own last horizons."""

    task = "forecast"
    postprocess_blocks = True  # statistical models are fitted in postprocess: off the event loop

    def __init__(self, runner: ForecastRunner) -> None:
        super().__init__(runner)
        self.io = runner.io
        self.offsets = runner.offsets

    def preprocess(self, request: ForecastRequest) -> PreparedForecast:
        """Check the feature count, history length, horizon, levels and method; cut the network's windows."""
        history, features = request.history, self.io.features
        first = history[0]
        width = len(first) if isinstance(first, list) else 1
        if width != len(features):
            expected = (
                "numbers (one feature)"
                if len(features) == 1
                else f"rows of {len(features)} values ({', '.join(features)})"
            )
            raise InvalidInput(
                f"model {self.card.name!r} takes {expected}; got {width} value(s) per row",
                [
                    ErrorDetail(
                        loc=["body", "history"],
                        msg=f"expected {len(features)} feature(s) per row: {features}",
                    )
                ],
            )
        shortest = self.io.shortest_history
        if len(history) < shortest:
            raise InvalidInput(
                f"history has {len(history)} rows; model {self.card.name!r} needs at least {shortest}",
                [
                    ErrorDetail(
                        loc=["body", "history"], msg=f"at least {shortest} rows (the model's min_history)"
                    )
                ],
            )
        methods = self._within_reach(request)
        unknown = [
            ErrorDetail(loc=["body", "quantiles", index], msg=f"offered levels: {sorted(self.offsets)}")
            for index, level in enumerate(request.quantiles)
            if level not in self.offsets
        ]
        if unknown:
            raise InvalidInput(
                f"model {self.card.name!r} offers the quantiles {sorted(self.offsets)} only", unknown
            )
        if request.method != "auto" and request.method not in self.io.methods:
            raise InvalidInput(
                f"model {self.card.name!r} forecasts by {self.io.methods} (or auto); not {request.method!r}",
                [ErrorDetail(loc=["body", "method"], msg=f"one of auto, {', '.join(self.io.methods)}")],
            )
        rows = np.array(
            [row if isinstance(row, list) else [row] for row in history], dtype=np.float64
        )  # (T, F)
        if float(np.abs(rows).max()) > MAX_MAGNITUDE:
            raise InvalidInput(
                f"history values must lie within ±{MAX_MAGNITUDE:.0e}: model {self.card.name!r} computes in "
                f"float32",
                [
                    ErrorDetail(
                        loc=["body", "history"], msg=f"a value fed to the model exceeds ±{MAX_MAGNITUDE:.0e}"
                    )
                ],
            )
        target = rows[:, features.index(self.io.target)]
        candidates, origins = plan(methods, request.method, len(rows), request.horizon, shortest)
        # The whole history's window always goes through the batcher (a statistical answer waits its turn
        # there
        # too, so queue limits and deadlines hold for every request); the backtest windows where the network
        # is a candidate, alone or in the combination.
        uses_network = bool(set(NETWORK_METHODS) & set(candidates))
        ends = [len(rows), *origins] if uses_network else [len(rows)]
        # Past the network's reach its output is unused (a statistical method answers): it runs to its reach.
        steps = min(request.horizon, self.io.max_horizon)
        items = [PreparedHistory(self._window(rows[:end]), steps) for end in ends]
        sizes = {"rows": len(history), "horizon": request.horizon}
        season, source = chosen_season(target, request.season, request.frequency, self.io.frequency)
        return PreparedForecast(items, sizes, target, season, source, candidates, origins, ends)

    def _within_reach(self, request: ForecastRequest) -> list[ForecastMethod]:
        """The card's methods that can forecast `horizon` steps: past the network's reach (max_horizon), the
        statistical ones. Naming the network there, or a model with none other, is a 422 that says the
        reach."""
        reach = self.io.max_horizon
        if request.horizon <= reach:
            return list(self.io.methods)
        others = [method for method in self.io.methods if method not in NETWORK_METHODS]
        if request.method in NETWORK_METHODS or not others:
            alternatives = f"method auto or one of {others}" if others else "no other method: it offers none"
            raise InvalidInput(
                f"horizon {request.horizon} is past the reach of model {self.card.name!r}'s network "
                f"({reach} steps); for longer horizons: {alternatives}",
                [ErrorDetail(loc=["body", "horizon"], msg=f"at most {reach} for the network")],
            )
        return others

    def _window(self, rows: npt.NDArray[np.float64]) -> torch.Tensor:
        """The network's input: the last context_length rows, padded back by their season when fewer."""
        window = last_window(rows, self.io.context_length, self.io.features.index(self.io.target))
        return torch.from_numpy(window).float()

    def postprocess(
        self, request: ForecastRequest, prepared: PreparedForecast, outputs: list[ForecastOutput]
    ) -> ForecastResponse:
        """Backtest the candidates (method auto), then forecast the whole history by the chosen one."""
        horizon, season, target = request.horizon, prepared.season, prepared.target
        by_end = dict(zip(prepared.ends, outputs, strict=True))  # history end -> the network's output

        def network(end: int, quantiles: list[float]) -> Forecast:  # NetworkForecast
            output = by_end[end]
            forecast, scale = np.array([output.forecast]), np.array([output.scale])  # (1, horizon), (1,)
            return forecast[0], {
                level: interval(forecast, scale, self.offsets[level])[0] for level in quantiles
            }

        try:
            choice = choose(
                prepared.candidates, target, prepared.origins, horizon, season, request.quantiles, network
            )
        except FitError as error:  # the last hope failed: named in the request, or no backtested method fits
            raise InvalidInput(str(error), [ErrorDetail(loc=["body", "method"], msg=str(error))]) from error
        point, bounds = choice.point, choice.bounds
        if not (
            np.isfinite(point).all() and all(np.isfinite(bound).all() for bound in bounds.values())
        ):  # the network
            raise InvalidInput(
                f"model {self.card.name!r} gives no finite forecast for this history",
                [ErrorDetail(loc=["body", "history"], msg="the forecast is not finite; rescale the values")],
            )
        return ForecastResponse(
            model=self.card.name,
            version=self.card.version,
            horizon=horizon,
            forecast=point.tolist(),
            quantiles={str(level): bounds[level].tolist() for level in request.quantiles},
            method=choice.method,
            season=season,
            season_source=prepared.season_source,
            backtest_mae={
                method: round(float(np.mean(np.abs(error))), 6) for method, error in choice.errors.items()
            },
        )
