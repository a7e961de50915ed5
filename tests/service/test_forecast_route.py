"""POST /v1/forecast on tiny forecasters: shapes, intervals, batching, and every bad input's 4xx."""

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from models.artifact import load_artifact
from service.schemas.forecast import ForecastRequest
from service.tasks.forecast import ForecastPredictor, ForecastRunner
from tests.helpers import write_tiny_forecast_artifact

SEASONAL = [100 + 10 * math.sin(2 * math.pi * t / 12) for t in range(40)]
OHLCV = [[v, v + 2, v - 2, v + 1, 1e6 + 1000 * t] for t, v in enumerate(SEASONAL)]


def test_forecast_returns_the_horizon_and_ordered_bounds(client: TestClient) -> None:
    body = {"history": SEASONAL, "horizon": 5, "quantiles": [0.1, 0.9, 0.5], "method": "network"}
    response = client.post("/v1/forecast", json=body)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "forecast-univariate" and body["version"] == "test-forecast-univariate-1"
    assert body["horizon"] == 5 and len(body["forecast"]) == 5
    assert body["method"] == "network" and body["season"] == 12 and body["backtest_mae"] == {}
    assert set(body["quantiles"]) == {"0.1", "0.9", "0.5"}
    for low, mid, high, point in zip(
        body["quantiles"]["0.1"],
        body["quantiles"]["0.5"],
        body["quantiles"]["0.9"],
        body["forecast"],
        strict=True,
    ):
        assert low < mid < high
        assert mid == pytest.approx(point)  # the tiny card's median offset is 0
    # Bounds widen with the horizon, as the card's offsets do.
    widths = [h - low for low, h in zip(body["quantiles"]["0.1"], body["quantiles"]["0.9"], strict=True)]
    assert widths == sorted(widths)


def test_forecast_without_quantiles_returns_none(client: TestClient) -> None:
    body = client.post("/v1/forecast", json={"history": SEASONAL, "horizon": 1}).json()
    assert body["quantiles"] == {} and len(body["forecast"]) == 1


def test_forecast_follows_the_series_level(client: TestClient) -> None:
    """Windows are normalized: shifting and scaling the history shifts and scales the forecast."""
    base = client.post("/v1/forecast", json={"history": SEASONAL, "horizon": 4, "method": "network"}).json()[
        "forecast"
    ]
    moved = [1000 + 3 * value for value in SEASONAL]
    shifted = client.post("/v1/forecast", json={"history": moved, "horizon": 4, "method": "network"}).json()[
        "forecast"
    ]
    assert shifted == pytest.approx([1000 + 3 * value for value in base], rel=1e-4)


def test_auto_backtests_every_method_and_answers_with_the_best(client: TestClient) -> None:
    """A history that repeats exactly every 12 steps: seasonal naive has no backtest error, so it answers,
    and its forecast is the next season."""
    repeating = [100.0 + (t % 12) * 5 for t in range(60)]
    body = client.post(
        "/v1/forecast", json={"history": repeating, "horizon": 6, "quantiles": [0.1, 0.9]}
    ).json()
    assert body["season"] == 12 and body["method"] == "seasonal_naive"
    assert set(body["backtest_mae"]) == {"network", "seasonal_naive", "ets", "theta", "combination"}
    assert body["backtest_mae"]["seasonal_naive"] == 0 < body["backtest_mae"]["network"]
    assert body["forecast"] == pytest.approx(repeating[:6])
    assert (
        body["quantiles"]["0.1"] == pytest.approx(repeating[:6]) == body["quantiles"]["0.9"]
    )  # no error seen, no width


def test_a_named_method_answers_without_a_backtest(client: TestClient) -> None:
    rising = [float(t) + 3 * (t % 4) for t in range(40)]
    for method in ("network", "seasonal_naive", "ets", "theta", "combination"):
        body = client.post(
            "/v1/forecast", json={"history": rising, "horizon": 4, "quantiles": [0.1], "method": method}
        ).json()
        assert body["method"] == method and body["backtest_mae"] == {} and len(body["forecast"]) == 4
        assert all(
            low <= point for low, point in zip(body["quantiles"]["0.1"], body["forecast"], strict=True)
        )


def test_a_history_shorter_than_the_context_is_padded_down_to_min_history(client: TestClient) -> None:
    """The tiny univariate card has context 8 and min_history 4: 4..7 values are padded back by their
    season."""
    for length in (4, 5, 7):
        body = client.post(
            "/v1/forecast", json={"history": SEASONAL[:length], "horizon": 4, "method": "network"}
        ).json()
        assert len(body["forecast"]) == 4 and all(math.isfinite(value) for value in body["forecast"])
    # Too short to hold out a horizon and keep min_history: the card's first method answers, without a
    # backtest.
    body = client.post("/v1/forecast", json={"history": SEASONAL[:6], "horizon": 4}).json()
    assert body["method"] == "network" and body["backtest_mae"] == {}
    code, error = _error(client, {"history": SEASONAL[:3], "horizon": 2})
    assert code == 422 and "needs at least 4" in error["message"]


def test_a_named_statistical_method_that_cannot_fit_the_history_is_a_422(client: TestClient) -> None:
    code, error = _error(client, {"history": [1.0, 2.0, 3.0, 4.0], "horizon": 2, "method": "ets"})
    assert code == 422 and "ets cannot be fitted to this history" in error["message"]
    assert error["details"][0]["loc"] == ["body", "method"]
    for history in (
        [5.0] * 40,
        [0.0] * 30 + [1.0] * 10,
        [-100.0 - t for t in range(40)],
        [1e-12 * (t % 3) for t in range(40)],
    ):
        response = client.post(
            "/v1/forecast", json={"history": history, "horizon": 6, "quantiles": [0.1, 0.9]}
        )
        assert response.status_code == 200, response.text  # flat, stepped, negative, tiny: auto still answers


def test_multivariate_model_takes_rows(client: TestClient) -> None:
    response = client.post(
        "/v1/forecast",
        json={"model": "forecast-ohlcv", "history": OHLCV, "horizon": 3, "quantiles": [0.05, 0.95]},
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["forecast"]) == 3 and len(response.json()["quantiles"]["0.95"]) == 3


def test_recursive_model_forecasts_past_its_context(client: TestClient) -> None:
    body = client.post(
        "/v1/forecast", json={"model": "forecast-sine", "history": SEASONAL, "horizon": 50}
    ).json()
    assert len(body["forecast"]) == 50 and all(math.isfinite(value) for value in body["forecast"])


def test_model_detail_shows_the_forecast_io_and_a_working_example(client: TestClient) -> None:
    detail = client.get("/v1/models/forecast-ohlcv").json()
    io = detail["card"]["io"]
    assert io["features"] == ["Open", "High", "Low", "Close", "Volume"] and io["target"] == "Close"
    assert io["context_length"] == 8 and io["max_horizon"] == 3 and "0.1" in io["quantiles"]
    response = client.post("/v1/forecast", json=detail["example_request"])
    assert response.status_code == 200, response.text


def _error(client: TestClient, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = client.post("/v1/forecast", json=body)
    return response.status_code, response.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "loc_start"),
    [
        ({"history": SEASONAL[:3], "horizon": 2}, 422, ["body", "history"]),  # shorter than min_history (4)
        (
            {"model": "forecast-ohlcv", "history": OHLCV[:5], "horizon": 2},
            422,
            ["body", "history"],
        ),  # < context, no min
        (
            {"model": "forecast-ohlcv", "history": OHLCV, "horizon": 2, "method": "ets"},
            422,
            ["body", "method"],
        ),
        ({"history": SEASONAL, "horizon": 2, "method": "arima"}, 422, ["body", "method"]),
        # past the network's reach (the card's max_horizon 6), named
        ({"history": SEASONAL, "horizon": 7, "method": "network"}, 422, ["body", "horizon"]),
        ({"history": SEASONAL, "horizon": 7, "method": "combination"}, 422, ["body", "horizon"]),
        # past the reach of a model that offers nothing but its network
        ({"model": "forecast-ohlcv", "history": OHLCV, "horizon": 4}, 422, ["body", "horizon"]),
        ({"history": SEASONAL, "horizon": 2, "season": 0}, 422, ["body", "season"]),
        ({"history": SEASONAL, "horizon": 2, "frequency": "fortnight"}, 422, ["body", "frequency"]),
        ({"history": SEASONAL, "horizon": 0}, 422, ["body", "horizon"]),
        ({"history": SEASONAL, "horizon": 1001}, 422, ["body", "horizon"]),  # beyond the schema's ceiling
        ({"history": [1.0] * 10_001, "horizon": 1}, 422, ["body", "history"]),
        ({"history": [], "horizon": 1}, 422, ["body", "history"]),
        (
            {"history": SEASONAL, "horizon": 2, "quantiles": [0.3]},
            422,
            ["body", "quantiles", 0],
        ),  # not offered
        ({"history": SEASONAL, "horizon": 2, "quantiles": [1.5]}, 422, ["body", "quantiles", 0]),
        ({"history": SEASONAL, "horizon": 2, "quantiles": [0.1, 0.1]}, 422, ["body", "quantiles"]),
        ({"history": [[1.0, 2.0]] * 4 + [[1.0]] * 6, "horizon": 2}, 422, ["body", "history"]),  # ragged rows
        (
            {"history": [[1.0]] * 5 + [2.0] * 5, "horizon": 2},
            422,
            ["body", "history"],
        ),  # rows and numbers mixed
        ({"history": OHLCV, "horizon": 2}, 422, ["body", "history"]),  # rows for a one-feature model
        (
            {"model": "forecast-ohlcv", "history": SEASONAL, "horizon": 2},
            422,
            ["body", "history"],
        ),  # numbers, not rows
        ({"history": ["a"] * 10, "horizon": 2}, 422, ["body", "history"]),
        ({"history": SEASONAL, "horizon": 2, "model": "sentiment"}, 422, []),  # another task's model
        ({"history": SEASONAL, "horizon": 2, "model": "nope"}, 404, []),
        ({"history": SEASONAL, "horizon": 2, "extra": 1}, 422, ["body", "extra"]),
    ],
)
def test_bad_forecast_requests_get_a_clear_error(
    client: TestClient, body: dict[str, Any], status: int, loc_start: list[str | int]
) -> None:
    code, error = _error(client, body)
    assert code == status
    assert error["code"] == ("model_not_found" if status == 404 else "invalid_input")
    if loc_start:
        assert any(detail["loc"][: len(loc_start)] == loc_start for detail in error["details"]), error


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused_with_the_field_named(client: TestClient, literal: str) -> None:
    values = ", ".join(["1.0"] * 9 + [literal])
    response = client.post(
        "/v1/forecast",
        content=f'{{"history": [{values}], "horizon": 2}}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert any(detail["loc"][:3] == ["body", "history", 9] for detail in details), details


def test_batched_forecasts_equal_single_ones(tmp_path: Path) -> None:
    for name, multi_step in (("direct", "direct"), ("recursive", "recursive")):
        artifact = load_artifact(
            write_tiny_forecast_artifact(tmp_path, name, ["value"], "value", multi_step, max_horizon=12)
        )
        runner = ForecastRunner(artifact, torch.device("cpu"))
        predictor = ForecastPredictor(runner)
        histories = [[10.0 + ((t * (k + 3)) % 7) * (k + 1) for t in range(8 + k)] for k in range(5)]
        requests = [
            ForecastRequest(history=history, horizon=2 + 2 * k, quantiles=[0.1])
            for k, history in enumerate(histories)
        ]
        items = [predictor.preprocess(request).items[0] for request in requests]
        batched = runner.forward(items)
        for item, together in zip(items, batched, strict=True):
            [alone] = runner.forward([item])
            assert len(together.forecast) == item.horizon
            assert together.forecast == pytest.approx(alone.forecast, abs=1e-5)
            assert together.scale == pytest.approx(alone.scale, abs=1e-5)


def test_auto_past_the_networks_reach_answers_by_a_statistical_method(client: TestClient) -> None:
    history = SEASONAL * 3  # 120 points, a season of 12
    body = {"history": history, "horizon": 48, "quantiles": [0.1, 0.9]}
    response = client.post("/v1/forecast", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["method"] in {"seasonal_naive", "ets", "theta"} and len(answer["forecast"]) == 48
    assert set(answer["backtest_mae"]) <= {"seasonal_naive", "ets", "theta"}  # the network was no candidate
    assert all(len(bound) == 48 for bound in answer["quantiles"].values())
    named = client.post("/v1/forecast", json={**body, "method": "theta"})
    assert named.status_code == 200 and named.json()["method"] == "theta"


def test_the_network_past_its_reach_is_a_422_that_says_the_reach(client: TestClient) -> None:
    code, error = _error(client, {"history": SEASONAL, "horizon": 7, "method": "network"})
    assert code == 422
    assert error["message"] == (
        "horizon 7 is past the reach of model 'forecast-univariate''s network (6 steps); for longer "
        "horizons: method auto or one of ['seasonal_naive', 'ets', 'theta']"
    )


@pytest.mark.parametrize(
    ("given", "season", "source"),
    [
        ({}, 12, "estimated"),
        ({"frequency": "quarter"}, 4, "given"),
        ({"frequency": "Q"}, 4, "given"),
        ({"frequency": "week"}, 52, "given"),
        ({"frequency": "minute"}, 12, "estimated"),  # no season holds for minutes: estimated
        ({"season": 6, "frequency": "month"}, 6, "given"),  # a season given wins
        ({"season": 1}, 1, "given"),
    ],
)
def test_the_season_is_given_by_the_request_or_estimated(
    client: TestClient, given: dict[str, Any], season: int, source: str
) -> None:
    body = {"history": SEASONAL * 2, "horizon": 4, "method": "seasonal_naive", **given}
    answer = client.post("/v1/forecast", json=body).json()
    assert answer["season"] == season and answer["season_source"] == source
