"""What answers a forecast request with `method: auto`: a backtest on the request's own history.

Each candidate (the card's `io.methods`) forecasts the history's last horizons from what precedes
them; the one with the smallest mean absolute error there forecasts the whole history. Candidates:

- `network`: the model's network, with its conformal bounds;
- `seasonal_naive`, `ets`, `theta`: statsforecast models fitted to the history (service/statistical.py);
- `combination`: the mean of the network's, ETS's and Theta's forecasts and bounds (combining
  forecasters tends to beat each of them: the M3 and M4 competitions' lesson).

An interval is never narrower than the backtest says the chosen method errs: each bound is pushed
out, where needed, to the normal quantile of the chosen method's backtest errors (their root mean
square as the spread). A method named in the request answers without a backtest, with its own bounds.
A statistical model that cannot be fitted to a history (statsforecast refuses tiny ones) drops out
of the backtest; named in the request, it is a 422.
"""

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from models.card_io import ForecastMethod
from service.statistical import FitError, is_statistical, statistical_forecast

FloatArray = npt.NDArray[np.float64]
Forecast = tuple[FloatArray, dict[float, FloatArray]]  # point (horizon,), {quantile: bound (horizon,)}
# The network's forecast from target[:end], with bounds for the given quantiles.
NetworkForecast = Callable[[int, list[float]], Forecast]

COMBINED: tuple[ForecastMethod, ...] = ("network", "ets", "theta")


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
    """One method's forecast of the `horizon` steps after target[:end]. `done` keeps the forecasts already made
    from this history, so the combination reuses its parts' fits."""
    done = {} if done is None else done
    if method not in done:
        if method == "combination":
            parts = [forecast_by(part, target, end, horizon, season, quantiles, network, done) for part in COMBINED]
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


def widened(point: FloatArray, bounds: dict[float, FloatArray], errors: FloatArray) -> dict[float, FloatArray]:
    """Each bound pushed out, where it is narrower, to point + z(q) x the root mean square backtest error."""
    spread = math.sqrt(float(np.mean(errors**2)))
    result = {}
    for quantile, bound in bounds.items():
        floor = point + NormalDist().inv_cdf(quantile) * spread
        result[quantile] = np.minimum(bound, floor) if quantile < 0.5 else np.maximum(bound, floor) if quantile > 0.5 else bound
    return result
