"""Rolling-origin evaluation of the univariate forecast endpoint beside statsforecast's models.

For every real univariate series in the data folder, held-out synthetic series and every stock's closes,
forecasts from ORIGINS origins at the end of the series, by:
  rnnserve      POST /v1/forecast to a server on the artifacts, method auto: the endpoint backtests its
                network, seasonal naive, ETS and Theta on the request's own history and answers with the best
                (its choices are counted); its season is estimated from the history, never given
  network       the same endpoint with method network: the network alone
  statsforecast SeasonalNaive, Naive, AutoETS, AutoTheta, AutoARIMA with the season fixed below (ETS and
                ARIMA non-seasonal where the season is longer than 24 and 52: daily temperatures)

Windows: the four series forecast-univariate trains on are scored only in their test tails, which
training cut off before fitting, early stopping and calibration (training/forecast/data.py
UNIVARIATE_SERIES: five back-to-back windows of each one's horizon). Shampoo sales and ETTh1's OT are
never trained on: the last five horizons of ETTh1, and five origins three months apart over shampoo's
36 months (back-to-back windows would leave too little history). Stocks: the last five weeks.
Six synthetic series of families the trainer never generates (bench/heldout_series.py: intermittent
demand, two seasons, a regime change, ...) join them as never seen. Each group (training tails, never
seen, stocks) is summarized apart, so that the network's figure on what it never saw is its own.

Reported per series: MASE (each origin's history scales its errors by its in-sample seasonal naive
error, season 1 for stocks), the share of actuals inside the 80 % interval, and each method's seconds
per series; then the geometric mean of MASE relative to SeasonalNaive over the non-stock series.
Stocks are reported apart: they behave like random walks. Last, the latency of one request by method
network and method auto, for three history sizes.

    python -m bench.forecast_eval [--data-root ../shared/data] [--artifacts artifacts]
"""

import argparse
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from bench.common import REPO, data_dir, percentile, running_server, skip
from bench.forecast_report import report
from bench.heldout_series import heldout_series
from forecasting.metrics import mae, mase_scale
from forecasting.statistical import ets_season, fitted_part
from training.forecast.data import EVALUATION_ORIGINS, UNIVARIATE_SERIES

ORIGINS = EVALUATION_ORIGINS
LEVEL = 80
MIN_HISTORY = 16  # the fewest points an origin leaves as history (forecast-univariate's min_history)
Forecast = tuple[np.ndarray, np.ndarray, np.ndarray, float]  # point, 80 % low, 80 % high, seconds


@dataclass(frozen=True)
class Series:
    name: str
    file: str
    column: str
    season: int  # monthly 12, daily 7 (365 where several years exist), hourly 24, stocks 1
    horizon: int
    group: str = "unseen"  # seen (a training series' tail), unseen, stocks (bench/forecast_report.py)
    values: np.ndarray | None = None  # generated; else read from `file`


def classic(name: str) -> Series:
    spec = UNIVARIATE_SERIES[name]
    return Series(name, f"timeseries/{spec.file}", spec.column, spec.season, spec.horizon, "seen")


SERIES = [
    classic("airline-passengers"),
    classic("monthly-sunspots"),
    Series("monthly-shampoo-sales", "timeseries/monthly-shampoo-sales.csv", "Sales", 12, 6),
    classic("daily-min-temperatures"),
    classic("daily-total-female-births"),
    Series("ETTh1-OT", "timeseries/ETTh1.csv", "OT", 24, 24),
]
STOCK_HORIZON = 5


def values_of(path: Path, column: str) -> np.ndarray:
    lines = path.read_text().replace("\r", "").strip().splitlines()
    header = [name.strip('"') for name in lines[0].split(",")]
    index = header.index(column)
    return np.array([float(line.split(",")[index].strip('"')) for line in lines[1:]])


def origins_of(length: int, horizon: int) -> list[int]:
    """ORIGINS origins whose windows end at the series' end: back-to-back where the history allows
    MIN_HISTORY points before the first, else closer together (overlapping windows)."""
    step = min(horizon, (length - horizon - MIN_HISTORY) // (ORIGINS - 1))
    if step < 1:
        raise ValueError(f"a series of {length} points cannot hold {ORIGINS} origins of horizon {horizon}")
    return [length - horizon - step * (ORIGINS - 1 - k) for k in range(ORIGINS)]


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, season: int) -> float:
    return mae(forecast, actual) / mase_scale(history, season)


def statistical(history: np.ndarray, series: Series) -> dict[str, Forecast]:
    """Each statsforecast model's forecast with its 80 % interval, at the season fixed for the series."""
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    season = series.season
    fitted = fitted_part(history, season)  # the served methods' rule (forecasting/statistical.py)
    frame = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(history))[-len(fitted) :], "y": fitted})
    models = {
        "SeasonalNaive": SeasonalNaive(season_length=season),
        "Naive": Naive(),
        # ETS as served (seasons up to 24); a seasonal ARIMA of season 365 took over 13 GB here: non-seasonal
        # there.
        "AutoETS": AutoETS(season_length=ets_season(season)),
        "AutoTheta": AutoTheta(season_length=season),
        "AutoARIMA": AutoARIMA(season_length=season if season <= 52 else 1),
    }
    results = {}
    for name, model in models.items():
        started = time.perf_counter()
        predicted = StatsForecast(models=[model], freq=1, n_jobs=1).forecast(
            df=frame, h=series.horizon, level=[LEVEL]
        )
        seconds = time.perf_counter() - started
        column = [
            c
            for c in predicted.columns
            if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c
        ][0]
        results[name] = (
            predicted[column].to_numpy(),
            predicted[f"{column}-lo-{LEVEL}"].to_numpy(),
            predicted[f"{column}-hi-{LEVEL}"].to_numpy(),
            seconds,
        )
    return results


def served(
    client: httpx.Client, history: np.ndarray, horizon: int, method: str
) -> tuple[Forecast, str] | None:
    """The endpoint's forecast and what answered; None when it refuses the history (e.g. too short)."""
    body = {
        "history": history[-10_000:].tolist(),
        "horizon": horizon,
        "quantiles": [0.1, 0.9],
        "method": method,
    }
    started = time.perf_counter()
    response = client.post("/v1/forecast", json=body)
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        return None
    answer = response.json()
    low, high = np.array(answer["quantiles"]["0.1"]), np.array(answer["quantiles"]["0.9"])
    return (
        np.array(answer["forecast"]),
        low,
        high,
        seconds,
    ), f"{answer['method']} (season {answer['season']})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path, default=None, help="folder holding timeseries/ and stocks/")
    parser.add_argument(
        "--artifacts", type=Path, default=REPO / "artifacts", help="artifacts folder to serve"
    )
    args = parser.parse_args()
    root = args.data_root or (data_dir(None, "timeseries") or Path("missing")).parent
    if not (root / "timeseries").exists():
        skip("no timeseries data: pass --data-root or set RNNSERVE_DATA_DIR (see README, Data)")
    generated = [Series(s.name, "", "", s.season, s.horizon, values=s.values) for s in heldout_series()]
    specs = [*SERIES, *generated] + [
        Series(f"{path.stem} close", f"stocks/{path.name}", "Close", 1, STOCK_HORIZON, "stocks")
        for path in sorted((root / "stocks").glob("*.csv"))
    ]
    statistical(
        np.sin(np.arange(60.0)), Series("warm-up", "", "", 12, 6)
    )  # first fits set up state, outside the timings
    rows: dict[str, dict[str, dict[str, float]]] = {}
    choices: dict[str, Counter[str]] = {}
    with running_server(args.artifacts) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        for series in specs:
            values = (
                series.values if series.values is not None else values_of(root / series.file, series.column)
            )
            scores: dict[str, list[float]] = defaultdict(list)
            covered: dict[str, list[float]] = defaultdict(list)
            seconds: dict[str, float] = defaultdict(float)
            choices[series.name] = Counter()
            for origin in origins_of(len(values), series.horizon):
                history, actual = values[:origin], values[origin : origin + series.horizon]
                forecasts = statistical(history, series)
                for method, mode in (("rnnserve", "auto"), ("network", "network")):
                    answer = served(client, history, series.horizon, mode)
                    if answer is not None:
                        forecasts[method] = answer[0]
                        if mode == "auto":
                            choices[series.name][answer[1]] += 1
                for method, (forecast, lo, hi, spent) in forecasts.items():
                    scores[method].append(mase(actual, forecast, history, series.season))
                    covered[method].append(float(np.mean((actual >= lo) & (actual <= hi))))
                    seconds[method] += spent
            rows[series.name] = {
                method: {
                    "mase": statistics.mean(scores[method]),
                    "coverage": statistics.mean(covered[method]),
                    "seconds": seconds[method],
                    "origins": len(scores[method]),
                }
                for method in scores
            }
            print(f"{series.name}: {dict(choices[series.name])}", flush=True)
        latencies = latency(client, root)
    report(rows, {series.name: series.group for series in specs}, choices)
    print("\n## latency of one request, sequential (ms): what method auto's backtest costs\n")
    print("| history | horizon | " + " | ".join(f"{mode} p50 | {mode} p90" for mode in LATENCY_MODES) + " |")
    print("|---|---|" + "---|---|" * len(LATENCY_MODES))
    for (label, horizon), by_mode in latencies.items():
        cells = [
            f"{percentile(by_mode[mode], 50):.0f} | {percentile(by_mode[mode], 90):.0f}"
            for mode in LATENCY_MODES
        ]
        print(f"| {label} | {horizon} | " + " | ".join(cells) + " |")


LATENCY_MODES = ("network", "auto")
LATENCY_REQUESTS = 20


def latency(client: httpx.Client, root: Path) -> dict[tuple[str, int], dict[str, list[float]]]:
    """Milliseconds per request for histories of three sizes, each mode in turn on the same histories."""
    airline = values_of(root / "timeseries/airline-passengers.csv", "Passengers")
    ett = values_of(root / "timeseries/ETTh1.csv", "OT")
    cases = [
        ("airline, 48 months", airline[:48], 12),
        ("airline, 144 months", airline, 12),
        ("ETTh1 OT, 2,000 hours", ett[:2000], 24),
    ]
    result: dict[tuple[str, int], dict[str, list[float]]] = {}
    for label, history, horizon in cases:
        result[(label, horizon)] = {}
        for mode in LATENCY_MODES:
            spent = []
            for _ in range(LATENCY_REQUESTS):
                answer = served(client, history, horizon, mode)
                assert answer is not None, f"{label}: the endpoint refused the history"
                spent.append(answer[0][3] * 1000)
            result[(label, horizon)][mode] = spent
    return result


if __name__ == "__main__":
    main()
