"""Hot reload: a changed folder is loaded, checked and swapped in; a broken version never serves; unload,
load, rollback and the repository index (service/runtime/reloads.py, service/api/routes/repository.py)."""

import gc
import json
import shutil
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from fastapi.testclient import TestClient
from safetensors.torch import load_file, save_file

from models.artifact import WEIGHTS_FILE, replace_folder
from service.app import create_app
from service.settings import Settings
from tests.helpers import write_tiny_lm_artifact, write_tiny_sentiment_artifact
from tests.service.conftest import wait_until_ready

ADMIN = {"Authorization": "Bearer admin-key"}
REVIEW = {"texts": ["a wonderful film"]}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    artifacts = tmp_path / "artifacts"
    write_tiny_sentiment_artifact(artifacts, "sentiment", version="v1")
    write_tiny_lm_artifact(artifacts, "lm-ptb")
    return artifacts


@pytest.fixture
def client(root: Path, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        artifacts_dir=root, reload_interval_s=0, admin_key="admin-key", keep_dir=tmp_path / "keep"
    )
    with TestClient(create_app(settings)) as ready_client:
        wait_until_ready(ready_client)
        yield ready_client


def scan(client: TestClient) -> None:
    client.portal.call(client.app.state.reloader.scan)  # type: ignore[attr-defined, union-attr]


def move_in(root: Path, version: str, seed: int, change: Callable[[Path], None] | None = None) -> None:
    """A retrain as a user does it: written beside the served folder, altered (to break it), moved in."""
    staging = write_tiny_sentiment_artifact(root.parent / "staging", "sentiment", version=version, seed=seed)
    if change is not None:
        change(staging)
    replace_folder(root / "sentiment", staging)


def served_version(client: TestClient) -> str:
    response = client.post("/v1/sentiment", json=REVIEW)
    assert response.status_code == 200, response.text
    return str(response.json()["version"])


def reloads(client: TestClient, outcome: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'rnnserve_reloads_total{{model="sentiment",outcome="{outcome}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_a_new_version_in_the_folder_is_checked_and_swapped_in_by_a_scan(
    client: TestClient, root: Path
) -> None:
    assert served_version(client) == "v1"
    move_in(root, "v2", seed=1)
    scan(client)
    assert served_version(client) == "v2"
    model = client.get("/v1/models/sentiment").json()
    assert model["version"] == "v2" and model["reload"]["status"] == "swapped"
    assert model["reload"]["version"] == "v2" and model["reload"]["reason"] is None
    assert reloads(client, "loaded") == 1 and reloads(client, "swapped") == 1
    scan(client)  # unchanged since: nothing is loaded again
    assert reloads(client, "swapped") == 1


def nan_weights(folder: Path) -> None:
    state = load_file(folder / WEIGHTS_FILE)
    name = next(key for key in state if "weight" in key and "embedding" not in key)
    state[name][:] = float("nan")
    version = json.loads((folder / "card.json").read_text())["version"]  # written for its card, but NaN
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"version": version})


def card_of_another_shape(folder: Path) -> None:
    card = json.loads((folder / "card.json").read_text())
    card["arch"]["hidden_size"] = 16
    (folder / "card.json").write_text(json.dumps(card))


def truncated_weights(folder: Path) -> None:
    weights = (folder / WEIGHTS_FILE).read_bytes()
    (folder / WEIGHTS_FILE).write_bytes(weights[: len(weights) // 2])


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        (nan_weights, "non-finite outputs"),
        (card_of_another_shape, "weights do not match the card"),
        (truncated_weights, "weights.safetensors cannot be read"),
    ],
)
def test_a_broken_version_never_serves_and_the_old_one_goes_on(
    client: TestClient, root: Path, breakage: Callable[[Path], None], reason: str
) -> None:
    move_in(root, "broken", seed=1, change=breakage)
    scan(client)
    assert served_version(client) == "v1"
    model = client.get("/v1/models/sentiment").json()
    assert model["version"] == "v1" and model["status"] == "ready"
    assert model["reload"]["status"] == "failed" and reason in model["reload"]["reason"]
    assert client.get("/readyz").status_code == 200
    assert reloads(client, "failed") == 1
    scan(client)  # the same broken version is not tried again
    assert reloads(client, "failed") == 1


def test_weights_written_for_another_version_are_refused(client: TestClient, root: Path) -> None:
    def card_says_other(folder: Path) -> None:
        card = json.loads((folder / "card.json").read_text())
        (folder / "card.json").write_text(json.dumps({**card, "version": "v3"}))

    move_in(root, "v2", seed=1, change=card_says_other)
    scan(client)
    reason = client.get("/v1/models/sentiment").json()["reload"]["reason"]
    assert "written for version 'v2', but card.json is version 'v3'" in reason
    assert served_version(client) == "v1"


def test_an_unloaded_model_answers_404_until_a_load_call(client: TestClient) -> None:
    assert client.post("/v2/repository/models/sentiment/unload", headers=ADMIN).status_code == 200
    assert client.post("/v1/sentiment", json=REVIEW).status_code == 404
    assert client.get("/v2/models/sentiment").status_code == 404
    readiness = client.get("/readyz")  # the sentiment task's default is gone: out of the load balancer
    assert readiness.status_code == 503
    [said] = [model for model in readiness.json()["models"] if model["name"] == "sentiment"]
    assert said["status"] == "unloaded" and "unloaded by POST /v2/repository" in said["reason"]
    scan(client)  # the folder is still there, unchanged: the model stays unloaded
    assert client.post("/v1/sentiment", json=REVIEW).status_code == 404
    answer = client.post("/v2/repository/models/sentiment/load", headers=ADMIN)
    assert answer.status_code == 200 and answer.json() == {
        "name": "sentiment",
        "version": "v1",
        "status": "swapped",
    }
    assert served_version(client) == "v1" and client.get("/readyz").status_code == 200


def test_a_load_call_brings_back_a_previous_version_and_scans_leave_it(
    client: TestClient, root: Path
) -> None:
    move_in(root, "v2", seed=1)
    scan(client)
    assert served_version(client) == "v2"
    rollback = {"parameters": {"version": "v1"}}
    answer = client.post("/v2/repository/models/sentiment/load", headers=ADMIN, content=json.dumps(rollback))
    assert answer.status_code == 200, answer.text
    assert served_version(client) == "v1"
    scan(client)  # the folder still holds v2, which was tried: the rollback stands
    assert served_version(client) == "v1"
    move_in(root, "v3", seed=2)  # a new version in the folder goes live again
    scan(client)
    assert served_version(client) == "v3"


def test_a_version_never_served_here_cannot_be_loaded_by_name(client: TestClient) -> None:
    answer = client.post(
        "/v2/repository/models/sentiment/load", headers=ADMIN, json={"parameters": {"version": "v9"}}
    )
    assert answer.status_code == 404
    assert answer.json() == {"error": "model 'sentiment' has no kept copy of version 'v9'; kept: ['v1']"}


def test_a_load_call_on_a_broken_folder_is_a_400_and_the_old_version_serves(
    client: TestClient, root: Path
) -> None:
    move_in(root, "broken", seed=1, change=truncated_weights)
    answer = client.post("/v2/repository/models/sentiment/load", headers=ADMIN)
    assert answer.status_code == 400 and "weights.safetensors cannot be read" in answer.json()["error"]
    assert served_version(client) == "v1"


def test_the_repository_api_needs_its_own_key(root: Path, tmp_path: Path) -> None:
    with TestClient(
        create_app(Settings(artifacts_dir=root, reload_interval_s=0, api_key="api-key"))
    ) as client:
        refused = client.post("/v2/repository/index", headers={"Authorization": "Bearer api-key"})
        assert refused.status_code == 403 and "set RNNSERVE_ADMIN_KEY" in refused.json()["error"]
    settings = Settings(artifacts_dir=root, reload_interval_s=0, admin_key="admin-key", api_key="api-key")
    with TestClient(create_app(settings)) as client:
        for headers in ({}, {"Authorization": "Bearer api-key"}, {"Authorization": "Basic admin-key"}):
            answer = client.post("/v2/repository/index", headers=headers)
            assert answer.status_code == 401 and answer.json()["error"].startswith(
                "missing or wrong admin key"
            )
        assert client.post("/v2/repository/index", headers=ADMIN).status_code == 200


def test_the_index_lists_every_folder_with_its_state(client: TestClient, root: Path) -> None:
    write_tiny_sentiment_artifact(root, "sentiment-new", version="n1")  # not scanned yet
    (root / ".sentiment-staging").mkdir()  # hidden: a half-written folder
    (root / ".sentiment-staging" / "card.json").write_text("{}")
    index = client.post(
        "/v2/repository/index", headers=ADMIN, content=b""
    )  # tritonclient's: no body, no type
    assert index.status_code == 200
    states = {model["name"]: (model["version"], model["state"]) for model in index.json()}
    assert states == {
        "sentiment": ("v1", "READY"),
        "lm-ptb": ("test-lm-1", "READY"),
        "sentiment-new": ("n1", "UNAVAILABLE"),
    }
    ready = client.post("/v2/repository/index", headers=ADMIN, json={"ready": True}).json()
    assert {model["name"] for model in ready} == {"sentiment", "lm-ptb"}
    scan(client)
    answer = client.post("/v1/sentiment", json={**REVIEW, "model": "sentiment-new"})
    assert answer.status_code == 200 and answer.json()["version"] == "n1"


def test_a_folder_gone_for_two_scans_is_removed_but_one_scan_is_a_replacement(
    client: TestClient, root: Path
) -> None:
    aside = root.parent / "aside"
    shutil.move(root / "sentiment", aside)
    scan(client)  # missing once: could be the instant between two renames
    assert served_version(client) == "v1"
    shutil.move(aside, root / "sentiment")
    scan(client)
    scan(client)
    assert served_version(client) == "v1" and reloads(client, "removed") == 0
    shutil.move(root / "sentiment", aside)
    scan(client)
    scan(client)
    assert client.post("/v1/sentiment", json=REVIEW).status_code == 404
    assert "sentiment" not in {model["name"] for model in client.get("/v1/models").json()["models"]}
    assert client.get("/readyz").status_code == 200  # no sentiment model left: the task is gone, not failing


def test_the_watcher_puts_a_new_version_live_by_itself(root: Path, tmp_path: Path) -> None:
    settings = Settings(artifacts_dir=root, reload_interval_s=0.1, keep_dir=tmp_path / "keep")
    with TestClient(create_app(settings)) as client:
        wait_until_ready(client)
        move_in(root, "v2", seed=1)
        for _ in range(200):
            if served_version(client) == "v2":
                break
            client.portal.call(anyio.sleep, 0.05)  # type: ignore[union-attr]
        assert served_version(client) == "v2"


def test_a_swapped_out_version_is_freed_once_its_last_request_lets_go(client: TestClient, root: Path) -> None:
    old = client.app.state.registry.entries["sentiment"].serving  # type: ignore[attr-defined]
    holding = old.lease.held()
    holding.__enter__()  # a request admitted by v1 still under way
    move_in(root, "v2", seed=1)
    scan(client)
    assert served_version(client) == "v2"
    assert old.ready and not old.batcher._worker.done()  # still able to answer its request

    async def finish_the_request() -> None:
        holding.__exit__(None, None, None)

    client.portal.call(finish_the_request)  # type: ignore[union-attr]
    for _ in range(100):
        if not old.ready:
            break
        client.portal.call(anyio.sleep, 0.01)  # type: ignore[union-attr]
    assert old.ready == {} and old.batcher._worker is None  # its worker stopped


def test_nothing_holds_a_retired_version_once_it_is_freed(client: TestClient, root: Path) -> None:
    old = weakref.ref(client.app.state.registry.entries["sentiment"].serving.runner)  # type: ignore[attr-defined]
    move_in(root, "v2", seed=1)
    scan(client)
    assert served_version(client) == "v2"
    for _ in range(100):
        gc.collect()
        if old() is None:
            break
        client.portal.call(anyio.sleep, 0.01)  # type: ignore[union-attr]
    assert old() is None  # its network, tokenizer and batcher can go: the memory is the allocator's again


def test_a_session_of_the_old_version_is_409_after_a_swap(client: TestClient, root: Path) -> None:
    session = client.post("/v1/sessions", json={"prompt": "the company said"}).json()
    staging = write_tiny_lm_artifact(root.parent / "staging", "lm-ptb", version="test-lm-2", seed=1)
    replace_folder(root / "lm-ptb", staging)
    scan(client)
    path = f"/v1/sessions/{session['session_id']}"
    for call, body in (("append", {"text": "it expects"}), ("generate", {"max_new_tokens": 2})):
        answer = client.post(f"{path}/{call}", json=body)
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "version_mismatch"
        assert "version 'test-lm-1'; this server now serves 'test-lm-2'" in answer.json()["error"]["message"]
    assert client.post("/v1/sessions", json={"prompt": "the company said"}).json()["version"] == "test-lm-2"


def test_with_no_folder_for_copies_versions_still_swap_but_none_is_kept(root: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")  # a read-only root file system, as KServe's runtime has
    settings = Settings(
        artifacts_dir=root, reload_interval_s=0, admin_key="admin-key", keep_dir=tmp_path / "a-file" / "keep"
    )
    with TestClient(create_app(settings)) as client:
        wait_until_ready(client)
        move_in(root, "v2", seed=1)
        scan(client)
        assert served_version(client) == "v2"
        rollback = {"parameters": {"version": "v1"}}
        answer = client.post("/v2/repository/models/sentiment/load", headers=ADMIN, json=rollback)
        assert answer.status_code == 404 and "kept: []" in answer.json()["error"]
