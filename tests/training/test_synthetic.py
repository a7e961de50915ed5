"""The synthetic training corpus of the global univariate forecaster."""

import numpy as np

from forecasting.season import estimate_season
from training.forecast.synthetic import synthetic_series


def test_series_are_finite_of_many_scales_and_reproducible() -> None:
    series = synthetic_series(np.random.default_rng(0), 300, 200)
    assert series.shape == (300, 200) and series.dtype == np.float32 and np.isfinite(series).all()
    spreads = series.std(axis=1)
    assert spreads.min() > 0 and spreads.max() / spreads.min() > 1e3  # levels and units vary widely
    assert np.array_equal(series, synthetic_series(np.random.default_rng(0), 300, 200))


def test_the_corpus_mixes_seasons_of_many_lengths_with_seasonless_series() -> None:
    seasons = [
        estimate_season(row.astype(np.float64))
        for row in synthetic_series(np.random.default_rng(1), 400, 240)
    ]
    found = set(seasons)
    assert 0.1 < seasons.count(1) / len(seasons) < 0.7  # some series have no season (or none visible)
    assert {4, 7, 12, 24} <= found and len(found) > 15
