"""Rules found by probing the server as an attacker and a new user would:
- readiness is honest: a task whose default model fails to load keeps the server not ready, whatever part of
  the artifact is broken; folders that are not artifacts are skipped, not listed as failed models;
- a deadline bounds a whole generation;
- start-up conveniences: `python -m service --help`, and a root that points to the docs."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.service.test_hardening import wait_for_all_tried


def truncate_weights(folder: Path) -> None:
    weights = folder / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])


def drop_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.json").unlink()


@pytest.mark.parametrize("breakage", [truncate_weights, drop_tokenizer])
def test_a_default_model_that_fails_to_load_keeps_the_server_not_ready(
    tmp_path: Path, artifacts_dir: Path, breakage: object
) -> None:
    for name in ("sentiment", "lm-ptb"):
        shutil.copytree(artifacts_dir / name, tmp_path / name)
    breakage(tmp_path / "lm-ptb")  # type: ignore[operator]
    with TestClient(create_app(Settings(artifacts_dir=tmp_path))) as client:
        wait_for_all_tried(client)
        statuses = {model["name"]: model["status"] for model in client.get("/readyz").json()["models"]}
        assert statuses == {"lm-ptb": "failed", "sentiment": "ready"}
        assert client.get("/readyz").status_code == 503
        assert client.get("/v2/health/ready").status_code == 503
        assert client.post("/v1/next-word", json={"text": "the company"}).status_code == 503
        [failed] = [m for m in client.get("/v1/models").json()["models"] if m["name"] == "lm-ptb"]
        assert failed["task"] == "language-model"  # its card was read: the task counts


def test_a_failed_model_that_is_not_its_tasks_default_keeps_the_server_ready(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    shutil.copytree(artifacts_dir / "sentiment", tmp_path / "sentiment")
    shutil.copytree(artifacts_dir / "sentiment", tmp_path / "sentiment-zz")  # sorts after the default
    card = (tmp_path / "sentiment-zz" / "card.json").read_text().replace('"sentiment"', '"sentiment-zz"', 1)
    (tmp_path / "sentiment-zz" / "card.json").write_text(card)
    truncate_weights(tmp_path / "sentiment-zz")
    with TestClient(create_app(Settings(artifacts_dir=tmp_path))) as client:
        wait_for_all_tried(client)
        assert client.get("/readyz").status_code == 200


def test_folders_without_a_card_and_link_loops_are_skipped(tmp_path: Path, artifacts_dir: Path) -> None:
    shutil.copytree(artifacts_dir / "sentiment", tmp_path / "sentiment")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("retrain")
    (tmp_path / "root").symlink_to(tmp_path)  # a link back to the artifacts root
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with TestClient(create_app(Settings(artifacts_dir=tmp_path))) as client:
        wait_for_all_tried(client)
        assert [model["name"] for model in client.get("/v1/models").json()["models"]] == ["sentiment"]
        assert client.get("/readyz").status_code == 200


def test_a_task_with_no_model_installed_is_404(tmp_path: Path, artifacts_dir: Path) -> None:
    shutil.copytree(artifacts_dir / "sentiment", tmp_path / "sentiment")
    with TestClient(create_app(Settings(artifacts_dir=tmp_path))) as client:
        wait_for_all_tried(client)
        response = client.post("/v1/next-word", json={"text": "the company"})
        assert (
            response.status_code == 404
            and "no model of task 'language-model' is installed" in response.json()["error"]["message"]
        )


def test_the_root_points_to_the_docs(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/docs"


def test_help_lists_the_settings_by_their_environment_names_without_serving() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PORT": "1"},
    )
    assert result.returncode == 0
    lines = [line for line in result.stdout.splitlines() if line.strip().startswith("RNNSERVE_")]
    assert any(line.strip().startswith('RNNSERVE_DEVICE (default "auto")') for line in lines)
    assert len(lines) == len(Settings.model_fields)  # one line each


@pytest.mark.parametrize("stream", [False, True])
def test_a_deadline_bounds_a_whole_generation(client: TestClient, stream: bool) -> None:
    """Each step takes 50 ms here; 100 steps would take 5 s. With X-Request-Timeout 1 the answer comes within
    the deadline plus a step: a 504, or a stream that ends with a deadline_exceeded event."""
    batcher = client.app.state.registry.entries["lm-ptb"].batcher  # type: ignore[attr-defined]
    real_forward = batcher.run_batch

    def slow_forward(items: list[object]) -> object:
        time.sleep(0.05)
        return real_forward(items)

    batcher.run_batch = slow_forward
    try:
        began = time.monotonic()
        response = client.post(
            "/v1/generate",
            json={"prompt": "the company", "max_new_tokens": 100, "seed": 1, "stream": stream},
            headers={"X-Request-Timeout": "1"},
        )
        took = time.monotonic() - began
    finally:
        batcher.run_batch = real_forward
    assert took < 2.5
    if stream:
        last = [line for line in response.text.splitlines() if line.startswith("data: ")][-1]
        assert response.status_code == 200 and json.loads(last[6:])["error"]["code"] == "deadline_exceeded"
    else:
        assert response.status_code == 504 and response.json()["error"]["code"] == "deadline_exceeded"


def test_words_of_any_script_outside_the_vocabulary_are_reported_and_fed_as_unk(client: TestClient) -> None:
    body = client.post("/v1/next-word", json={"text": "정말 the company"}).json()
    assert body["unknown_words"] == ["정말"] and body["context"] == ["<unk>", "the", "company"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/next-word", {"text": "정말 좋아"}, ["body", "text"]),
        ("/v1/perplexity", {"text": "정말 좋아"}, ["body", "text"]),
        ("/v1/generate", {"prompt": "정말 좋아"}, ["body", "prompt"]),
        ("/v1/generate", {"prompt": "zzqx qqzz"}, ["body", "prompt"]),
        ("/v1/sentiment", {"texts": ["정말 좋아"]}, ["body", "texts", 0]),
    ],
)
def test_a_text_of_only_unknown_words_gets_one_answer_everywhere(
    client: TestClient, path: str, body: dict[str, object], field: list[object]
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"] == "a text has no word the model knows, so the model cannot read it"
    assert error["details"] == [{"loc": field, "msg": "no word of the text is in the vocabulary"}]


def test_an_empty_prompt_still_starts_a_new_sentence(client: TestClient) -> None:
    response = client.post("/v1/generate", json={"prompt": "", "max_new_tokens": 3, "seed": 1})
    assert response.status_code == 200 and len(response.json()["tokens"]) == 3


def test_a_greedy_generation_carries_no_seed(client: TestClient) -> None:
    greedy = client.post(
        "/v1/generate", json={"prompt": "the company", "max_new_tokens": 3, "temperature": 0}
    )
    sampled = client.post("/v1/generate", json={"prompt": "the company", "max_new_tokens": 3})
    assert greedy.json()["seed"] is None and isinstance(sampled.json()["seed"], int)


def test_known_words_count_words_not_punctuation_or_markup(client: TestClient) -> None:
    [result] = client.post("/v1/sentiment", json={"texts": ["<b>great</b> film!!! <br />"]}).json()["results"]
    assert result["known_words"] == 2


def test_errors_speak_the_protocol_they_answer(client: TestClient) -> None:
    texts = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["zzqx qqzz"]}]}
    unknown = client.post("/v2/models/sentiment/infer", json=texts).json()["error"]
    assert "inputs.text.0" in unknown and "body" not in unknown and "texts" not in unknown
    missing = client.post("/v2/models/nope/infer", json=texts).json()["error"]
    assert missing == "no model named 'nope'"  # no advice about /v1


def test_a_value_that_fits_no_form_gets_one_detail(client: TestClient) -> None:
    response = client.post(
        "/v1/forecast",
        content=b'{"history": [1.0, NaN, 3.0, "x"], "horizon": 2}',
        headers={"Content-Type": "application/json"},
    )
    details = response.json()["error"]["details"]
    assert [detail["loc"] for detail in details] == [["body", "history", 1], ["body", "history", 3]]


def test_one_json_has_one_reading(client: TestClient) -> None:
    duplicated = b'{"texts": ["good"], "texts": ["awful"]}'
    response = client.post("/v1/sentiment", content=duplicated, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "'texts' more than once" in response.json()["error"]["message"]
    whole = client.post("/v1/next-word", json={"text": "the company", "top_k": 3.0})
    assert whole.status_code == 200 and len(whole.json()["predictions"]) == 3  # 3.0 is the integer 3


@pytest.mark.parametrize(
    ("shape", "data"),
    [([2], [["good", "bad"]]), ([2, 1], [["good"], ["bad", "worse"]]), (["1"], ["good"]), ([1.0], ["good"])],
)
def test_v2_data_must_follow_an_integer_shape(
    client: TestClient, shape: list[object], data: list[object]
) -> None:
    body = {"inputs": [{"name": "text", "shape": shape, "datatype": "BYTES", "data": data}]}
    assert client.post("/v2/models/sentiment/infer", json=body).status_code == 400


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("0.5", 200),
        (" 2 ", 200),
        ("", 200),
        ("0", 422),
        ("0.0", 422),
        ("-1", 422),
        ("inf", 422),
        ("1_0", 422),
    ],
)
def test_the_timeout_header_takes_what_its_pattern_says(client: TestClient, value: str, status: int) -> None:
    response = client.post("/v1/sentiment", json={"texts": ["great"]}, headers={"X-Request-Timeout": value})
    assert response.status_code == status
    pattern = client.get("/openapi.json").json()["paths"]["/v1/sentiment"]["post"]["parameters"][0]["schema"]
    assert (re.fullmatch(pattern["pattern"], value) is not None) == (status != 422)
