import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import ClientFactory


def test_classify_returns_label_score_and_both_probabilities(client: TestClient) -> None:
    response = client.post("/v1/sentiment", json={"texts": ["a wonderful film", "dull"]})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "sentiment" and body["version"] == "test-1"
    assert len(body["results"]) == 2
    for result in body["results"]:
        probabilities = result["probabilities"]
        assert set(probabilities) == {"negative", "positive"}
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-6)
        assert result["label"] == max(probabilities, key=probabilities.get)
        assert result["score"] == probabilities[result["label"]]
        assert result["truncated"] is False


def test_named_model_answers_and_marks_truncated_text(client: TestClient) -> None:
    long_text = " ".join(["great"] * 20)  # sentiment-gru keeps 8 tokens
    response = client.post(
        "/v1/sentiment", json={"texts": [long_text, "dull film"], "model": "sentiment-gru"}
    )
    assert response.status_code == 200
    assert response.json()["model"] == "sentiment-gru"
    assert [r["truncated"] for r in response.json()["results"]] == [True, False]


def test_batch_answers_as_single_requests_do(client: TestClient) -> None:
    texts = ["the plot was awful and boring", "great", "it was a superb, moving story " * 5]
    batched = client.post("/v1/sentiment", json={"texts": texts}).json()["results"]
    for text, result in zip(texts, batched, strict=True):
        single = client.post("/v1/sentiment", json={"texts": [text]}).json()["results"][0]
        assert single["probabilities"]["positive"] == pytest.approx(
            result["probabilities"]["positive"], abs=1e-5
        )


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"texts": []}, ["body", "texts"]),
        ({"texts": [""]}, ["body", "texts", 0]),
        ({"texts": ["x" * 20_001]}, ["body", "texts", 0]),
        ({"texts": ["great"] * 65}, ["body", "texts"]),
        ({"texts": "not a list"}, ["body", "texts"]),
        ({"texts": ["great"], "extra": 1}, ["body", "extra"]),
        ({}, ["body", "texts"]),
    ],
)
def test_bad_input_is_422_naming_the_field(
    client: TestClient, body: dict[str, object], loc: list[object]
) -> None:
    response = client.post("/v1/sentiment", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert loc in [detail["loc"] for detail in error["details"]]


def test_text_empty_after_normalization_is_422_not_nan(client: TestClient) -> None:
    response = client.post("/v1/sentiment", json={"texts": ["great", "<br /><br />"]})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"loc": ["body", "texts", 1], "msg": "text is empty after normalization"}
    ]


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/v1/sentiment", content=b'{"texts": [', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


def test_unknown_model_is_404(client: TestClient) -> None:
    response = client.post("/v1/sentiment", json={"texts": ["great"], "model": "nope"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_failed_model_is_503_with_its_reason(client: TestClient) -> None:
    response = client.post("/v1/sentiment", json={"texts": ["great"], "model": "broken"})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "model_not_ready" and "not valid JSON" in error["message"]


def test_unexpected_error_is_500_without_traceback(make_client: ClientFactory) -> None:
    with make_client(raise_server_exceptions=False) as client:
        batcher = client.app.state.registry.entries["sentiment"].batcher  # type: ignore[attr-defined]
        real_forward = batcher.run_batch

        def explode(items: list[object]) -> list[object]:
            raise RuntimeError("secret internal detail")

        batcher.run_batch = explode
        response = client.post(
            "/v1/sentiment", json={"texts": ["great"]}, headers={"X-Request-ID": "req-500"}
        )
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        assert "secret" not in response.text and "Traceback" not in response.text
        assert response.headers["x-request-id"] == "req-500"
        batcher.run_batch = real_forward
        assert (
            client.post("/v1/sentiment", json={"texts": ["great"]}).status_code == 200
        )  # the batcher survived
