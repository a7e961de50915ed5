"""Integration: the committed default language model, served through the whole app."""

from fastapi.testclient import TestClient


def test_committed_card_records_the_perplexity_bar(committed_client: TestClient) -> None:
    card = committed_client.get("/v1/models/lm-ptb").json()["card"]
    assert card["metrics"]["test_perplexity"] <= 115
    assert card["data"]["vocabulary"] == 10_000


def test_the_model_knows_wall_street(committed_client: TestClient) -> None:
    body = committed_client.post("/v1/next-word", json={"text": "the new york stock", "top_k": 5}).json()
    assert "exchange" in [p["word"] for p in body["predictions"]]


def test_news_scores_lower_perplexity_than_shuffled_words(committed_client: TestClient) -> None:
    def perplexity(text: str) -> float:
        return committed_client.post("/v1/perplexity", json={"text": text}).json()["perplexity"]  # type: ignore[no-any-return]

    assert perplexity("the company said it expects a loss in the third quarter") < perplexity(
        "quarter loss third it the a expects said in company the"
    )
