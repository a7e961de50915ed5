"""The Open Inference Protocol routes (/v2): metadata, health, each task's tensors against its /v1 answer,
and bad requests in the protocol's error shape."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import ClientFactory

HISTORY = [100 + (t % 12) * 5 for t in range(48)]


def text_input(*texts: str) -> dict[str, Any]:
    return {"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": list(texts)}


def infer(client: TestClient, model: str, inputs: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    response = client.post(f"/v2/models/{model}/infer", json={"inputs": inputs, **fields})
    assert response.status_code == 200, response.text
    return dict(response.json())


def tensors(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {tensor["name"]: tensor for tensor in answer["outputs"]}


def refusal(client: TestClient, path: str, body: Any, status: int = 400) -> str:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"} and isinstance(response.json()["error"], str)
    return str(response.json()["error"])


@pytest.fixture
def client(make_client: ClientFactory) -> Any:
    with make_client() as client:
        yield client


def test_server_metadata_and_health(client: TestClient) -> None:
    assert client.get("/v2").json() == {
        "name": "rnnserve",
        "version": "1.0.0",
        "extensions": ["binary_tensor_data"],
    }
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}


def test_model_metadata_names_its_tensors_version_and_parameters(client: TestClient) -> None:
    version = client.get("/v1/models/forecast-ohlcv").json()["version"]
    for path in ("/v2/models/forecast-ohlcv", f"/v2/models/forecast-ohlcv/versions/{version}"):
        metadata = client.get(path).json()
        assert metadata["versions"] == [version]
        assert metadata["inputs"] == [{"name": "history", "datatype": "FP32", "shape": [-1, 5]}]
        assert [tensor["name"] for tensor in metadata["outputs"]] == [
            "forecast",
            "quantiles",
            "method",
            "season",
        ]
        assert set(metadata["parameters"]) == {"horizon", "quantiles", "method"}
    sentiment = client.get("/v2/models/sentiment").json()
    assert sentiment["outputs"][2] == {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]}
    assert client.get("/v2/models/lm-ptb/ready").json() == {"name": "lm-ptb", "ready": True}
    assert client.get(f"/v2/models/forecast-ohlcv/versions/{version}/ready").status_code == 200


def test_unknown_model_or_version_is_404_in_the_protocol_shape(client: TestClient) -> None:
    for path in (
        "/v2/models/nope",
        "/v2/models/sentiment/versions/0",
        "/v2/models/nope/ready",
        "/v2/models/broken",
    ):
        response = client.get(path)
        assert response.status_code == 404 and set(response.json()) == {"error"}, path
    assert "no model named 'nope'" in refusal(
        client, "/v2/models/nope/infer", {"inputs": [text_input("great")]}, 404
    )


def test_sentiment_tensors_match_v1_and_echo_the_id(client: TestClient) -> None:
    texts = ["a wonderful film", "dull and boring", "the plot"]
    answer = infer(client, "sentiment", [text_input(*texts)], id="req-7")
    v1 = client.post("/v1/sentiment", json={"model": "sentiment", "texts": texts}).json()
    assert (
        answer["id"] == "req-7"
        and answer["model_name"] == "sentiment"
        and answer["model_version"] == v1["version"]
    )
    out = tensors(answer)
    assert out["label"] == {
        "name": "label",
        "shape": [3],
        "datatype": "BYTES",
        "data": [r["label"] for r in v1["results"]],
    }
    assert out["score"]["data"] == pytest.approx([r["score"] for r in v1["results"]])
    assert out["probabilities"]["shape"] == [3, 2]
    assert out["probabilities"]["data"] == pytest.approx(
        [p for r in v1["results"] for p in r["probabilities"].values()]
    )


def test_language_model_operations_match_v1(client: TestClient) -> None:
    next_word = tensors(
        infer(client, "lm-ptb", [text_input("the company", "the new york")], parameters={"top_k": 3})
    )
    v1 = client.post("/v1/next-word", json={"model": "lm-ptb", "text": "the new york", "top_k": 3}).json()
    assert next_word["word"]["shape"] == [2, 3] and next_word["probability"]["datatype"] == "FP32"
    assert next_word["word"]["data"][3:] == [p["word"] for p in v1["predictions"]]
    assert next_word["probability"]["data"][3:] == pytest.approx(
        [p["probability"] for p in v1["predictions"]]
    )

    text = "the company said it expects a loss"
    perplexity = tensors(infer(client, "lm-ptb", [text_input(text)], parameters={"operation": "perplexity"}))
    v1 = client.post("/v1/perplexity", json={"model": "lm-ptb", "text": text}).json()
    assert perplexity["perplexity"]["data"] == pytest.approx([v1["perplexity"]])
    assert perplexity["token_count"] == {
        "name": "token_count",
        "shape": [1],
        "datatype": "INT32",
        "data": [v1["token_count"]],
    }

    parameters = {"operation": "generate", "max_new_tokens": 6, "seed": 11}
    generated = tensors(infer(client, "lm-ptb", [text_input("the company said")], parameters=parameters))
    v1 = client.post(
        "/v1/generate",
        json={"model": "lm-ptb", "prompt": "the company said", "max_new_tokens": 6, "seed": 11},
    )
    assert generated["generated_text"]["data"] == [v1.json()["generated_text"]]
    assert generated["seed"] == {"name": "seed", "shape": [1], "datatype": "INT64", "data": [11]}


def test_forecast_tensors_match_v1_for_one_and_several_features(client: TestClient) -> None:
    history = {"name": "history", "shape": [48], "datatype": "FP32", "data": HISTORY}
    answer = tensors(
        infer(client, "forecast-univariate", [history], parameters={"horizon": 4, "quantiles": [0.9, 0.1]})
    )
    v1 = client.post(
        "/v1/forecast",
        json={"model": "forecast-univariate", "history": HISTORY, "horizon": 4, "quantiles": [0.9, 0.1]},
    ).json()
    assert answer["forecast"]["shape"] == [4] and answer["forecast"]["data"] == pytest.approx(v1["forecast"])
    assert answer["quantiles"]["shape"] == [2, 4]
    assert answer["quantiles"]["data"] == pytest.approx(v1["quantiles"]["0.9"] + v1["quantiles"]["0.1"])
    assert answer["method"] == {"name": "method", "shape": [1], "datatype": "BYTES", "data": [v1["method"]]}
    assert answer["season"] == {"name": "season", "shape": [1], "datatype": "INT64", "data": [v1["season"]]}

    rows = [[value + feature for feature in range(5)] for value in HISTORY]
    nested = {
        "name": "history",
        "shape": [48, 5],
        "datatype": "FP64",
        "data": rows,
    }  # nested lists, as the protocol allows
    answer = tensors(infer(client, "forecast-ohlcv", [nested], parameters={"horizon": 3}))
    v1 = client.post("/v1/forecast", json={"model": "forecast-ohlcv", "history": rows, "horizon": 3}).json()
    assert list(answer) == ["forecast", "method", "season"] and answer["forecast"]["data"] == pytest.approx(
        v1["forecast"]
    )
    assert answer["method"]["data"] == ["network"]  # a five-feature model has no statistical methods


def test_requested_outputs_are_the_only_ones_returned(client: TestClient) -> None:
    answer = infer(client, "sentiment", [text_input("great")], outputs=[{"name": "score"}, {"name": "label"}])
    assert [tensor["name"] for tensor in answer["outputs"]] == ["score", "label"]


@pytest.mark.parametrize(
    ("model", "body", "says"),
    [
        ("sentiment", {"inputs": [{**text_input("great"), "name": "review"}]}, "one input tensor, 'text'"),
        (
            "sentiment",
            {"inputs": [{**text_input("great", "dull"), "shape": [3]}]},
            "has 2 values, but its shape [3] holds 3",
        ),
        ("sentiment", {"inputs": [{**text_input("great"), "datatype": "FP32"}]}, "must be BYTES"),
        ("sentiment", {"inputs": [text_input("great")], "parameters": {"top_k": 1}}, "takes no parameters"),
        ("sentiment", {"inputs": [text_input("")]}, "inputs.text.0"),
        (
            "sentiment",
            {"inputs": [text_input("great")], "outputs": [{"name": "logits"}]},
            "unknown output(s) ['logits']",
        ),
        ("sentiment", {"inputs": [text_input("great")], "model_name": "lm-ptb"}, "the path, 'sentiment'"),
        ("sentiment", {"inputs": []}, "at least 1 item"),
        (
            "lm-ptb",
            {"inputs": [text_input("great")], "parameters": {"operation": "translate"}},
            "operation must be one of",
        ),
        (
            "lm-ptb",
            {"inputs": [text_input("great")], "parameters": {"operation": "perplexity", "seed": 1}},
            "no parameters ['seed']",
        ),
        (
            "lm-ptb",
            {"inputs": [text_input("great")], "parameters": {"operation": "generate", "max_new_tokens": 999}},
            "200",
        ),
        (
            "forecast-univariate",
            {"inputs": [{"name": "history", "shape": [48], "datatype": "FP32", "data": HISTORY}]},
            "horizon (required)",
        ),  # noqa: E501
        (
            "forecast-univariate",
            {
                "inputs": [{"name": "history", "shape": [3], "datatype": "FP32", "data": [1, 2, 3]}],
                "parameters": {"horizon": 2},
            },
            "needs at least",
        ),  # noqa: E501
        (
            "forecast-univariate",
            {
                "inputs": [{"name": "history", "shape": [2], "datatype": "BYTES", "data": ["1", "2"]}],
                "parameters": {"horizon": 2},
            },
            "must be numbers",
        ),  # noqa: E501
        ("lm-ptb", {"inputs": [text_input("great")], "parameters": {"operation": ["generate"]}}, "operation"),
        ("lm-ptb", {"inputs": [text_input("great")], "parameters": {"operation": {"a": 1}}}, "operation"),
        *[
            (
                "forecast-univariate",
                {
                    "inputs": [
                        {"name": "history", "shape": [48], "datatype": datatype, "data": [10**309] * 48}
                    ],
                    "parameters": {"horizon": 2},
                },
                "too large",
            )
            for datatype in ("FP64", "INT64")
        ],
    ],
)
def test_bad_requests_are_400_with_the_protocol_error(
    client: TestClient, model: str, body: dict[str, Any], says: str
) -> None:
    assert says in refusal(client, f"/v2/models/{model}/infer", body)


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/v2/models/sentiment/infer", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json() == {"error": response.json()["error"]}
    assert "not valid JSON" in response.json()["error"]


def test_api_key_guards_models_but_not_server_health(make_client: ClientFactory) -> None:
    with make_client(api_key="k") as client:
        assert client.get("/v2/health/ready").status_code == 200 and client.get("/v2").status_code == 200
        response = client.post("/v2/models/sentiment/infer", json={"inputs": [text_input("great")]})
        assert response.status_code == 401 and set(response.json()) == {"error"}
        authorized = client.post(
            "/v2/models/sentiment/infer",
            json={"inputs": [text_input("great")]},
            headers={"Authorization": "Bearer k"},
        )
        assert authorized.status_code == 200


def test_not_ready_is_503(make_client: ClientFactory) -> None:
    with make_client(ready=False) as client:
        client.app.state.drain.started_at = 0.0  # as if SIGTERM had arrived
        assert client.get("/v2/health/ready").status_code == 503
        response = client.post("/v2/models/sentiment/infer", json={"inputs": [text_input("great")]})
        assert response.status_code == 503 and "shutting down" in response.json()["error"]


def test_sequence_parameters_map_onto_a_session(client: TestClient) -> None:
    def step(text: str, **parameters: Any) -> dict[str, dict[str, Any]]:
        return tensors(
            infer(
                client, "lm-ptb", [text_input(text)], parameters={"sequence_id": 42, "top_k": 3, **parameters}
            )
        )

    step("the cat sat", sequence_start=True)
    step("on the")
    last = step("mat", sequence_end=True)
    whole = client.post(
        "/v1/next-word", json={"model": "lm-ptb", "text": "the cat sat on the mat", "top_k": 3}
    ).json()
    assert last["word"]["data"] == [p["word"] for p in whole["predictions"]]
    assert last["probability"]["data"] == pytest.approx(
        [p["probability"] for p in whole["predictions"]], abs=1e-4
    )
    assert last["token_count"]["data"] == [6] and last["perplexity"]["data"][0] > 1
    # Ended: the next step of sequence 42 finds no session.
    response = client.post(
        "/v2/models/lm-ptb/infer", json={"inputs": [text_input("the")], "parameters": {"sequence_id": 42}}
    )
    assert response.status_code == 404 and "no live session" in response.json()["error"]
    assert "sequence_id must be" in refusal(
        client, "/v2/models/lm-ptb/infer", {"inputs": [text_input("a")], "parameters": {"sequence_id": True}}
    )
