"""KServe's own Python client (InferenceRESTClient, protocol v2) against a real server: health, readiness,
every task's infer, and bad requests as the client raises them."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.service.test_faults_e2e import LiveServer, serve

kserve = pytest.importorskip("kserve", reason="kserve is absent: pip install -e '.[dev]' installs it")
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(artifacts_dir: Path) -> Iterator[LiveServer]:
    with serve(artifacts_dir) as live:
        yield live


def client() -> "kserve.InferenceRESTClient":
    return kserve.InferenceRESTClient(kserve.RESTConfig(protocol="v2", timeout=30, retries=0))


def text_input(*texts: str) -> "kserve.InferInput":
    return kserve.InferInput("text", [len(texts)], "BYTES", list(texts))


def test_health_and_readiness_through_the_client(server: LiveServer) -> None:
    async def check() -> tuple[bool, bool, list[bool]]:
        rest = client()
        try:
            names = ["sentiment", "lm-ptb", "forecast-univariate", "forecast-ohlcv"]
            ready = [await rest.is_model_ready(server.url, name) for name in names]
            return await rest.is_server_live(server.url), await rest.is_server_ready(server.url), ready
        finally:
            await rest.close()

    assert asyncio.run(check()) == (True, True, [True] * 4)


def test_every_task_infers_through_the_client(server: LiveServer) -> None:
    history = np.array([100 + (t % 12) * 5 for t in range(48)], dtype=np.float32)
    rows = np.stack([history + feature for feature in range(5)], axis=1)  # [48, 5]
    requests = {
        "sentiment": kserve.InferRequest(
            "sentiment", [text_input("a wonderful film", "dull and boring")], request_id="s1"
        ),
        "next_word": kserve.InferRequest("lm-ptb", [text_input("the company")], parameters={"top_k": 4}),
        "perplexity": kserve.InferRequest(
            "lm-ptb", [text_input("the company said")], parameters={"operation": "perplexity"}
        ),
        "generate": kserve.InferRequest(
            "lm-ptb",
            [text_input("the company")],
            parameters={"operation": "generate", "max_new_tokens": 5, "seed": 3},
        ),
        "univariate": kserve.InferRequest(
            "forecast-univariate",
            [kserve.InferInput("history", [48], "FP32", history.tolist())],
            parameters={"horizon": 6, "quantiles": [0.1, 0.9]},
        ),
        "ohlcv": kserve.InferRequest(
            "forecast-ohlcv",
            [kserve.InferInput("history", [48, 5], "FP32", rows.flatten().tolist())],
            parameters={"horizon": 3},
        ),
    }

    async def run_all() -> dict[str, "kserve.InferResponse"]:
        rest = client()
        try:
            return {
                key: await rest.infer(server.url, request, model_name=request.model_name)
                for key, request in requests.items()
            }
        finally:
            await rest.close()

    answers = asyncio.run(run_all())
    outputs = {key: {output.name: output for output in answer.outputs} for key, answer in answers.items()}
    assert answers["sentiment"].id == "s1"
    assert set(outputs["sentiment"]["label"].data) <= {"negative", "positive"} and outputs["sentiment"][
        "label"
    ].shape == [2]
    probabilities = outputs["sentiment"]["probabilities"].as_numpy()
    assert probabilities.shape == (2, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert outputs["next_word"]["word"].shape == [1, 4] and outputs["next_word"][
        "probability"
    ].as_numpy().shape == (1, 4)
    assert outputs["perplexity"]["perplexity"].as_numpy()[0] > 1
    assert outputs["perplexity"]["token_count"].as_numpy().dtype == np.int32
    assert outputs["generate"]["seed"].as_numpy().tolist() == [3]
    assert outputs["univariate"]["forecast"].as_numpy().shape == (6,)
    bands = outputs["univariate"]["quantiles"].as_numpy()
    assert bands.shape == (2, 6) and (bands[0] <= bands[1]).all()
    assert outputs["univariate"]["season"].as_numpy().dtype == np.int64
    assert outputs["univariate"]["method"].data[0] in {
        "network",
        "seasonal_naive",
        "ets",
        "theta",
        "combination",
    }
    assert outputs["ohlcv"]["forecast"].as_numpy().shape == (3,) and set(outputs["ohlcv"]) == {
        "forecast",
        "method",
        "season",
    }
    assert outputs["ohlcv"]["method"].data == ["network"]


@pytest.mark.parametrize(
    ("request_", "status", "says"),
    [
        (kserve.InferRequest("nope", [text_input("great")]), 404, "no model named 'nope'"),
        (
            kserve.InferRequest("sentiment", [kserve.InferInput("review", [1], "BYTES", ["great"])]),
            400,
            "one input tensor",
        ),
        (
            kserve.InferRequest("lm-ptb", [text_input("x")], parameters={"operation": "translate"}),
            400,
            "operation must be",
        ),
        (
            kserve.InferRequest(
                "forecast-univariate",
                [kserve.InferInput("history", [2], "FP32", [1.0, 2.0])],
                parameters={"horizon": 1},
            ),
            400,
            "needs at least",
        ),
    ],
)
def test_bad_requests_raise_the_protocol_error(
    server: LiveServer, request_: "kserve.InferRequest", status: int, says: str
) -> None:
    async def run() -> None:
        rest = client()
        try:
            await rest.infer(server.url, request_, model_name=request_.model_name)
        finally:
            await rest.close()

    with pytest.raises(httpx.HTTPStatusError) as raised:
        asyncio.run(run())
    assert raised.value.response.status_code == status and says in str(raised.value)
