"""Held-out evaluation of a forecaster beside its baselines; shared by training and bench/forecast_quality.py.

- sine: 1000 free-running steps from step 1000 of each test wave: MSE against the true
  continuation, beside predicting the last value and predicting zeros.
- univariate / csv: back-to-back windows over each series' test tail (the univariate preset's five of
  its horizon; a csv's one, the whole tail), per series: MAE, MAE relative to seasonal naive and MASE,
  beside naive and seasonal naive; where the card offers more methods than the network (io.methods), also
  the MASE of what method auto serves (`served_auto`: the service's own choice, forecasting/choice.py).
- stocks: a forecast of the next `max_horizon` closes from every day of the test year:
  MAE at step 1 and over all steps, MASE, beside persistence (the last close).

Every kind also reports the coverage of the central interval (0.1 to 0.9) on the same values.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from forecasting import metrics as fm
from forecasting.choice import Forecast, choose, plan
from forecasting.intervals import interval
from forecasting.metrics import coverage
from forecasting.season import estimate_season, last_window
from models.card_io import ForecastIO
from models.forecaster import Forecaster, forecast_values
from training.forecast.data import Series, SeriesSet, window_origins, windows_at
from training.plots import ForecastPicture

INTERVAL = ("0.1", "0.9")  # the central 80% band reported by every evaluation


@dataclass
class Evaluation:
    rows: list[dict[str, Any]]  # one per series (or one for all sine waves), for printing
    metrics: dict[str, float]  # flat, for the card
    picture: ForecastPicture | None = None
    notes: list[str] = field(default_factory=list)


def predict(
    model: Forecaster, contexts: np.ndarray, horizon: int, min_scale: list[float], batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """contexts (n, T, F) -> (forecasts (n, horizon), target window scales (n,)), in data units, on the
    CPU."""
    model.eval()
    forecasts, scales = [], []
    floor = torch.tensor(min_scale, dtype=torch.float32)
    with torch.inference_mode():
        for start in range(0, len(contexts), batch_size):
            batch = torch.from_numpy(contexts[start : start + batch_size]).float()
            values, scale = forecast_values(model, batch, horizon, floor)
            forecasts.append(values.double().numpy())
            scales.append(scale.double().numpy())
    return np.concatenate(forecasts), np.concatenate(scales)


def calibration_residuals(
    model: Forecaster,
    series_set: SeriesSet,
    context: int,
    horizon: int,
    min_scale: list[float],
    stride: int,
    min_history: int | None = None,
) -> np.ndarray:
    """(actual - forecast) / window scale for every calibration window: (n, horizon)."""
    residuals = []
    for series in series_set.series:
        origins = window_origins(series, "calibration", context, horizon, stride, min_history)
        if len(origins) == 0:
            continue
        contexts, targets = windows_at(series, origins, context, horizon)
        forecasts, scales = predict(model, contexts, horizon, min_scale)
        residuals.append((targets - forecasts) / scales[:, None])
    if not residuals:
        raise ValueError(
            f"no calibration window of context {context} and horizon {horizon} fits in any series"
        )
    return np.concatenate(residuals)


def served_auto(model: Forecaster, series: Series, origin: int, horizon: int, io: ForecastIO) -> np.ndarray:
    """What POST /v1/forecast with method auto answers from the history before `origin`: the same choice
    (forecasting/choice.py) among the card's methods, the network's windows cut and padded as served."""
    target = series.values[:origin, series.target_index].astype(np.float64)
    candidates, origins = plan(io.methods, "auto", len(target), horizon, io.shortest_history)

    def network(end: int, quantiles: list[float]) -> Forecast:
        window = last_window(series.values[:end].astype(np.float64), io.context_length, series.target_index)
        forecast, scale = predict(model, window[None], horizon, io.scaling.min_scale)  # (1, horizon), (1,)
        return forecast[0], {q: interval(forecast, scale, io.levels[q])[0] for q in quantiles}

    return choose(candidates, target, origins, horizon, estimate_season(target), [], network).point


def _band(forecasts: np.ndarray, scales: np.ndarray, io: ForecastIO) -> tuple[np.ndarray, np.ndarray]:
    quantiles = io.quantiles
    return interval(forecasts, scales, quantiles[INTERVAL[0]]), interval(
        forecasts, scales, quantiles[INTERVAL[1]]
    )


def evaluate(model: Forecaster, series_set: SeriesSet, io: ForecastIO) -> Evaluation:
    if series_set.kind == "sine":
        return _evaluate_sine(model, series_set, io)
    if series_set.kind == "stocks":
        return _evaluate_rolling(model, series_set, io)
    return _evaluate_tails(model, series_set, io)


def _evaluate_sine(model: Forecaster, series_set: SeriesSet, io: ForecastIO) -> Evaluation:
    context, horizon = io.context_length, io.max_horizon
    tests = [s for s in series_set.series if "test" in s.parts]
    contexts, targets = [], []
    for series in tests:
        origin = np.array([series.parts["test"][0]])
        window, target = windows_at(series, origin, context, horizon)
        contexts.append(window)
        targets.append(target)
    x, y = np.concatenate(contexts), np.concatenate(targets)  # (waves, context, 1), (waves, horizon)
    forecasts, scales = predict(model, x, horizon, io.scaling.min_scale)
    lower, upper = _band(forecasts, scales, io)
    last_value = fm.naive(x[:, :, 0], horizon)
    row: dict[str, Any] = {
        "series": f"{len(tests)} held-out waves",
        "steps": horizon,
        "mse": fm.mse(forecasts, y),
        "mae": fm.mae(forecasts, y),
        "mse_naive": fm.mse(last_value, y),
        "mse_zeros": fm.mse(np.zeros_like(y), y),
        "coverage_80": coverage(y, lower, upper),
    }
    metrics: dict[str, float] = {
        "test_mse_free_running": row["mse"],
        "test_mae_free_running": row["mae"],
        "test_mse_naive": row["mse_naive"],
        "test_mse_zeros": row["mse_zeros"],
        "test_coverage_80": row["coverage_80"],
    }
    picture = ForecastPicture(
        f"sine: {horizon} free-running steps, held-out wave",
        x[0, :, 0],
        y[0],
        forecasts[0],
        lower[0],
        upper[0],
    )
    return Evaluation([row], _rounded(metrics), picture)


def _evaluate_tails(model: Forecaster, series_set: SeriesSet, io: ForecastIO) -> Evaluation:
    """Per series, back-to-back windows of its horizon over the test tail (one window: the whole tail),
    each forecast from the history before it; errors are averaged over the windows."""
    context, max_horizon = io.context_length, io.max_horizon
    rows, metrics, picture = [], {}, None
    beaten = 0
    for series in series_set.series:
        start, end = series.parts["test"]
        horizon = series.horizon or end - start
        if horizon > max_horizon:
            raise ValueError(
                f"{series.name}: test windows of {horizon} are longer than the model's max horizon "
                f"{max_horizon}"
            )
        origins = np.arange(start, end - horizon + 1, horizon)
        windows, actual = windows_at(series, origins, context, horizon)  # (n, context, F), (n, horizon)
        forecasts, scales = predict(model, windows, horizon, io.scaling.min_scale)
        lower, upper = _band(forecasts, scales, io)
        pasts = [series.values[:origin, series.target_index].astype(np.float64) for origin in origins]
        naive = np.stack([fm.naive(past, horizon) for past in pasts])
        seasonal = np.stack([fm.seasonal_naive(past, horizon, series.season) for past in pasts])
        scale = fm.mase_scale(pasts[0], series.season)
        model_mae, naive_mae, seasonal_mae = (
            fm.mae(forecasts, actual),
            fm.mae(naive, actual),
            fm.mae(seasonal, actual),
        )
        row: dict[str, Any] = {
            "series": series.name,
            "windows": len(origins),
            "steps": horizon,
            "season": series.season,
            "mae": model_mae,
            "mae_naive": naive_mae,
            "mae_seasonal_naive": seasonal_mae,
            "relative_mae": model_mae / seasonal_mae,
            "mase": model_mae / scale,
            "mase_naive": naive_mae / scale,
            "mase_seasonal_naive": seasonal_mae / scale,
            "coverage_80": coverage(actual, lower, upper),
        }
        if len(io.methods) > 1:  # the card offers more than the network: score what method auto serves too
            served = np.stack([served_auto(model, series, int(origin), horizon, io) for origin in origins])
            row["mase_auto"] = fm.mae(served, actual) / scale
        rows.append(row)
        beaten += row["relative_mae"] <= 1.0
        key = series.name.replace("-", "_")
        metrics[f"test_relative_mae_{key}"] = row["relative_mae"]
        metrics[f"test_mase_{key}"] = row["mase"]
        metrics[f"test_coverage_80_{key}"] = row["coverage_80"]
        if "mase_auto" in row:
            metrics[f"test_mase_auto_{key}"] = row["mase_auto"]
        if picture is None:
            shown = min(int(origins[-1]), 4 * horizon)
            picture = ForecastPicture(
                f"{series.name}: last {horizon} steps held out",
                pasts[-1][-shown:],
                actual[-1],
                forecasts[-1],
                lower[-1],
                upper[-1],
            )
    metrics["test_series_at_or_below_seasonal_naive"] = float(beaten)
    metrics["test_mase"] = float(np.mean([row["mase"] for row in rows]))
    return Evaluation(rows, _rounded(metrics), picture)


def _evaluate_rolling(model: Forecaster, series_set: SeriesSet, io: ForecastIO) -> Evaluation:
    context, horizon = io.context_length, io.max_horizon
    rows, metrics, picture = [], {}, None
    for series in series_set.series:
        origins = window_origins(series, "test", context, horizon)
        windows, actual = windows_at(series, origins, context, horizon)
        forecasts, scales = predict(model, windows, horizon, io.scaling.min_scale)
        lower, upper = _band(forecasts, scales, io)
        persistence = fm.naive(windows[:, :, series.target_index].astype(np.float64), horizon)
        past = series.values[: series.parts["test"][0], series.target_index].astype(np.float64)
        scale = fm.in_sample_scale(past, 1)
        row: dict[str, Any] = {
            "series": series.name,
            "origins": len(origins),
            "mae_step1": fm.mae(forecasts[:, 0], actual[:, 0]),
            "mae_step1_naive": fm.mae(persistence[:, 0], actual[:, 0]),
            "mae": fm.mae(forecasts, actual),
            "mae_naive": fm.mae(persistence, actual),
            "mase_step1": fm.mae(forecasts[:, 0], actual[:, 0]) / scale,
            "mase_step1_naive": fm.mae(persistence[:, 0], actual[:, 0]) / scale,
            "mase": fm.mae(forecasts, actual) / scale,
            "mase_naive": fm.mae(persistence, actual) / scale,
            "coverage_80": coverage(actual, lower, upper),
        }
        row["relative_mae"] = row["mae"] / row["mae_naive"]
        rows.append(row)
        if picture is None:
            picture = ForecastPicture(
                f"{series.name}: next {horizon} closes from the test year's last origin",
                windows[-1, :, series.target_index],
                actual[-1],
                forecasts[-1],
                lower[-1],
                upper[-1],
            )
    for key in ("mase_step1", "mase_step1_naive", "mase", "mase_naive", "relative_mae", "coverage_80"):
        metrics[f"test_{key}"] = float(np.mean([row[key] for row in rows]))
    return Evaluation(rows, _rounded(metrics), picture)


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {key: round(float(value), 5) for key, value in metrics.items()}


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of evaluation rows."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
