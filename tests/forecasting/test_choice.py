"""The backtest behind method auto: each candidate's errors, the choice, the combination and the widened
bounds."""

import numpy as np
import pytest

from forecasting.choice import Forecast, backtest, forecast_by, ranked
from forecasting.intervals import widened

TARGET = np.array([10.0, 20.0, 30.0, 40.0] * 6)  # period 4, no noise


def constant_network(end: int, quantiles: list[float]) -> Forecast:
    """A stand-in network that always forecasts 25 with bounds 5 either side."""
    point = np.full(4, 25.0)
    return point, {q: point + (5.0 if q > 0.5 else -5.0) for q in quantiles}


def test_backtest_scores_each_method_at_each_origin_and_ranks_them() -> None:
    errors = backtest(["network", "seasonal_naive"], TARGET, [20, 16], 4, 4, constant_network)
    assert errors["network"].shape == (2, 4)
    assert errors["network"][0].tolist() == [15.0, 5.0, -5.0, -15.0]  # 25 - (10, 20, 30, 40)
    assert np.abs(errors["seasonal_naive"]).max() == pytest.approx(0, abs=1e-9)
    assert ranked(errors) == ["seasonal_naive", "network"]
    assert ranked({"network": np.ones((1, 2)), "theta": -np.ones((1, 2))}) == [
        "network",
        "theta",
    ]  # a tie: as listed


def test_a_method_that_cannot_be_fitted_drops_out_of_the_backtest() -> None:
    short = np.arange(1.0, 9.0)  # ETS refuses 4 points: "tiny datasets"
    errors = backtest(["network", "ets", "theta", "combination"], short, [4], 4, 1, constant_network)
    assert set(errors) == {"network", "theta"}


def test_the_combination_averages_network_ets_and_theta() -> None:
    point, bounds = forecast_by("combination", TARGET, 24, 4, 4, [0.1, 0.9], constant_network)
    parts = [
        forecast_by(method, TARGET, 24, 4, 4, [0.1, 0.9], constant_network)
        for method in ("network", "ets", "theta")
    ]
    assert point == pytest.approx(np.mean([part[0] for part in parts], axis=0))
    assert bounds[0.9] == pytest.approx(np.mean([part[1][0.9] for part in parts], axis=0))


def test_bounds_are_widened_to_the_backtest_errors_never_narrowed() -> None:
    point = np.zeros(3)
    bounds = {0.1: np.array([-1.0, -5.0, -1.0]), 0.5: np.zeros(3), 0.9: np.array([1.0, 5.0, 1.0])}
    errors = np.full((2, 3), 2.0)  # root mean square 2: the 0.9 bound is at least 1.2816 x 2
    result = widened(point, bounds, errors)
    assert result[0.9] == pytest.approx([2.5631, 5.0, 2.5631], abs=1e-3)
    assert result[0.1] == pytest.approx([-2.5631, -5.0, -2.5631], abs=1e-3)
    assert result[0.5].tolist() == [0.0, 0.0, 0.0]


def test_statsforecast_is_imported_only_when_a_statistical_method_runs() -> None:
    """Its stack takes about 170 MiB: a server whose models offer no statistical method never loads it."""
    import subprocess
    import sys

    check = "import sys, service.app, forecasting.choice; print('statsforecast' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr
