"""Synthetic series of families the forecast trainer's generator never makes (training/forecast/synthetic.py
draws additive or multiplicative seasons on trends with white, AR(1) or random-walk noise), for
bench/forecast_eval.py's never-seen group: at several frequencies, from a seed of their own.

- intermittent demand: mostly zeros, with Poisson bursts (retail items, spare parts);
- two seasons: hourly data with a daily and a weekly cycle (electricity, traffic);
- a regime change: the season's amplitude and the level both change part way;
- a growing season: a monthly season whose amplitude grows with the level, with a trend break;
- a quarterly season on a damped trend;
- a weekly series with a yearly season of 52 and heavy-tailed noise.
"""

from dataclasses import dataclass

import numpy as np

SEED = 20261208  # not a seed training uses


@dataclass(frozen=True)
class Heldout:
    name: str
    values: np.ndarray
    season: int  # what its frequency implies (and what scores it)
    horizon: int


def _cycle(steps: np.ndarray, period: int, rng: np.random.Generator) -> np.ndarray:
    phase = rng.uniform(0, 2 * np.pi)
    return np.asarray(np.sin(2 * np.pi * steps / period + phase) + 0.4 * np.sin(4 * np.pi * steps / period))


def heldout_series() -> list[Heldout]:
    rng = np.random.default_rng(SEED)
    hours, months, quarters, weeks = np.arange(24 * 7 * 10), np.arange(144), np.arange(80), np.arange(52 * 5)
    demand = rng.poisson(3, len(months)) * (rng.uniform(size=len(months)) < 0.25)
    two = 100 + 20 * _cycle(hours, 24, rng) + 10 * _cycle(hours, 168, rng) + rng.normal(0, 3, len(hours))
    shift = len(months) * 2 // 3
    regime = np.where(months < shift, 50 + 5 * _cycle(months, 12, rng), 80 + 15 * _cycle(months, 12, rng))
    level = 100 + np.where(months < 90, 1.0 * months, 90 + 0.2 * (months - 90))
    growing = level * (1 + 0.2 * _cycle(months, 12, rng)) + rng.normal(0, 2, len(months))
    damped = 200 + 40 * (1 - 0.97**quarters) / 0.03 / 30 + 8 * _cycle(quarters, 4, rng)
    weekly = 500 + 60 * _cycle(weeks, 52, rng) + 10 * rng.standard_t(3, len(weeks))
    return [
        Heldout("synthetic intermittent demand (monthly)", demand.astype(np.float64), 12, 12),
        Heldout("synthetic two seasons (hourly)", two, 24, 48),
        Heldout("synthetic regime change (monthly)", regime + rng.normal(0, 1.5, len(months)), 12, 12),
        Heldout("synthetic growing season (monthly)", growing, 12, 18),
        Heldout("synthetic damped trend (quarterly)", damped + rng.normal(0, 1, len(quarters)), 4, 8),
        Heldout("synthetic yearly season (weekly)", weekly, 52, 13),
    ]
