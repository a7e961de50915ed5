"""Integration: the committed default sentiment artifact, served through the whole app."""

import pytest
from fastapi.testclient import TestClient


def classify(client: TestClient, texts: list[str]) -> list[dict[str, object]]:
    response = client.post("/v1/sentiment", json={"texts": texts})
    assert response.status_code == 200
    return response.json()["results"]  # type: ignore[no-any-return]


def test_committed_card_records_the_accuracy_bar(committed_client: TestClient) -> None:
    card = committed_client.get("/v1/models/sentiment").json()["card"]
    assert card["metrics"]["test_accuracy"] >= 0.88
    assert card["data"]["splits"]["test"] == 25_000


def test_obvious_reviews_get_the_obvious_label(committed_client: TestClient) -> None:
    positive, negative = classify(
        committed_client, ["an absolute masterpiece, wonderful acting", "boring, awful, a waste of two hours"]
    )
    assert positive["label"] == "positive"
    assert negative["label"] == "negative"


def test_batch_equals_single_requests_within_1e5(committed_client: TestClient) -> None:
    texts = [
        "Not bad at all.",
        "I expected more from this director; the second half drags and the ending is a mess. " * 3,
        "A quiet, moving film.<br /><br />The cast is superb and the score stays with you.",
        "Worst. Movie. Ever.",
        "It has its moments, but mostly it is forgettable. " * 12,
    ]
    batched = classify(committed_client, texts)
    for text, result in zip(texts, batched, strict=True):
        (single,) = classify(committed_client, [text])
        for label, probability in single["probabilities"].items():  # type: ignore[attr-defined]
            assert probability == pytest.approx(result["probabilities"][label], abs=1e-5)  # type: ignore[index]
