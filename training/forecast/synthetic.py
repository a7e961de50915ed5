"""Synthetic univariate series, made fresh at training time, so one network learns series of any kind.

The real series in ../shared/data are few (four are trained on), so most training windows of the
global univariate model come from here. Each series is drawn from random components:

    value = level x trend x (1 + season)   (multiplicative, the season grows with the level)
          | trend + season                 (additive)
          then + noise: white, AR(1) or a random walk, sometimes heavy-tailed

- trends: none, linear, damped, piecewise linear with change points, level shifts;
- seasons: none, or one of many periods (4, 7, 12, 24, 52, any from 2 to 60, multi-year cycles up to
  150), shaped by a few random harmonics or by a random profile repeated; sometimes a second period;
- whole families without a season: random walks with drift and AR(2) cycles (sunspot-like).
"""

import numpy as np

COMMON_PERIODS = (4, 7, 12, 24, 52)


def _trend(rng: np.random.Generator, steps: np.ndarray) -> np.ndarray:
    """A positive-ish trend around 1 over `steps` (length T)."""
    length = len(steps)
    kind = rng.choice(["flat", "linear", "damped", "piecewise", "shifts"], p=[0.2, 0.3, 0.15, 0.2, 0.15])
    slope = rng.normal(0, 1.0 / length)  # up to about +-1 over the series
    if kind == "flat":
        return np.ones(length)
    if kind == "linear":
        return 1 + slope * steps
    if kind == "damped":
        phi = rng.uniform(0.95, 0.999)
        return 1 + slope * (1 - phi**steps) / (1 - phi)
    if kind == "piecewise":
        changes = np.sort(rng.integers(1, length, size=rng.integers(1, 4)))
        slopes = rng.normal(0, 1.5 / length, size=len(changes) + 1)
        return 1 + np.cumsum(slopes[np.searchsorted(changes, steps, side="right")])
    shifts = np.zeros(length)
    for start in rng.integers(1, length, size=rng.integers(1, 4)):
        shifts[start:] += rng.normal(0, 0.3)
    return 1 + slope * steps + shifts


def _period(rng: np.random.Generator, length: int) -> int:
    """A season length that fits at least twice (mostly many times) in `length`."""
    choice = rng.random()
    if choice < 0.6:
        period = int(rng.choice(COMMON_PERIODS))
    elif choice < 0.9:
        period = int(rng.integers(2, 61))
    else:
        period = int(rng.integers(60, 151))  # multi-year cycles of monthly data, weeks of hourly data
    return min(period, max(2, length // 2))


def _season(rng: np.random.Generator, steps: np.ndarray, period: int) -> np.ndarray:
    """A zero-mean pattern of the given period with amplitude about 1."""
    if rng.random() < 0.7:
        harmonics = rng.integers(1, 4)
        pattern = np.zeros(len(steps))
        for k in range(1, harmonics + 1):
            pattern += rng.normal(0, 1.0 / k) * np.sin(
                2 * np.pi * k * steps / period + rng.uniform(0, 2 * np.pi)
            )
    else:  # a random profile (e.g. weekday effects), smoothed a little for long periods
        profile = rng.normal(0, 1, period)
        if period > 12:
            profile = np.convolve(
                np.concatenate([profile[-2:], profile, profile[:2]]), np.ones(5) / 5, "valid"
            )
        pattern = profile[steps % period]
    pattern -= pattern.mean()
    spread = np.abs(pattern).max()
    return pattern / spread if spread > 0 else pattern


def _noise(rng: np.random.Generator, length: int) -> np.ndarray:
    """Zero-mean noise of unit scale: white, AR(1) or a random walk; heavy-tailed one time in five."""
    shocks = rng.standard_t(3, length) / 1.7 if rng.random() < 0.2 else rng.normal(0, 1, length)
    kind = rng.choice(["white", "ar1", "walk"], p=[0.5, 0.3, 0.2])
    if kind == "white":
        return shocks
    if kind == "walk":
        walk: np.ndarray = np.cumsum(shocks) / np.sqrt(length / 4)
        return walk
    phi = rng.uniform(0.3, 0.95)
    values = np.empty(length)
    values[0] = shocks[0]
    for t in range(1, length):
        values[t] = phi * values[t - 1] + shocks[t] * np.sqrt(1 - phi**2)
    return values


def _ar2_cycle(rng: np.random.Generator, length: int) -> np.ndarray:
    """An AR(2) process with complex roots: irregular cycles of 8 to 150 steps, like sunspot numbers."""
    period = rng.uniform(8, 150)
    radius = rng.uniform(0.9, 0.995)
    a1, a2 = 2 * radius * np.cos(2 * np.pi / period), -(radius**2)
    shocks = rng.normal(0, 1, length + 200)
    values = np.zeros(length + 200)
    for t in range(2, length + 200):
        values[t] = a1 * values[t - 1] + a2 * values[t - 2] + shocks[t]
    tail = values[200:]  # past the burn-in
    cycle: np.ndarray = 5 + tail / (tail.std() + 1e-9)
    return cycle


def synthetic_series(rng: np.random.Generator, count: int, length: int) -> np.ndarray:
    """`count` random series of `length` steps, (count, length) float32, each of its own kind and scale."""
    steps = np.arange(length)
    result = np.empty((count, length), dtype=np.float32)
    for row in range(count):
        family = rng.random()
        if family < 0.1:  # a random walk with drift
            values = np.cumsum(rng.normal(rng.normal(0, 0.1), 1, length))
        elif family < 0.2:
            values = _ar2_cycle(rng, length)
        else:
            trend = _trend(rng, steps)
            season = np.zeros(length)
            if rng.random() < 0.8:
                season = rng.uniform(0.05, 0.5) * _season(rng, steps, _period(rng, length))
                if rng.random() < 0.15:
                    season += rng.uniform(0.05, 0.3) * _season(rng, steps, _period(rng, length))
            multiplicative = rng.random() < 0.4
            clean = np.maximum(trend, 0.05) * (1 + season) if multiplicative else trend + season
            values = clean + rng.uniform(0.01, 0.25) * _noise(rng, length)
        # Any level and unit: the network standardizes each window, so this only tests that it does.
        result[row] = values * 10 ** rng.uniform(-1, 4) + rng.normal(0, 3)
    return result
