"""The committed artifacts served on CUDA: every route answers, batched equals single, CUDA agrees with the
CPU.

Marked `gpu`: skipped where CUDA is absent; `make test-gpu` runs them on a machine with an NVIDIA GPU.
"""

import json
from collections.abc import Iterator

import pytest
import torch
from fastapi.testclient import TestClient

from models.artifact import load_artifact
from service.app import create_app
from service.schemas.forecast import ForecastRequest
from service.schemas.sentiment import SentimentRequest
from service.settings import Settings
from service.tasks.forecast import ForecastPredictor, ForecastRunner
from service.tasks.language_model.runner import LanguageModelRunner
from service.tasks.sentiment import SentimentPredictor, SentimentRunner
from tests.service.conftest import COMMITTED_ARTIFACTS, wait_until_ready

pytestmark = pytest.mark.gpu
CUDA, CPU = torch.device("cuda"), torch.device("cpu")
REVIEWS = [
    "an absolute masterpiece, wonderful acting",
    "boring, awful, a waste of two hours",
    "it was fine " * 30,
]
CONTEXTS = ["the company said", "the new york stock", "mr. smith said it expects a loss"]


@pytest.fixture(scope="module")
def cuda_client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(artifacts_dir=COMMITTED_ARTIFACTS, device="cuda"))) as client:
        wait_until_ready(client, timeout=120)
        yield client


def test_every_committed_model_loads_on_cuda(cuda_client: TestClient) -> None:
    models = cuda_client.get("/v1/models").json()["models"]
    assert {model["name"] for model in models} == {
        path.name for path in COMMITTED_ARTIFACTS.iterdir() if path.is_dir()
    }
    for model in models:
        assert model["status"] == "ready" and model["device"].startswith("cuda"), model


def test_every_route_answers_on_cuda(cuda_client: TestClient) -> None:
    sentiment = cuda_client.post("/v1/sentiment", json={"texts": REVIEWS[:2]})
    assert sentiment.status_code == 200 and [r["label"] for r in sentiment.json()["results"]] == [
        "positive",
        "negative",
    ]
    next_word = cuda_client.post("/v1/next-word", json={"text": "the new york stock", "top_k": 3})
    assert next_word.status_code == 200 and next_word.json()["predictions"][0]["word"] == "exchange"
    perplexity = cuda_client.post("/v1/perplexity", json={"text": "the company said it expects a loss"})
    assert perplexity.status_code == 200 and 1 < perplexity.json()["perplexity"] < 1000
    generated = cuda_client.post(
        "/v1/generate", json={"prompt": "the company said", "max_new_tokens": 5, "seed": 7}
    )
    assert generated.status_code == 200 and len(generated.json()["tokens"]) == 5
    with cuda_client.stream(
        "POST", "/v1/generate", json={"prompt": "the", "max_new_tokens": 3, "seed": 7, "stream": True}
    ) as stream:
        events = [
            json.loads(line[len("data: ") :]) for line in stream.iter_lines() if line.startswith("data: ")
        ]
    assert len(events) == 3 and events[-1]["generated_text"]
    for name in ("forecast-univariate", "forecast-stocks", "forecast-sine"):
        example = cuda_client.get(f"/v1/models/{name}").json()["example_request"]
        forecast = cuda_client.post("/v1/forecast", json=example)
        assert forecast.status_code == 200 and len(forecast.json()["forecast"]) == example["horizon"], name
    for path in ("/healthz", "/readyz", "/metrics"):
        assert cuda_client.get(path).status_code == 200


def test_sentiment_batched_equals_single_and_the_cpu_on_cuda() -> None:
    artifact_dir = COMMITTED_ARTIFACTS / "sentiment"
    on_cuda, on_cpu = (
        SentimentRunner(load_artifact(artifact_dir), CUDA),
        SentimentRunner(load_artifact(artifact_dir), CPU),
    )
    items = SentimentPredictor(on_cuda).preprocess(SentimentRequest(texts=REVIEWS)).items
    batched = on_cuda.forward(items)
    for item, output in zip(items, batched, strict=True):
        assert output.probabilities == pytest.approx(on_cuda.forward([item])[0].probabilities, abs=1e-5)
        assert output.probabilities == pytest.approx(on_cpu.forward([item])[0].probabilities, abs=1e-4)


def test_language_model_batched_equals_single_and_the_cpu_on_cuda() -> None:
    artifact_dir = COMMITTED_ARTIFACTS / "lm-ptb"
    on_cuda, on_cpu = (
        LanguageModelRunner(load_artifact(artifact_dir), CUDA),
        LanguageModelRunner(load_artifact(artifact_dir), CPU),
    )
    contexts = [on_cuda.context(text, "text") for text in CONTEXTS]
    items = [on_cuda.next_word_item(c) for c in contexts] + [on_cuda.perplexity_item(c) for c in contexts]
    for item, output in zip(items, on_cuda.forward(items), strict=True):
        [single], [cpu] = on_cuda.forward([item]), on_cpu.forward([item])
        if output.top is not None:
            assert single.top is not None and cpu.top is not None
            assert [word for word, _ in output.top[:5]] == [word for word, _ in cpu.top[:5]]
            assert [p for _, p in output.top] == pytest.approx([p for _, p in single.top], abs=1e-5)
            assert [p for _, p in output.top] == pytest.approx([p for _, p in cpu.top], abs=1e-4)
        else:
            assert output.nll == pytest.approx(single.nll, abs=1e-4) and output.nll == pytest.approx(
                cpu.nll, rel=1e-4
            )


@pytest.mark.parametrize("name", ["forecast-univariate", "forecast-stocks", "forecast-sine"])
def test_forecasts_batched_equal_single_and_the_cpu_on_cuda(name: str) -> None:
    on_cuda, on_cpu = (
        ForecastRunner(load_artifact(COMMITTED_ARTIFACTS / name), CUDA),
        ForecastRunner(load_artifact(COMMITTED_ARTIFACTS / name), CPU),
    )
    example = on_cuda.example_request()
    predictor = ForecastPredictor(on_cuda)
    requests = [ForecastRequest(**{**example, "horizon": horizon}) for horizon in (1, example["horizon"])]
    items = [predictor.preprocess(request).items[0] for request in requests]
    for item, output in zip(items, on_cuda.forward(items), strict=True):
        [single], [cpu] = on_cuda.forward([item]), on_cpu.forward([item])
        assert output.forecast == pytest.approx(single.forecast, rel=1e-5, abs=1e-4)
        assert output.forecast == pytest.approx(cpu.forecast, rel=1e-4, abs=1e-3)
