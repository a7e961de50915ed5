"""Point-forecast errors and the baselines every evaluation prints beside the model.

MASE follows Hyndman and Koehler (2006): the test MAE divided by the in-sample MAE of the
one-season-back forecast (season 1: the last value). Relative MAE divides by the baseline's
MAE on the same held-out values.
"""

import numpy as np


def mae(forecast: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(forecast, dtype=np.float64) - actual)))


def mse(forecast: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean((np.asarray(forecast, dtype=np.float64) - actual) ** 2))


def naive(history: np.ndarray, horizon: int) -> np.ndarray:
    """Persistence (random walk): the last value, repeated. history (..., T) -> (..., horizon)."""
    return np.repeat(history[..., -1:], horizon, axis=-1)


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The value one season back, repeated season after season: history (..., T) -> (..., horizon)."""
    if season <= 1:
        return naive(history, horizon)
    last_season = history[..., -season:]
    return np.concatenate([last_season] * (horizon // season + 1), axis=-1)[..., :horizon]


def mase_scale(history: np.ndarray, season: int) -> float:
    """MASE's denominator at the season, or at lag 1 for a history shorter than two seasons."""
    return in_sample_scale(history, season if len(history) > 2 * season else 1)


def in_sample_scale(history: np.ndarray, season: int) -> float:
    """MASE's denominator: mean |y_t - y_{t-season}| over the series before the test part."""
    lag = max(1, season)
    if len(history) <= lag:
        raise ValueError(f"MASE needs more than {lag} in-sample values, got {len(history)}")
    return float(np.mean(np.abs(history[lag:] - history[:-lag])))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actual values inside [lower, upper]."""
    return float(np.mean((actual >= lower) & (actual <= upper)))
