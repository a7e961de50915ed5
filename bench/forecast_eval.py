"""Rolling-origin evaluation of the univariate forecaster beside statsforecast's models.

For every real univariate series in the data folder and every stock's closes, forecasts from
ORIGINS origins at the end of the series (non-overlapping windows of the series' horizon, fewer where
the history would be shorter than two seasons), by:
  rnnserve     POST /v1/forecast to a server on the committed artifacts (forecast-univariate)
  statsforecast SeasonalNaive, Naive, AutoETS, AutoTheta, AutoARIMA with the season fixed below (ETS
                and ARIMA non-seasonal where the season is longer than 24 and 52: daily temperatures)
  select       a per-request choice, as the endpoint could make it: rnnserve, SeasonalNaive, AutoETS and
                AutoTheta each forecast the history's last horizon from the rest; the best there answers
Reported per series: MASE (scaled by the in-sample seasonal naive error, season 1 for stocks), the
share of actuals inside the 80 % interval, and each method's seconds per series; then the geometric
mean of MASE relative to SeasonalNaive over the non-stock series. Stocks are reported apart: they
behave like random walks. Windows that forecast-univariate saw in training (outside its card's test
tails) are marked: its figures there are not out-of-sample.

    pip install -e ".[bench]"; python -m bench.forecast_eval [--data-root ../shared/data]
"""

import argparse
import json
import math
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from bench.common import REPO, data_dir, running_server, skip

ORIGINS = 5
LEVEL = 80
MAX_HISTORY_SEASONS = 8  # statistical models see at most this many seasons (and at least 400 points)


@dataclass(frozen=True)
class Series:
    name: str
    file: str
    column: str
    season: int  # monthly 12, daily 7 (365 where several years exist), hourly 24, stocks 1
    horizon: int
    stock: bool = False


SERIES = [
    Series("airline-passengers", "timeseries/airline-passengers.csv", "Passengers", 12, 12),
    Series("monthly-sunspots", "timeseries/monthly-sunspots.csv", "Sunspots", 12, 12),
    Series("monthly-shampoo-sales", "timeseries/monthly-shampoo-sales.csv", "Sales", 12, 6),
    Series("daily-min-temperatures", "timeseries/daily-min-temperatures.csv", "Temp", 365, 14),
    Series("daily-total-female-births", "timeseries/daily-total-female-births.csv", "Births", 7, 7),
    Series("ETTh1-OT", "timeseries/ETTh1.csv", "OT", 24, 24),
]
STOCK_HORIZON = 5


def values_of(path: Path, column: str) -> np.ndarray:
    lines = path.read_text().replace("\r", "").strip().splitlines()
    header = [name.strip('"') for name in lines[0].split(",")]
    index = header.index(column)
    return np.array([float(line.split(",")[index].strip('"')) for line in lines[1:]])


def origins_of(length: int, series: Series) -> list[int]:
    """The last ORIGINS non-overlapping windows, keeping at least two seasons (and 16 points) of history."""
    minimum = max(2 * series.season + 1, 16)
    origins = [length - series.horizon * (ORIGINS - k) for k in range(ORIGINS)]
    return [origin for origin in origins if origin >= minimum]


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, season: int) -> float:
    lag = season if len(history) > season else 1
    scale = np.mean(np.abs(history[lag:] - history[:-lag]))
    return float(np.mean(np.abs(actual - forecast)) / scale)


def statistical(history: np.ndarray, series: Series) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """Each statsforecast model's (forecast, lo, hi, seconds)."""
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    season = series.season
    keep = max(MAX_HISTORY_SEASONS * season, 400)
    frame = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(history))[-keep:], "y": history[-keep:]})
    models = {
        "SeasonalNaive": SeasonalNaive(season_length=season),
        "Naive": Naive(),
        # ETS takes seasons up to 24; a seasonal ARIMA of season 365 took over 13 GB here: both go non-seasonal there.
        "AutoETS": AutoETS(season_length=season if season <= 24 else 1),
        "AutoTheta": AutoTheta(season_length=season),
        "AutoARIMA": AutoARIMA(season_length=season if season <= 52 else 1),
    }
    results = {}
    for name, model in models.items():
        started = time.perf_counter()
        predicted = StatsForecast(models=[model], freq=1, n_jobs=1).forecast(df=frame, h=series.horizon, level=[LEVEL])
        seconds = time.perf_counter() - started
        column = [c for c in predicted.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c][0]
        results[name] = (
            predicted[column].to_numpy(),
            predicted[f"{column}-lo-{LEVEL}"].to_numpy(),
            predicted[f"{column}-hi-{LEVEL}"].to_numpy(),
            seconds,
        )
    return results


def rnnserve(client: httpx.Client, history: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    body = {"model": "forecast-univariate", "history": history[-10_000:].tolist(), "horizon": horizon, "quantiles": [0.1, 0.9]}
    started = time.perf_counter()
    response = client.post("/v1/forecast", json=body)
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        return None  # e.g. a history shorter than the model's context
    answer = response.json()
    return np.array(answer["forecast"]), np.array(answer["quantiles"]["0.1"]), np.array(answer["quantiles"]["0.9"]), seconds


SELECTABLE = ("rnnserve", "SeasonalNaive", "AutoETS", "AutoTheta")


def selected(
    client: httpx.Client,
    history: np.ndarray,
    series: Series,
    forecasts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """What a per-request backtest would answer: each candidate forecasts the last horizon of the history from
    the rest, and the one with the smallest error there gives the forecast. Its seconds include the backtest."""
    earlier, held = history[: -series.horizon], history[-series.horizon :]
    if len(earlier) < max(2 * series.season + 1, 16):
        return forecasts["AutoTheta"]
    trials = {name: result for name, result in statistical(earlier, series).items() if name in SELECTABLE}
    ours = rnnserve(client, earlier, series.horizon)
    if ours is not None and "rnnserve" in forecasts:
        trials["rnnserve"] = ours
    errors = {name: float(np.mean(np.abs(held - forecast))) for name, (forecast, _, _, _) in trials.items()}
    best = min(errors, key=errors.__getitem__)
    forecast, lo, hi, _ = forecasts[best]
    spent = sum(result[3] for result in trials.values()) + sum(forecasts[name][3] for name in trials)
    return forecast, lo, hi, spent


def seen_in_training(card_data: dict[str, object], series: Series, origin: int) -> bool:
    """Whether forecast-univariate trained on this window: it holds out only its card's test tail of each series."""
    tails = card_data.get("test_parts", {})
    assert isinstance(tails, dict)
    return series.name in tails and origin < tails[series.name][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=None, help="folder holding timeseries/ and stocks/")
    args = parser.parse_args()
    root = args.data_root or (data_dir(None, "timeseries") or Path("missing")).parent
    if not (root / "timeseries").exists():
        skip("no timeseries data: pass --data-root or set RNNSERVE_DATA_DIR (see README, Data)")
    try:
        import statsforecast  # noqa: F401
    except ImportError:
        skip("statsforecast is absent: pip install -e '.[bench]'")
    specs = list(SERIES) + [
        Series(f"{path.stem} close", f"stocks/{path.name}", "Close", 1, STOCK_HORIZON, stock=True)
        for path in sorted((root / "stocks").glob("*.csv"))
    ]
    statistical(np.sin(np.arange(60.0)), Series("warm-up", "", "", 12, 6))  # numba compiles once, outside the timings
    card_data = json.loads((REPO / "artifacts" / "forecast-univariate" / "card.json").read_text())["data"]
    rows: dict[str, dict[str, dict[str, float]]] = {}
    with running_server(REPO / "artifacts") as server, httpx.Client(base_url=server.url, timeout=60) as client:
        for series in specs:
            values = values_of(root / series.file, series.column)
            scores: dict[str, list[float]] = defaultdict(list)
            covered: dict[str, list[float]] = defaultdict(list)
            seconds: dict[str, float] = defaultdict(float)
            seen = False
            for origin in origins_of(len(values), series):
                history, actual = values[:origin], values[origin : origin + series.horizon]
                forecasts = statistical(history, series)
                ours = rnnserve(client, history, series.horizon)
                if ours is not None:
                    forecasts["rnnserve"] = ours
                    seen |= seen_in_training(card_data, series, origin)
                forecasts["select"] = selected(client, history, series, forecasts)
                for method, (forecast, lo, hi, spent) in forecasts.items():
                    scores[method].append(mase(actual, forecast, history, series.season))
                    covered[method].append(float(np.mean((actual >= lo) & (actual <= hi))))
                    seconds[method] += spent
            label = series.name + (" (rnnserve saw some windows in training)" if seen else "")
            rows[label] = {
                method: {
                    "mase": statistics.mean(scores[method]),
                    "coverage": statistics.mean(covered[method]),
                    "seconds": seconds[method],
                    "origins": len(scores[method]),
                }  # fmt: skip
                for method in scores
            }
            rows[label]["_stock"] = {"stock": float(series.stock)}
    report(rows)


def report(rows: dict[str, dict[str, dict[str, float]]]) -> None:
    methods = ["rnnserve", "select", "SeasonalNaive", "Naive", "AutoETS", "AutoTheta", "AutoARIMA"]
    for stocks in (False, True):
        chosen = {name: row for name, row in rows.items() if bool(row["_stock"]["stock"]) == stocks}
        print(f"\n## {'stock closes (season 1: seasonal naive is naive)' if stocks else 'non-stock series'}\n")
        print("| series | origins | " + " | ".join(f"{m} MASE (cov80)" for m in methods) + " |")
        print("|---|---|" + "---|" * len(methods))
        for name, row in chosen.items():
            cells = [f"{row[m]['mase']:.3f} ({row[m]['coverage']:.2f})" if m in row else "n/a" for m in methods]
            print(f"| {name} | {int(row['SeasonalNaive']['origins'])} | " + " | ".join(cells) + " |")
        print("| geometric mean MASE / SeasonalNaive | | " + " | ".join(
            f"{geometric_relative(chosen, m):.3f}" if all(m in row for row in chosen.values()) else "n/a" for m in methods
        ) + " |")  # fmt: skip
        answered = {name: row for name, row in chosen.items() if "rnnserve" in row}
        if len(answered) < len(chosen):
            print("| the same, over the series rnnserve answers | | " + " | ".join(
                f"{geometric_relative(answered, m):.3f}" for m in methods
            ) + " |")  # fmt: skip
        print("| mean 80 % coverage | | " + " | ".join(
            f"{statistics.mean(row[m]['coverage'] for row in chosen.values() if m in row):.3f}" for m in methods
        ) + " |")  # fmt: skip
        print("| seconds per series (mean) | | " + " | ".join(
            f"{statistics.mean(row[m]['seconds'] for row in chosen.values() if m in row):.2f}" for m in methods
        ) + " |")  # fmt: skip


def geometric_relative(rows: dict[str, dict[str, dict[str, float]]], method: str) -> float:
    ratios = [row[method]["mase"] / row["SeasonalNaive"]["mase"] for row in rows.values()]
    return math.exp(statistics.mean(math.log(ratio) for ratio in ratios))


if __name__ == "__main__":
    main()
