import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from fastapi.testclient import TestClient

from models.artifact import load_artifact


def test_next_word_returns_top_k_with_context_and_unknown_words(client: TestClient) -> None:
    response = client.post("/v1/next-word", json={"text": "The company's Zorblax said", "top_k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "lm-ptb" and body["version"] == "test-lm-1"
    assert body["context"] == ["the", "company", "'s", "<unk>", "said"]
    assert body["unknown_words"] == ["zorblax"]
    probabilities = [p["probability"] for p in body["predictions"]]
    assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
    assert not {"<unk>", "<eos>"} & {p["word"] for p in body["predictions"]}


def test_next_word_probabilities_are_the_models(client: TestClient, artifacts_dir: object) -> None:
    artifact = load_artifact(artifacts_dir / "lm-ptb")  # type: ignore[operator]
    vocabulary = artifact.tokenizer.get_vocab()  # type: ignore[union-attr]
    ids = [vocabulary[w] for w in ["<eos>", "the", "company"]]
    with torch.inference_mode():
        logits, _ = artifact.model(torch.tensor([ids]))
    expected = F.softmax(logits[0, -1], dim=-1)
    (first,) = client.post("/v1/next-word", json={"text": "the company", "top_k": 1}).json()["predictions"]
    assert first["probability"] == pytest.approx(expected[vocabulary[first["word"]]].item(), abs=1e-6)


def test_perplexity_is_exp_of_the_mean_nll_from_eos_to_eos(client: TestClient, artifacts_dir: object) -> None:
    artifact = load_artifact(artifacts_dir / "lm-ptb")  # type: ignore[operator]
    vocabulary = artifact.tokenizer.get_vocab()  # type: ignore[union-attr]
    words = ["the", "company", "said", "it", "expects", "a", "loss"]
    ids = [vocabulary["<eos>"]] + [vocabulary[w] for w in words] + [vocabulary["<eos>"]]
    with torch.inference_mode():
        logits, _ = artifact.model(torch.tensor([ids[:-1]]))
    nll = F.cross_entropy(logits[0], torch.tensor(ids[1:])).item()
    body = client.post("/v1/perplexity", json={"text": "The company said it expects a loss."}).json()
    assert body["token_count"] == 8 and body["unknown_count"] == 0
    assert body["perplexity"] == pytest.approx(math.exp(nll), rel=1e-5)


def test_perplexity_counts_unknown_words(client: TestClient) -> None:
    body = client.post("/v1/perplexity", json={"text": "the zorblax company"}).json()
    assert body["token_count"] == 4 and body["unknown_count"] == 1


def generate(client: TestClient, **fields: object) -> dict[str, object]:
    response = client.post(
        "/v1/generate", json={"prompt": "the company said", "max_new_tokens": 12, **fields}
    )
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_the_same_seed_gives_the_same_text(client: TestClient) -> None:
    first = generate(client, seed=7, temperature=0.9, top_k=5)
    assert first == generate(client, seed=7, temperature=0.9, top_k=5)
    assert len(first["tokens"]) == 12 and first["seed"] == 7  # type: ignore[arg-type]
    assert "<unk>" not in first["tokens"]  # type: ignore[operator]
    others = {tuple(generate(client, seed=seed, temperature=1.0)["tokens"]) for seed in range(5)}  # type: ignore[arg-type]
    assert len(others) > 1


def test_temperature_zero_is_greedy_whatever_the_seed(client: TestClient) -> None:
    assert (
        generate(client, seed=1, temperature=0)["tokens"] == generate(client, seed=2, temperature=0)["tokens"]
    )


def test_eos_is_shown_as_a_line_break(client: TestClient) -> None:
    for seed in range(20):
        body = generate(client, seed=seed, temperature=2.0)
        if "<eos>" in body["tokens"]:  # type: ignore[operator]
            assert "<eos>" not in body["generated_text"] and "\n" in body["generated_text"]  # type: ignore[operator]
            return
    pytest.fail("no seed produced <eos>")


def test_streamed_generation_equals_unstreamed(client: TestClient) -> None:
    request = {
        "prompt": "the company said",
        "max_new_tokens": 10,
        "seed": 11,
        "temperature": 0.8,
        "top_k": 10,
    }
    plain = client.post("/v1/generate", json=request).json()
    with client.stream("POST", "/v1/generate", json={**request, "stream": True}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith(
            "text/event-stream"
        )
        events = [
            json.loads(line.removeprefix("data: "))
            for line in response.iter_lines()
            if line.startswith("data: ")
        ]
    assert [event["token"]["text"] for event in events] == plain["tokens"]
    assert [event["generated_text"] for event in events[:-1]] == [None] * 9
    assert events[-1]["generated_text"] == plain["generated_text"]


def test_empty_prompt_starts_a_new_sentence(client: TestClient) -> None:
    assert len(generate(client, prompt="", seed=3)["tokens"]) == 12  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/v1/next-word", {"text": ""}, ["body", "text"]),
        ("/v1/next-word", {"text": "?!, ..."}, ["body", "text"]),
        ("/v1/next-word", {"text": "zorblax quux"}, ["body", "text"]),
        ("/v1/next-word", {"text": "the", "top_k": 0}, ["body", "top_k"]),
        ("/v1/next-word", {"text": "the", "top_k": 51}, ["body", "top_k"]),
        ("/v1/next-word", {"text": "the " * 600}, ["body", "text"]),
        ("/v1/perplexity", {"text": ""}, ["body", "text"]),
        ("/v1/perplexity", {"text": "zorblax"}, ["body", "text"]),
        ("/v1/generate", {"prompt": "the", "temperature": -0.1}, ["body", "temperature"]),
        ("/v1/generate", {"prompt": "the", "temperature": 5.1}, ["body", "temperature"]),
        ("/v1/generate", {"prompt": "the", "max_new_tokens": 0}, ["body", "max_new_tokens"]),
        ("/v1/generate", {"prompt": "the", "max_new_tokens": 201}, ["body", "max_new_tokens"]),
        ("/v1/generate", {"prompt": "x" * 2001}, ["body", "prompt"]),
        ("/v1/generate", {"prompt": "the", "top_k": -1}, ["body", "top_k"]),
        ("/v1/generate", {"prompt": "the", "seed": -5}, ["body", "seed"]),
    ],
)
def test_bad_language_model_input_is_422_naming_the_field(
    client: TestClient, path: str, body: dict[str, object], loc: list[object]
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and loc in [d["loc"] for d in error["details"]]


def test_a_sentiment_model_named_for_a_language_task_is_422(client: TestClient) -> None:
    response = client.post("/v1/next-word", json={"text": "the company", "model": "sentiment"})
    assert response.status_code == 422 and "sentiment model" in response.json()["error"]["message"]


def test_non_finite_temperature_is_422(client: TestClient) -> None:
    response = client.post(
        "/v1/generate",
        content=b'{"prompt": "the", "temperature": NaN}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422


def test_next_word_batched_equals_single_within_1e5(artifacts_dir: object) -> None:
    from service.tasks.language_model.runner import LanguageModelRunner

    predictor = LanguageModelRunner(load_artifact(artifacts_dir / "lm-ptb"), torch.device("cpu"))  # type: ignore[operator]
    items = [
        predictor.next_word_item(predictor.context(text, "text"))
        for text in ("the company said", "a loss", "mr. smith said it")
    ]
    batched = predictor.forward(items)
    for item, output in zip(items, batched, strict=True):
        (single,) = predictor.forward([item])
        assert_same_ranking(output.top, single.top)


def assert_same_ranking(
    batched: list[tuple[int, float]] | None, single: list[tuple[int, float]] | None
) -> None:
    """The next-word ranking of a row in a batch equals its own: the same top words, probabilities within
    1e-5."""
    assert batched is not None and single is not None and len(batched) == len(single) > 10
    assert [word for word, _ in batched[:10]] == [word for word, _ in single[:10]]
    assert [p for _, p in batched] == pytest.approx([p for _, p in single], abs=1e-5)


def test_padded_batches_of_unequal_lengths_equal_single_items(artifacts_dir: Path) -> None:
    """Next-word and perplexity items of different lengths share right-padded forwards; each row's answer
    equals its own unpadded forward, and the padded share is reported."""
    from service.tasks.language_model.items import NextWordItem
    from service.tasks.language_model.runner import LanguageModelRunner

    predictor = LanguageModelRunner(load_artifact(artifacts_dir / "lm-ptb"), torch.device("cpu"))
    observed: list[tuple[int, int]] = []
    predictor.padding_observer = lambda real, total: observed.append((real, total))
    texts = [
        "the company said it expects a loss",
        "a loss",
        "mr. smith said",
        "the new york stock exchange closed higher",
    ]
    contexts = [predictor.context(text, "text") for text in texts]
    items = [predictor.next_word_item(c) for c in contexts] + [predictor.perplexity_item(c) for c in contexts]
    batched = predictor.forward(items)
    assert any(total > real for real, total in observed)  # some rows really were padded
    for item, output in zip(items, batched, strict=True):
        (single,) = predictor.forward([item])
        if isinstance(item, NextWordItem):
            assert_same_ranking(output.top, single.top)
        else:
            assert output.nll == pytest.approx(single.nll, abs=1e-4)


def test_generation_starts_keep_their_state_and_batch_by_exact_length(artifacts_dir: Path) -> None:
    from service.tasks.language_model.items import GenerationItem
    from service.tasks.language_model.runner import LanguageModelRunner

    predictor = LanguageModelRunner(load_artifact(artifacts_dir / "lm-ptb"), torch.device("cpu"))
    starts = [
        GenerationItem(predictor.next_word_item(predictor.context(t, "text")).token_ids, state=None)
        for t in ("a loss", "the company said")
    ]
    outputs = predictor.forward(starts)
    assert all(output.state is not None for output in outputs)
    # The state after "a loss" continues exactly as feeding the longer sequence in one go.
    follow = predictor.forward([GenerationItem([predictor.vocabulary["said"]], state=outputs[0].state)])[0]
    whole = predictor.forward(
        [GenerationItem([*starts[0].token_ids, predictor.vocabulary["said"]], state=None)]
    )[0]
    assert torch.allclose(follow.log_probs, whole.log_probs, atol=1e-5)  # type: ignore[arg-type]


def test_scoring_batches_stay_within_their_position_budget() -> None:
    from service.tasks.language_model.runner import _within_budget

    lengths = [100, 120, 150, 190, 200]
    assert _within_budget([0, 1, 2, 3, 4], lengths, 400) == [[0, 1], [2, 3], [4]]  # rows x longest <= 400
    assert _within_budget([0, 1, 2, 3, 4], lengths, 150) == [
        [0],
        [1],
        [2],
        [3],
        [4],
    ]  # a lone row always runs
    assert _within_budget([0, 1], lengths, None) == [[0, 1]]
