"""Integration: the committed forecasters, served through the whole app."""

import math

from fastapi.testclient import TestClient

# Airline passengers 1955-1958 (thousands, Box & Jenkins): four seasons of a growing, seasonal series.
AIRLINE_1955_1958 = [
    242, 233, 267, 269, 270, 315, 364, 347, 312, 274, 237, 278,
    284, 277, 317, 313, 318, 374, 413, 405, 355, 306, 271, 306,
    315, 301, 356, 348, 355, 422, 465, 467, 404, 347, 305, 336,
    340, 318, 362, 348, 363, 435, 491, 505, 404, 359, 310, 337,
]  # fmt: skip


def forecast_models(client: TestClient) -> list[str]:
    return [m["name"] for m in client.get("/v1/models").json()["models"] if m["task"] == "forecast"]


def test_the_default_forecaster_is_univariate_and_records_its_bar(committed_client: TestClient) -> None:
    detail = committed_client.get("/v1/models/forecast-univariate").json()
    assert detail["default"] is True and detail["status"] == "ready"
    metrics = detail["card"]["metrics"]
    beaten = [key for key in metrics if key.startswith("test_relative_mae_") and metrics[key] <= 1.0]
    assert len(beaten) >= 3, metrics


def test_the_default_forecaster_carries_a_season_forward(committed_client: TestClient) -> None:
    response = committed_client.post(
        "/v1/forecast", json={"history": AIRLINE_1955_1958, "horizon": 12, "quantiles": [0.1, 0.9]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    forecast = body["forecast"]
    assert len(forecast) == 12 and all(math.isfinite(value) for value in forecast)
    # 1959's summer peak is above its winter trough, as every year before it.
    assert max(forecast[5:8]) > max(forecast[0:2]) + 50
    assert all(
        low < high for low, high in zip(body["quantiles"]["0.1"], body["quantiles"]["0.9"], strict=True)
    )


def test_every_committed_forecaster_answers_its_example(committed_client: TestClient) -> None:
    names = forecast_models(committed_client)
    assert "forecast-univariate" in names
    for name in names:
        example = committed_client.get(f"/v1/models/{name}").json()["example_request"]
        response = committed_client.post("/v1/forecast", json=example)
        assert response.status_code == 200, (name, response.text)
        assert len(response.json()["forecast"]) == example["horizon"]


def test_the_default_forecaster_estimates_the_season_and_its_network_alone_carries_it(
    committed_client: TestClient,
) -> None:
    body = {"history": AIRLINE_1955_1958, "horizon": 12, "method": "network"}
    answer = committed_client.post("/v1/forecast", json=body).json()
    assert answer["method"] == "network" and answer["season"] == 12 and answer["backtest_mae"] == {}
    assert max(answer["forecast"][5:8]) > max(answer["forecast"][0:2]) + 50
    auto = committed_client.post("/v1/forecast", json={"history": AIRLINE_1955_1958, "horizon": 12}).json()
    assert auto["method"] in auto["backtest_mae"] and set(auto["backtest_mae"]) == {
        "network", "seasonal_naive", "ets", "theta", "combination"
    }  # fmt: skip
    assert auto["backtest_mae"][auto["method"]] == min(auto["backtest_mae"].values())


def test_the_default_forecaster_takes_histories_down_to_16_points(committed_client: TestClient) -> None:
    answer = committed_client.post("/v1/forecast", json={"history": AIRLINE_1955_1958[-16:], "horizon": 6})
    assert answer.status_code == 200 and len(answer.json()["forecast"]) == 6
    refused = committed_client.post("/v1/forecast", json={"history": AIRLINE_1955_1958[-15:], "horizon": 6})
    assert refused.status_code == 422 and "needs at least 16" in refused.json()["error"]["message"]
