"""NVIDIA's tritonclient (HTTP) speaks the model repository extension to a real server: the index, unload
and load with the bodies it sends, and infer on every model the index lists as ready."""

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.service.test_faults_e2e import LiveServer, serve

triton = pytest.importorskip("tritonclient.http", reason="tritonclient is absent: the dev extra has it")
utils = pytest.importorskip("tritonclient.utils")
pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": "Bearer admin-key"}
HISTORY = np.array([100 + (t % 12) * 5 + 0.25 * t for t in range(48)], dtype=np.float32)  # (48,)


@pytest.fixture(scope="module")
def server(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("repository")
    shutil.copytree(artifacts_dir, root, dirs_exist_ok=True)  # this module unloads models: a copy of its own
    with serve(root, RNNSERVE_ADMIN_KEY="admin-key", RNNSERVE_RELOAD_INTERVAL_S="0") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[Any]:
    connection = triton.InferenceServerClient(url=server.url.removeprefix("http://"), network_timeout=60)
    yield connection
    connection.close()


def a_request_for(metadata: dict[str, Any]) -> list[Any]:
    """One input the model's metadata asks for: texts, or a univariate or multivariate history."""
    [spec] = [spec for spec in metadata["inputs"] if spec["name"] in ("text", "history")]
    if spec["name"] == "text":
        tensor = triton.InferInput("text", [1], "BYTES")
        tensor.set_data_from_numpy(np.array(["the company said it was a wonderful film"], dtype=np.object_))
        return [tensor]
    rows = HISTORY if len(spec["shape"]) == 1 else np.stack([HISTORY + f for f in range(spec["shape"][1])], 1)
    tensor = triton.InferInput("history", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows.astype(np.float32))
    return [tensor]


def test_the_index_lists_every_folder_and_infer_answers_each_ready_model(client: Any) -> None:
    index = client.get_model_repository_index(headers=ADMIN)
    states = {model["name"]: model["state"] for model in index}
    assert states["broken"] == "UNAVAILABLE" and states["sentiment"] == "READY"
    ready = [model for model in index if model["state"] == "READY"]
    assert len(ready) == 6 and all(model["version"] for model in ready)
    for model in ready:
        metadata = client.get_model_metadata(model["name"])
        forecaster = any(spec["name"] == "history" for spec in metadata["inputs"])
        parameters = {"horizon": 3} if forecaster else None
        result = client.infer(model["name"], a_request_for(metadata), parameters=parameters)
        assert result.get_response()["model_version"] == model["version"]


def test_unload_then_load_with_tritonclient(client: Any) -> None:
    client.unload_model("sentiment-gru", headers=ADMIN)
    assert not client.is_model_ready("sentiment-gru")  # its ready route answers 404 now
    with pytest.raises(utils.InferenceServerException) as refused:
        client.infer("sentiment-gru", a_request_for(client.get_model_metadata("sentiment")))
    assert refused.value.status() == "404"
    client.load_model("sentiment-gru", headers=ADMIN)
    assert client.is_model_ready("sentiment-gru")
    result = client.infer("sentiment-gru", a_request_for(client.get_model_metadata("sentiment-gru")))
    assert result.as_numpy("label").shape == (1,)


def test_a_failed_load_and_a_wrong_key_are_errors_tritonclient_raises(client: Any) -> None:
    with pytest.raises(utils.InferenceServerException) as failed:
        client.load_model("broken", headers=ADMIN)
    assert failed.value.status() == "400" and "card.json is not valid JSON" in failed.value.message()
    with pytest.raises(utils.InferenceServerException) as unauthorized:
        client.get_model_repository_index(headers={"Authorization": "Bearer nope"})
    assert unauthorized.value.status() == "401"
