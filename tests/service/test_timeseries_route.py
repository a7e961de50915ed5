"""KServe's time-series API (/v1/timeseries): several named series per request, answers and errors checked
with KServe's own pydantic models (kserve.protocol.rest.timeseries.types)."""

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.tasks.timeseries import after_steps

kserve_types = pytest.importorskip(
    "kserve.protocol.rest.timeseries.types", reason="kserve is absent: the dev extra has it"
)
from datetime import datetime  # noqa: E402

SEASONAL = [100 + 10 * math.sin(2 * math.pi * t / 12) for t in range(48)]
OHLCV = [[v, v + 2, v - 2, v + 1, 1e6 + 1000 * t] for t, v in enumerate(SEASONAL)]


def series(name: str, values: list[Any], **extra: Any) -> dict[str, Any]:
    kind = "multivariate_time_series" if isinstance(values[0], list) else "univariate_time_series"
    return {"type": kind, "name": name, "series": values, "frequency": "month", **extra}


def test_several_named_series_are_answered_in_kserves_shape(client: TestClient) -> None:
    body = {
        "model": "forecast-univariate",
        "inputs": [
            series("sales", SEASONAL, start_timestamp="2020-01-31T00:00:00"),
            series("visits", [2 * v for v in SEASONAL]),
        ],
        "options": {"horizon": 6, "quantiles": [0.1, 0.9]},
    }
    kserve_types.ForecastRequest.model_validate(body)  # what we accept is what KServe's clients send
    response = client.post("/v1/timeseries/forecast", json=body)
    assert response.status_code == 200, response.text
    answer = kserve_types.ForecastResponse.model_validate(response.json())
    assert answer.status == "completed" and answer.model == "forecast-univariate"
    sales, visits = (output.content[0] for output in answer.outputs)
    assert sales.name == "sales" and len(sales.mean_forecast) == 6 and set(sales.quantiles) == {"0.1", "0.9"}
    assert sales.start_timestamp == "2024-01-31T00:00:00"  # 48 months after January 2020
    assert visits.start_timestamp == ""  # no start given
    # The same forecast /v1/forecast gives, with the season the month implies.
    same = client.post(
        "/v1/forecast",
        json={"history": SEASONAL, "horizon": 6, "quantiles": [0.1, 0.9], "frequency": "month"},
    ).json()
    assert sales.mean_forecast == pytest.approx(same["forecast"])


def test_a_series_at_fault_gets_its_own_error_and_the_others_are_answered(client: TestClient) -> None:
    body = {
        "model": "forecast-univariate",
        "inputs": [series("fine", SEASONAL), series("short", SEASONAL[:2]), series("rows", OHLCV)],
        "options": {"horizon": 3},
    }
    answer = kserve_types.ForecastResponse.model_validate(
        client.post("/v1/timeseries/forecast", json=body).json()
    )
    assert answer.status == "partial"
    fine, short, rows = answer.outputs
    assert fine.status == "completed" and short.status == rows.status == "error"
    assert short.error.code == "400" and short.error.param == "inputs.1.series"
    assert "needs at least 4" in short.error.message and short.error.type == "invalid_input"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "nope", "inputs": [series("a", SEASONAL)], "options": {"horizon": 2}}, 404, None),
        ({"model": "sentiment", "inputs": [series("a", SEASONAL)], "options": {"horizon": 2}}, 400, None),
        ({"model": "forecast-univariate", "inputs": [], "options": {"horizon": 2}}, 400, "inputs"),
        (
            {"model": "forecast-univariate", "inputs": [series("a", SEASONAL)], "options": {"horizon": 0}},
            400,
            "options.horizon",
        ),
        (
            {
                "model": "forecast-univariate",
                "inputs": [{**series("a", SEASONAL), "frequency": "fortnight"}],
                "options": {"horizon": 2},
            },
            400,
            "inputs.0.frequency",
        ),
    ],
)
def test_bad_requests_are_kserves_error_shape(
    client: TestClient, body: dict[str, Any], status: int, param: str | None
) -> None:
    response = client.post("/v1/timeseries/forecast", json=body)
    assert response.status_code == status
    error = kserve_types.ErrorResponse.model_validate(response.json()).error
    assert error.code == str(status) and error.message
    if param is not None:
        assert error.param == param


def test_a_bad_start_timestamp_is_that_series_error(client: TestClient) -> None:
    body = {
        "model": "forecast-univariate",
        "inputs": [series("a", SEASONAL, start_timestamp="last tuesday")],
        "options": {"horizon": 2},
    }
    answer = client.post("/v1/timeseries/forecast", json=body).json()
    assert (
        answer["status"] == "error" and answer["outputs"][0]["error"]["param"] == "inputs.0.start_timestamp"
    )


def test_the_models_route_lists_the_forecast_models(client: TestClient) -> None:
    names = client.get("/v1/timeseries/models").json()
    assert set(names) == {"forecast-univariate", "forecast-ohlcv", "forecast-sine"}


@pytest.mark.parametrize(
    ("start", "frequency", "steps", "expected"),
    [
        ("2020-01-31T00:00:00", "M", 1, "2020-02-29T00:00:00"),
        ("2020-11-30T00:00:00", "quarter", 1, "2021-02-28T00:00:00"),
        ("2020-02-29T12:00:00", "Y", 1, "2021-02-28T12:00:00"),
        ("2020-01-01T00:00:00+00:00", "H", 25, "2020-01-02T01:00:00+00:00"),
        ("2020-01-01T00:00:00", "W", 2, "2020-01-15T00:00:00"),
    ],
)
def test_steps_follow_the_calendar(start: str, frequency: str, steps: int, expected: str) -> None:
    assert after_steps(datetime.fromisoformat(start), frequency, steps).isoformat() == expected


def test_a_ragged_series_is_that_series_error(client: TestClient) -> None:
    body = {
        "model": "forecast-ohlcv",
        "inputs": [series("ragged", [[1.0] * 5, [1.0] * 4] * 10), series("fine", OHLCV)],
        "options": {"horizon": 2},
    }
    answer = client.post("/v1/timeseries/forecast", json=body).json()
    ragged, fine = answer["outputs"]
    assert answer["status"] == "partial" and fine["status"] == "completed"
    assert ragged["error"]["param"] == "inputs.0.series" and "ragged" in ragged["error"]["message"]
