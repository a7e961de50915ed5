"""How often the season estimate (forecasting/season.py) is right, on series whose season is known.

    python -m bench.season_eval [--per-family 200] [--data-root ../shared/data]

Synthetic families, each at the periods 4, 7, 12, 24 and 52 and 3 to 8 seasons of history: a clean
season under noise, with a trend, with a level shift, multiplicative (the season grows with the level),
and two seasons (the longer is the one scored; the shorter also counts as right). Then the real series
with a known frequency (the season it implies: monthly 12, daily 7). Prints the share estimated right
per family. A request that names its frequency or season skips the estimate (season_source: given).
"""

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import data_dir
from forecasting.season import estimate_season
from training.forecast.data import load_univariate

PERIODS = (4, 7, 12, 24, 52)
Family = Callable[[np.random.Generator, int, int], np.ndarray]  # (rng, period, length) -> series


def _season(rng: np.random.Generator, period: int, length: int) -> np.ndarray:
    steps = np.arange(length)
    phase = rng.uniform(0, 2 * np.pi)
    shape = np.sin(2 * np.pi * steps / period + phase) + 0.3 * rng.normal() * np.cos(
        4 * np.pi * steps / period
    )
    return np.asarray(shape)


def _noise(rng: np.random.Generator, length: int, level: float) -> np.ndarray:
    return np.asarray(rng.normal(0, level, length))


FAMILIES: dict[str, Family] = {
    "season + noise": lambda rng, p, n: _season(rng, p, n) + _noise(rng, n, rng.uniform(0.1, 0.6)),
    "season + trend": lambda rng, p, n: (
        _season(rng, p, n) + np.arange(n) * rng.uniform(-0.05, 0.05) + _noise(rng, n, 0.3)
    ),
    "season + level shift": lambda rng, p, n: (
        _season(rng, p, n)
        + np.where(np.arange(n) > rng.integers(n // 3, 2 * n // 3), rng.uniform(2, 5), 0)
        + _noise(rng, n, 0.3)
    ),
    "multiplicative": lambda rng, p, n: (
        (10 + np.arange(n) * 0.05) * (1 + 0.3 * _season(rng, p, n)) + _noise(rng, n, 0.3)
    ),
}


def two_seasons(rng: np.random.Generator, period: int, length: int) -> np.ndarray:
    short = 4 if period > 7 else 2
    return np.asarray(
        _season(rng, period, length) + 0.5 * _season(rng, short, length) + _noise(rng, length, 0.3)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-family", type=int, default=200, help="series per family (default 200)")
    parser.add_argument("--data-root", type=Path, help="folder holding timeseries/ (default: ../shared/data)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{'family':<24} {'right':>7}  by period " + " ".join(f"{p:>5}" for p in PERIODS))
    for name, family in [*FAMILIES.items(), ("two seasons", two_seasons)]:
        right_by_period = {period: [] for period in PERIODS}  # type: dict[int, list[bool]]
        for index in range(args.per_family):
            period = PERIODS[index % len(PERIODS)]
            length = period * int(rng.integers(3, 9))
            estimate = estimate_season(family(rng, period, length))
            allowed = {period, 4 if period > 7 else 2} if family is two_seasons else {period}
            right_by_period[period].append(estimate in allowed)
        every = [hit for hits in right_by_period.values() for hit in hits]
        shares = " ".join(f"{np.mean(right_by_period[p]):>5.2f}" for p in PERIODS)
        print(f"{name:<24} {np.mean(every):>7.2f}             {shares}")
    folder = data_dir(args.data_root / "timeseries" if args.data_root else None, "timeseries")
    if folder is None:
        print("real series SKIPPED: no timeseries folder (set RNNSERVE_DATA_DIR; see README, 'Data')")
        return
    known = {"airline-passengers": 12, "monthly-sunspots": 12, "daily-min-temperatures": 7,
             "daily-total-female-births": 7}  # fmt: skip
    print("\nreal series (the season its frequency implies; the estimate from the whole series):")
    for series in load_univariate(folder).series:
        implied = known.get(series.name)
        estimate = estimate_season(series.values[:, series.target_index].astype(np.float64))
        print(f"  {series.name:<28} implied {implied}, estimated {estimate}")


if __name__ == "__main__":
    main()
