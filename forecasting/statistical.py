"""The statistical forecasters a one-feature forecast model may answer with, from statsforecast.

`POST /v1/forecast` with `method: auto` backtests the network beside these on the request's own
history and answers with the best (forecasting/choice.py). Each takes the season estimated from the
history (forecasting/season.py); the request never names a frequency. The fitting rules below hold for
every caller: the service, training's evaluation and bench/forecast_eval.py.
"""

import warnings
from typing import Literal, TypeGuard, get_args

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
StatisticalMethod = Literal["seasonal_naive", "ets", "theta"]
STATISTICAL_METHODS: tuple[StatisticalMethod, ...] = get_args(StatisticalMethod)

# ETS and Theta warn when they drop a season a history cannot carry, and numpy warns inside them on
# degenerate histories; the outcome is checked instead (FitError). Set once: catch_warnings() is not
# thread-safe.
warnings.filterwarnings("ignore", module="statsforecast")
warnings.filterwarnings("ignore", module="statsmodels")  # Theta's seasonality test runs statsmodels' ACF

# statsforecast's ETS fits one coefficient per season step; longer seasons go non-seasonal
MAX_ETS_SEASON = 24
# The statistical models see at most this many seasons (and at least MIN_FITTED points) of a long
# history: their fitting time grows with it, while the newest seasons carry most of what they use.
MAX_FITTED_SEASONS = 8
MIN_FITTED = 400


class FitError(Exception):
    """A statistical model could not forecast a history (too short, degenerate): the message says why."""


def is_statistical(method: str) -> TypeGuard[StatisticalMethod]:
    return method in STATISTICAL_METHODS


def fitted_part(history: FloatArray, season: int) -> FloatArray:
    """The newest part of a history that the statistical models see."""
    return history[-max(MAX_FITTED_SEASONS * season, MIN_FITTED) :]


def ets_season(season: int) -> int:
    """The season ETS fits: the history's, up to MAX_ETS_SEASON; non-seasonal beyond."""
    return season if season <= MAX_ETS_SEASON else 1


def interval_level(quantile: float) -> int:
    """The central interval whose bound is this quantile, in whole percent (statsforecast's unit): 0.1 and 0.9
    bound the 80% interval; a quantile between whole percents takes the nearest."""
    return round(abs(2 * quantile - 1) * 100)


def statistical_forecast(
    method: StatisticalMethod, history: FloatArray, horizon: int, season: int, quantiles: list[float]
) -> tuple[FloatArray, dict[float, FloatArray]]:
    """(point forecast (horizon,), {quantile: bound (horizon,)}) of one method from a one-feature history.

    A quantile's bound is the lower or upper end of the model's central interval of the matching level;
    the median is the point forecast. Levels are the model's own (normal errors), not conformal.
    """
    # Imported here, not with the module: statsforecast's stack (pandas, scipy, numba, statsmodels) takes
    # about 170 MiB, which a server whose models offer no statistical method never pays.
    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive

    model: SeasonalNaive | AutoETS | AutoTheta
    if method == "seasonal_naive":
        model = SeasonalNaive(season_length=season)
    elif method == "ets":
        model = AutoETS(season_length=ets_season(season))
    else:
        model = AutoTheta(season_length=season)
    levels = sorted({interval_level(q) for q in quantiles if q != 0.5})
    try:
        answer = model.forecast(y=fitted_part(history, season), h=horizon, level=levels or None)
    except Exception as error:  # statsforecast raises several types (e.g. NotImplementedError for tiny data)
        raise FitError(
            f"{method} cannot be fitted to this history ({type(error).__name__}: {error})"
        ) from error
    mean = np.asarray(answer["mean"], dtype=np.float64)
    bounds = {}
    for quantile in quantiles:
        if quantile == 0.5:
            bounds[quantile] = mean
        else:
            side = "lo" if quantile < 0.5 else "hi"
            bounds[quantile] = np.asarray(answer[f"{side}-{interval_level(quantile)}"], dtype=np.float64)
    if not (np.isfinite(mean).all() and all(np.isfinite(bound).all() for bound in bounds.values())):
        raise FitError(f"{method} gives no finite forecast for this history")
    return mean, bounds
