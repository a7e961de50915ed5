"""Season estimation from the autocorrelation, and padding a short history back by its season."""

import numpy as np
import pytest

from forecasting.season import estimate_season, pad_to


@pytest.mark.parametrize("period", [4, 7, 12, 24, 52])
def test_a_noisy_season_with_a_trend_is_found(period: int) -> None:
    rng = np.random.default_rng(period)
    steps = np.arange(8 * period + 20)
    values = 50 + 0.2 * steps + 10 * np.sin(2 * np.pi * steps / period) + rng.normal(0, 2, len(steps))
    assert estimate_season(values) == period


def test_noise_walks_and_lines_have_no_season() -> None:
    rng = np.random.default_rng(0)
    assert estimate_season(rng.normal(size=500)) == 1
    assert estimate_season(np.arange(100.0)) == 1
    assert estimate_season(np.full(50, 3.0)) == 1
    walks = [estimate_season(np.cumsum(rng.normal(size=300))) for _ in range(20)]
    assert walks.count(1) >= 16  # a walk's level wanders by chance; most are not mistaken for a season


def test_a_season_must_fit_twice_in_the_history() -> None:
    steps = np.arange(30)
    values = np.sin(2 * np.pi * steps / 12)
    assert estimate_season(values) == 12
    assert estimate_season(values, max_season=10) != 12
    assert estimate_season(values[:20]) == 1  # 20 points hold one season of 12 and a bit


def test_padding_repeats_the_first_season_backwards() -> None:
    rows = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
    padded = pad_to(rows, 9, season=2)
    assert padded[:, 0].tolist() == [
        1.0,
        2.0,
        1.0,
        2.0,
        1.0,
        2.0,
        3.0,
        4.0,
        5.0,
    ]  # each copies the row 2 later
    assert pad_to(rows, 7, season=1)[:, 0].tolist() == [1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert pad_to(rows, 3, season=2) is rows  # long enough: untouched
    with pytest.raises(ValueError, match="cannot pad"):
        pad_to(rows, 9, season=6)
