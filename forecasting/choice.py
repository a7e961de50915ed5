"""What answers a forecast request with `method: auto`: a backtest on the request's own history.

Each candidate (the card's `io.methods`) forecasts the history's last horizons from what precedes
them; the one with the smallest mean absolute error there forecasts the whole history. Candidates:

- `network`: the model's network, with its conformal bounds;
- `seasonal_naive`, `ets`, `theta`: statsforecast models fitted to the history (forecasting/statistical.py);
- `combination`: the mean of the network's, ETS's and Theta's forecasts and bounds (combining
  forecasters tends to beat each of them: the M3 and M4 competitions' lesson).

An interval is never narrower than the backtest says the chosen method errs: each bound is pushed
out, where needed, to the normal quantile of the chosen method's backtest errors (their root mean
square as the spread). A method named in the request answers without a backtest, with its own bounds.
A statistical model that cannot be fitted to a history (statsforecast refuses tiny ones) drops out
of the backtest; named in the request, it is a 422.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from forecasting.intervals import widened
from forecasting.statistical import FitError, is_statistical, statistical_forecast
from models.card_io import ForecastMethod

FloatArray = npt.NDArray[np.float64]
Forecast = tuple[FloatArray, dict[float, FloatArray]]  # point (horizon,), {quantile: bound (horizon,)}
# The network's forecast from target[:end], with bounds for the given quantiles.
NetworkForecast = Callable[[int, list[float]], Forecast]

COMBINED: tuple[ForecastMethod, ...] = ("network", "ets", "theta")
BACKTEST_WINDOWS = 2  # method auto scores each candidate on the history's last horizons, at most this many


@dataclass(frozen=True)
class Choice:
    """What answers a history: the method, its forecast and bounds, and each candidate's backtest errors."""

    method: ForecastMethod
    point: FloatArray  # (horizon,)
    bounds: dict[float, FloatArray]  # quantile -> (horizon,)
    errors: dict[ForecastMethod, FloatArray]  # method -> (origins, horizon); empty without a backtest


def backtest_origins(length: int, horizon: int, shortest: int) -> list[int]:
    """Where method auto's backtest forecasts from, newest first: the last BACKTEST_WINDOWS horizons whose
    history keeps at least `shortest` points (none: too short to backtest)."""
    ends = [length - k * horizon for k in range(1, BACKTEST_WINDOWS + 1)]
    return [end for end in ends if end >= shortest]


def plan(
    methods: list[ForecastMethod],
    asked: ForecastMethod | Literal["auto"],
    length: int,
    horizon: int,
    shortest: int,
) -> tuple[list[ForecastMethod], list[int]]:
    """The candidates and backtest origins for a history of `length` points: with `auto`, every method the
    card offers, backtested where the history is long enough; otherwise (or too short) one method answers."""
    candidates = list(methods) if asked == "auto" else [asked]
    origins = backtest_origins(length, horizon, shortest) if len(candidates) > 1 else []
    return (candidates, origins) if origins else (candidates[:1], [])


def choose(
    candidates: list[ForecastMethod],
    target: FloatArray,
    origins: list[int],
    horizon: int,
    season: int,
    quantiles: list[float],
    network: NetworkForecast,
) -> Choice:
    """Backtest the candidates at `origins` (none: the first candidate answers), then forecast the whole
    history by the best that fits it. A chosen method's bounds are widened to its backtest errors.
    Raises FitError when no method can forecast the whole history."""
    errors = backtest(candidates, target, origins, horizon, season, network) if origins else {}

    def answer(method: ForecastMethod) -> Choice:
        point, bounds = forecast_by(method, target, len(target), horizon, season, quantiles, network)
        return Choice(
            method, point, widened(point, bounds, errors[method]) if method in errors else bounds, errors
        )

    methods = ranked(errors) or candidates[:1]
    for method in methods[:-1]:
        try:
            return answer(method)
        except FitError:
            continue
    return answer(methods[-1])


def forecast_by(
    method: ForecastMethod,
    target: FloatArray,
    end: int,
    horizon: int,
    season: int,
    quantiles: list[float],
    network: NetworkForecast,
    done: dict[ForecastMethod, Forecast] | None = None,
) -> Forecast:
    """One method's forecast of the `horizon` steps after target[:end]. `done` keeps the forecasts already
    made from this history, so the combination reuses its parts' fits."""
    done = {} if done is None else done
    if method not in done:
        if method == "combination":
            parts = [
                forecast_by(part, target, end, horizon, season, quantiles, network, done) for part in COMBINED
            ]
            point = np.mean([part_point for part_point, _ in parts], axis=0)
            done[method] = point, {q: np.mean([bounds[q] for _, bounds in parts], axis=0) for q in quantiles}
        elif is_statistical(method):
            done[method] = statistical_forecast(method, target[:end], horizon, season, quantiles)
        else:
            done[method] = network(end, quantiles)
    return done[method]


def backtest(
    methods: list[ForecastMethod],
    target: FloatArray,
    origins: list[int],
    horizon: int,
    season: int,
    network: NetworkForecast,
) -> dict[ForecastMethod, FloatArray]:
    """Per method, its errors (forecast - actual) at each origin: (origins, horizon). A method that cannot be
    fitted to a backtest history (FitError) is left out."""
    misses: dict[ForecastMethod, list[FloatArray]] = {method: [] for method in methods}
    for origin in origins:
        done: dict[ForecastMethod, Forecast] = {}
        for method in [method for method in methods if method in misses]:
            try:
                point, _ = forecast_by(method, target, origin, horizon, season, [], network, done)
            except FitError:
                del misses[method]
                continue
            misses[method].append(point - target[origin : origin + horizon])
    return {method: np.stack(errors) for method, errors in misses.items()}


def ranked(errors: dict[ForecastMethod, FloatArray]) -> list[ForecastMethod]:
    """Methods from the smallest mean absolute backtest error up; ties keep the order listed."""
    return sorted(errors, key=lambda method: float(np.mean(np.abs(errors[method]))))
