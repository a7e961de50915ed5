"""Health, readiness, models listing, errors shared by every route, auth, CORS, limits, logs and metrics."""

import json
import logging
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.runtime import versions as versions_module
from service.settings import Settings
from tests.service.conftest import ClientFactory, wait_until_ready


def test_liveness_answers(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readiness_is_503_while_loading_then_200_despite_a_broken_extra(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real_load = versions_module.load_artifact

    def slow_load(path: Path) -> object:
        release.wait(timeout=10)
        return real_load(path)

    monkeypatch.setattr(versions_module, "load_artifact", slow_load)
    with make_client(ready=False) as client:
        loading = client.get("/readyz")
        assert loading.status_code == 503 and loading.json()["ready"] is False
        assert {m["status"] for m in loading.json()["models"]} == {"loading"}
        assert client.get("/healthz").status_code == 200  # live while loading
        release.set()
        wait_until_ready(client)
        body = client.get("/readyz").json()
        assert body["ready"] is True
        statuses = {model["name"]: model["status"] for model in body["models"]}
        assert statuses == {
            "broken": "failed",
            "lm-ptb": "ready",
            "sentiment": "ready",
            "sentiment-gru": "ready",
            "forecast-univariate": "ready",
            "forecast-ohlcv": "ready",
            "forecast-sine": "ready",
        }


def test_readiness_stays_503_while_the_default_model_has_failed(make_client: ClientFactory) -> None:
    with make_client(ready=False, default_models={"sentiment": "sentiment-gru"}) as client:
        registry = client.app.state.registry  # type: ignore[attr-defined]
        wait_until_ready(client)
        registry.entries["sentiment-gru"].status = registry.entries["broken"].status  # the default fails
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json()["ready"] is False


def test_models_list_shows_card_device_status_and_default(client: TestClient) -> None:
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert models["sentiment"]["status"] == "ready" and models["sentiment"]["device"] == "cpu"
    assert models["sentiment"]["default"] is True and models["sentiment-gru"]["default"] is False
    assert models["sentiment"]["card"]["arch"]["type"] == "SentimentClassifier"
    assert models["broken"]["status"] == "failed" and "not valid JSON" in models["broken"]["reason"]


def test_model_detail_has_an_example_request_that_works(client: TestClient) -> None:
    detail = client.get("/v1/models/sentiment").json()
    assert detail["task"] == "sentiment" and detail["version"] == "test-1"
    assert client.post("/v1/sentiment", json=detail["example_request"]).status_code == 200


def test_model_detail_unknown_is_404(client: TestClient) -> None:
    response = client.get("/v1/models/nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"


def test_unknown_route_uses_the_error_shape(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_body_over_the_limit_is_413(make_client: ClientFactory) -> None:
    with make_client(max_body_bytes=2048) as client:
        response = client.post("/v1/sentiment", json={"texts": ["x" * 3000]})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"


def test_chunked_body_over_the_limit_is_413(make_client: ClientFactory) -> None:
    with make_client(max_body_bytes=2048) as client:
        chunks = iter([b'{"texts": ["', b"x" * 3000, b'"]}'])
        response = client.post("/v1/sentiment", content=chunks, headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"


def test_api_key_guards_v1_but_not_health_metrics_or_docs(make_client: ClientFactory) -> None:
    with make_client(api_key="s3cret") as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            response = client.post("/v1/sentiment", json={"texts": ["great"]}, headers=headers)
            assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
        assert client.get("/v1/models").status_code == 401
        ok = client.post(
            "/v1/sentiment", json={"texts": ["great"]}, headers={"Authorization": "Bearer s3cret"}
        )
        assert ok.status_code == 200
        for open_path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
            assert client.get(open_path).status_code == 200, open_path


def test_api_key_is_checked_before_the_body_is_read(make_client: ClientFactory) -> None:
    with make_client(api_key="s3cret") as client:
        broken = client.post(
            "/v1/sentiment", content=b'{"texts": [', headers={"Content-Type": "application/json"}
        )
        assert broken.status_code == 401 and broken.json()["error"]["code"] == "unauthorized"
        assert broken.headers["www-authenticate"] == "Bearer"
        authorized = {"Content-Type": "application/json", "Authorization": "Bearer s3cret"}
        assert client.post("/v1/sentiment", content=b'{"texts": [', headers=authorized).status_code == 422


def test_openapi_declares_the_bearer_key_on_versioned_routes_only_when_one_is_set(
    make_client: ClientFactory,
) -> None:
    with make_client(api_key="s3cret") as client:
        schema = client.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
        assert schema["paths"]["/v1/sentiment"]["post"]["security"] == [{"apiKey": []}]
        assert "security" not in schema["paths"]["/healthz"]["get"]
    with make_client() as client:
        assert "security" not in client.get("/openapi.json").json()["paths"]["/v1/sentiment"]["post"]


def test_cors_preflight_is_answered_while_a_key_is_set(make_client: ClientFactory) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    with make_client(api_key="s3cret", cors_origins="https://app.example") as client:
        response = client.options("/v1/sentiment", headers=preflight)
        assert (
            response.status_code == 200
            and response.headers["access-control-allow-origin"] == "https://app.example"
        )


def test_cors_is_off_by_default_and_on_for_listed_origins(make_client: ClientFactory) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    with make_client() as client:
        assert "access-control-allow-origin" not in client.options("/v1/sentiment", headers=preflight).headers
    with make_client(cors_origins="https://app.example") as client:
        response = client.options("/v1/sentiment", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://app.example"


def test_request_id_is_echoed_or_made_and_logs_carry_sizes_not_text(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("rnnserve")
    logger.addHandler(caplog.handler)
    try:
        response = client.post(
            "/v1/sentiment", json={"texts": ["a secretive review"]}, headers={"X-Request-ID": "trace-42"}
        )
        generated = client.get("/healthz").headers["x-request-id"]
    finally:
        logger.removeHandler(caplog.handler)
    assert response.headers["x-request-id"] == "trace-42"
    assert len(generated) == 32
    access = [
        r for r in caplog.records if r.name == "rnnserve.access" and r.fields["request_id"] == "trace-42"
    ]  # type: ignore[attr-defined]
    assert len(access) == 1
    fields = access[0].fields  # type: ignore[attr-defined]
    assert fields["status"] == 200 and fields["texts"] == 1 and fields["chars"] == len("a secretive review")
    assert "secretive" not in json.dumps(fields)


def test_metrics_count_requests_and_time_forward_passes(client: TestClient) -> None:
    client.post("/v1/sentiment", json={"texts": ["great", "dull film"]})
    text = client.get("/metrics").text
    assert 'rnnserve_requests_total{method="POST",route="/v1/sentiment",status="200"}' in text
    assert 'rnnserve_request_seconds_count{route="/v1/sentiment"}' in text
    assert 'rnnserve_forward_seconds_count{device="cpu",model="sentiment"}' in text
    assert 'rnnserve_batch_positions_total{kind="padding",model="sentiment"}' in text
    assert 'rnnserve_queue_wait_seconds_count{device="cpu",model="sentiment"}' in text


def test_every_stage_of_an_inference_is_timed_per_model(client: TestClient) -> None:
    client.post("/v1/next-word", json={"text": "the company said"})
    client.post("/v1/forecast", json={"history": [float(i % 12) for i in range(40)], "horizon": 3})
    text = client.get("/metrics").text
    for model in ("lm-ptb", "forecast-univariate"):
        for stage in ("preprocess", "queue_wait", "forward", "postprocess"):
            line = next(
                line
                for line in text.splitlines()
                if line.startswith(f'rnnserve_{stage}_seconds_count{{device="cpu",model="{model}"}}')
            )
            assert float(line.split()[-1]) >= 1, line


def test_openapi_documents_the_error_shape(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    responses = schema["paths"]["/v1/sentiment"]["post"]["responses"]
    for status in ("401", "404", "413", "422", "429", "503", "504", "500"):
        assert (
            responses[status]["content"]["application/json"]["schema"]["$ref"]
            == "#/components/schemas/ErrorResponse"
        )
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_request_timeout_header_must_be_positive(client: TestClient) -> None:
    response = client.post("/v1/sentiment", json={"texts": ["great"]}, headers={"X-Request-Timeout": "-1"})
    assert response.status_code == 422


def test_passed_deadline_is_504(client: TestClient) -> None:
    response = client.post("/v1/sentiment", json={"texts": ["great"]}, headers={"X-Request-Timeout": "1e-9"})
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "deadline_exceeded"


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu"])
def test_settings_refuse_an_unknown_device(device: str) -> None:
    with pytest.raises(ValueError, match="device must be"):
        Settings(device=device)


def test_full_queue_is_429_with_retry_after(make_client: ClientFactory) -> None:
    with make_client(queue_size=2) as client:
        response = client.post("/v1/sentiment", json={"texts": ["great", "dull", "awful"]})
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "queue_full"
        assert client.post("/v1/sentiment", json={"texts": ["great", "dull"]}).status_code == 200
