"""NVIDIA's tritonclient (HTTP) with its defaults against a real server: no Content-Type, binary tensors in
and binary outputs back, for every model and operation; each answer equals the same request on /v1."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.service.test_faults_e2e import LiveServer, serve

triton = pytest.importorskip("tritonclient.http", reason="tritonclient is absent: the dev extra has it")
pytestmark = pytest.mark.e2e

HISTORY = np.array([100 + (t % 12) * 5 + 0.25 * t for t in range(48)], dtype=np.float32)  # (48,)
ROWS = np.stack([HISTORY + feature for feature in range(5)], axis=1)  # (48, 5)


@pytest.fixture(scope="module")
def server(artifacts_dir: Path) -> Iterator[LiveServer]:
    with serve(artifacts_dir) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[Any]:
    connection = triton.InferenceServerClient(url=server.url.removeprefix("http://"), network_timeout=60)
    yield connection
    connection.close()


def texts(*values: str) -> Any:
    tensor = triton.InferInput("text", [len(values)], "BYTES")
    tensor.set_data_from_numpy(np.array(values, dtype=np.object_))  # binary by default
    return tensor


def numbers(values: np.ndarray) -> Any:
    tensor = triton.InferInput("history", list(values.shape), "FP32")
    tensor.set_data_from_numpy(values)
    return tensor


def on_v1(server: LiveServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/v1/{path}", json=body, timeout=60)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_the_server_names_the_binary_extension(client: Any) -> None:
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]


def test_sentiment_in_binary_equals_v1(server: LiveServer, client: Any) -> None:
    reviews = ("a wonderful film, moving and funny", "dull, far too long and badly acted")
    result = client.infer("sentiment", [texts(*reviews)], request_id="r1")
    expected = on_v1(server, "sentiment", {"texts": list(reviews), "model": "sentiment"})["results"]
    assert result.get_response()["id"] == "r1"
    assert [label.decode() for label in result.as_numpy("label")] == [r["label"] for r in expected]
    assert result.as_numpy("score").tolist() == pytest.approx([r["score"] for r in expected], abs=1e-6)
    probabilities = np.array([list(r["probabilities"].values()) for r in expected])
    assert np.allclose(result.as_numpy("probabilities"), probabilities, atol=1e-6)
    assert all("binary_data_size" in output["parameters"] for output in result.get_response()["outputs"])


def test_next_word_in_binary_equals_v1(server: LiveServer, client: Any) -> None:
    result = client.infer("lm-ptb", [texts("the company said", "a loss")], parameters={"top_k": 3})
    words, probabilities = result.as_numpy("word"), result.as_numpy("probability")
    assert words.shape == (2, 3) and probabilities.dtype == np.float32
    for row, text in enumerate(("the company said", "a loss")):
        expected = on_v1(server, "next-word", {"text": text, "top_k": 3, "model": "lm-ptb"})["predictions"]
        assert [word.decode() for word in words[row]] == [p["word"] for p in expected]
        assert probabilities[row].tolist() == pytest.approx([p["probability"] for p in expected], abs=1e-6)


def test_perplexity_in_binary_equals_v1(server: LiveServer, client: Any) -> None:
    result = client.infer(
        "lm-ptb", [texts("the company said it expects a loss")], parameters={"operation": "perplexity"}
    )
    expected = on_v1(server, "perplexity", {"text": "the company said it expects a loss", "model": "lm-ptb"})
    assert result.as_numpy("perplexity").tolist() == pytest.approx([expected["perplexity"]], rel=1e-6)
    assert result.as_numpy("token_count").tolist() == [expected["token_count"]]


def test_generation_in_binary_equals_v1(server: LiveServer, client: Any) -> None:
    parameters = {"operation": "generate", "max_new_tokens": 6, "seed": 11, "temperature": 0.8}
    result = client.infer("lm-ptb", [texts("the company")], parameters=parameters)
    expected = on_v1(
        server,
        "generate",
        {"prompt": "the company", "max_new_tokens": 6, "seed": 11, "temperature": 0.8, "model": "lm-ptb"},
    )
    assert [text.decode() for text in result.as_numpy("generated_text")] == [expected["generated_text"]]
    assert result.as_numpy("seed").tolist() == [11]


def test_univariate_forecast_in_binary_equals_v1(server: LiveServer, client: Any) -> None:
    parameters = {"horizon": 6, "quantiles": [0.1, 0.9], "method": "network"}
    result = client.infer("forecast-univariate", [numbers(HISTORY)], parameters=parameters)
    expected = on_v1(
        server, "forecast", {"history": HISTORY.tolist(), "model": "forecast-univariate", **parameters}
    )
    assert result.as_numpy("forecast").tolist() == pytest.approx(expected["forecast"], rel=1e-6)
    bands = np.array([expected["quantiles"]["0.1"], expected["quantiles"]["0.9"]])
    assert np.allclose(result.as_numpy("quantiles"), bands, rtol=1e-6)
    assert [m.decode() for m in result.as_numpy("method")] == [expected["method"]]
    assert result.as_numpy("season").tolist() == [expected["season"]]


def test_five_feature_forecast_in_binary_equals_v1(server: LiveServer, client: Any) -> None:
    result = client.infer("forecast-ohlcv", [numbers(ROWS)], parameters={"horizon": 3})
    expected = on_v1(server, "forecast", {"history": ROWS.tolist(), "model": "forecast-ohlcv", "horizon": 3})
    assert result.as_numpy("forecast").tolist() == pytest.approx(expected["forecast"], rel=1e-6)


def test_outputs_named_with_their_own_binary_choice(server: LiveServer, client: Any) -> None:
    """JSON in, one output asked in binary and one in JSON: each comes back as asked."""
    tensor = triton.InferInput("text", [1], "BYTES")
    tensor.set_data_from_numpy(np.array(["a wonderful film"], dtype=np.object_), binary_data=False)
    outputs = [
        triton.InferRequestedOutput("label", binary_data=True),
        triton.InferRequestedOutput("score", binary_data=False),
    ]
    result = client.infer("sentiment", [tensor], outputs=outputs)
    listed = {output["name"]: output for output in result.get_response()["outputs"]}
    assert "binary_data_size" in listed["label"]["parameters"] and "data" not in listed["label"]
    assert listed["score"]["data"] == pytest.approx(result.as_numpy("score").tolist())
    expected = on_v1(server, "sentiment", {"texts": ["a wonderful film"], "model": "sentiment"})["results"][0]
    assert result.as_numpy("label")[0].decode() == expected["label"]


def binary(tensor: dict[str, Any], payload: bytes) -> tuple[str, bytes]:
    """(Inference-Header-Content-Length, body) of a request with one input tensor and `payload` after it."""
    header = json.dumps({"inputs": [tensor]}).encode()
    return str(len(header)), header + payload


def binary_input(name: str, datatype: str, shape: list[int], size: int) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "parameters": {"binary_data_size": size}}


TEXT = binary_input("text", "BYTES", [1], 9)


@pytest.mark.parametrize(
    ("header", "body", "says"),
    [
        ("100", b'{"inputs": []}', "within the body's"),  # the header reaches past the body
        ("x", b"{}", "byte count"),
        (*binary(binary_input("text", "BYTES", [1], 12), b"\x05\x00\x00\x00great"), "reaches past the body"),
        (*binary(binary_input("history", "FP32", [3], 8), b"\x00" * 8), "disagrees with shape"),
        (*binary(binary_input("text", "BYTES", [1], 5), b"\x09\x00\x00\x00g"), "past its binary_data_size"),
        (*binary(TEXT, b"\x05\x00\x00\x00greatEXTRA"), "no input claims them"),
        (*binary(TEXT, b"\x05\x00\x00\x00\xff\xfe\xfd\xfc\xfb"), "not UTF-8"),
        (*binary({**TEXT, "data": ["x"]}, b"\x05\x00\x00\x00great"), "not both"),
    ],
)
def test_binary_bodies_that_disagree_with_themselves_are_400(
    server: LiveServer, header: str, body: bytes, says: str
) -> None:
    model = "forecast-univariate" if b"history" in body else "sentiment"
    response = httpx.post(
        f"{server.url}/v2/models/{model}/infer",
        content=body,
        headers={"Inference-Header-Content-Length": header, "Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]


def test_a_json_infer_without_content_type_is_answered(server: LiveServer) -> None:
    body = b'{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["great"]}]}'
    response = httpx.post(f"{server.url}/v2/models/sentiment/infer", content=body, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json()["outputs"][0]["name"] == "label"


def test_a_binary_body_over_the_size_limit_is_413(artifacts_dir: Path) -> None:
    length, body = binary(binary_input("history", "FP32", [1000], 4000), b"\x00" * 4000)
    with serve(artifacts_dir, RNNSERVE_MAX_BODY_BYTES="2000") as live:
        response = httpx.post(
            f"{live.url}/v2/models/forecast-univariate/infer",
            content=body,
            headers={"Inference-Header-Content-Length": length},
            timeout=30,
        )
    assert response.status_code == 413
