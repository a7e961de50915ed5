"""Intervals: the one conformal formula (`interval`), its split-conformal fit (`conformal_offsets`), and the
backtest floor that method auto puts under a chosen method's bounds (`widened`).

Split-conformal offsets: per horizon step, quantiles of scaled residuals on a held-out calibration part.

Residuals are divided by each window's target spread (the same scale the model's input was
normalized by), so the offsets carry over to a series of any level: at serving time the
interval for level q at step h is `forecast[h] + offset[q][h] * window_scale` (`interval`).
"""

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
DEFAULT_QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def conformal_offsets(residuals: np.ndarray, quantiles: tuple[float, ...]) -> dict[str, list[float]]:
    """residuals (n, horizon) = (actual - forecast) / scale -> {str(q): offset per step}.

    Levels are moved outward by the finite-sample correction of split conformal prediction:
    the ceil((n + 1) q)-th smallest residual for q > 0.5 and the floor((n + 1) q)-th for q < 0.5,
    so that each one-sided bound covers at least its nominal share on exchangeable data.
    """
    count = residuals.shape[0]
    if count < 2:
        raise ValueError(f"conformal calibration needs at least 2 residuals per step, got {count}")
    ordered = np.sort(residuals, axis=0)  # (n, horizon)
    offsets = {}
    for level in quantiles:
        if level > 0.5:
            rank = min(count, math.ceil((count + 1) * level))  # 1-based
        elif level < 0.5:
            rank = max(1, math.floor((count + 1) * level))
        else:
            offsets[str(level)] = np.median(residuals, axis=0).tolist()
            continue
        offsets[str(level)] = ordered[rank - 1].tolist()
    return offsets


def interval(forecast: FloatArray, scale: FloatArray, offsets: list[float]) -> FloatArray:
    """One conformal bound: forecast (n, h) + offset per step (h,) x each window's target spread (n,).

    The one formula for intervals, used by training's calibration and evaluation and by serving.
    """
    horizon = forecast.shape[-1]
    bound: FloatArray = forecast + np.asarray(offsets[:horizon], dtype=np.float64) * scale.reshape(-1, 1)
    return bound


def widened(
    point: FloatArray, bounds: dict[float, FloatArray], errors: FloatArray
) -> dict[float, FloatArray]:
    """Each bound pushed out, where it is narrower, to point + z(q) x the root mean square backtest error."""
    spread = math.sqrt(float(np.mean(errors**2)))
    result = {}
    for quantile, bound in bounds.items():
        floor = point + NormalDist().inv_cdf(quantile) * spread
        result[quantile] = (
            np.minimum(bound, floor)
            if quantile < 0.5
            else np.maximum(bound, floor)
            if quantile > 0.5
            else bound
        )
    return result
