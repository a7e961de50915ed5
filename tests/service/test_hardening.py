"""Every documented contract under faults and bad input, in process (the real-server ones are in
test_faults_e2e.py)."""

import json
import shutil
import time
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import load_file, save_file

from models import threads
from service.app import create_app
from service.runtime import versions as versions_module
from service.settings import Settings
from tests.service.conftest import ClientFactory

JSON = {"Content-Type": "application/json"}


# 1. The drain, as the app sees it (the signal itself: test_faults_e2e.py).
def test_once_draining_new_requests_get_503_draining_and_readiness_turns_503(client: TestClient) -> None:
    client.portal.call(client.app.state.drain.begin)  # type: ignore[attr-defined,union-attr]
    response = client.post("/v1/sentiment", json={"texts": ["great"]})
    assert response.status_code == 503 and response.json()["error"]["code"] == "draining"
    readiness = client.get("/readyz")
    assert readiness.status_code == 503 and readiness.json()["draining"] is True
    assert client.get("/healthz").status_code == 200  # still live: the process answers until it exits


# 2. A refusal before the first streamed token keeps its real status.
def test_a_streamed_generation_past_its_deadline_is_a_504_not_a_200(client: TestClient) -> None:
    body = {"prompt": "the", "max_new_tokens": 3, "stream": True}
    response = client.post("/v1/generate", json=body, headers={"X-Request-Timeout": "1e-9"})
    assert response.status_code == 504 and response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "deadline_exceeded"


def test_a_streamed_generation_refused_by_a_full_queue_is_a_429_with_retry_after(
    make_client: ClientFactory,
) -> None:
    with make_client(queue_size=1) as client:
        registry = client.app.state.registry  # type: ignore[attr-defined]
        registry.entries["lm-ptb"].batcher.queue_size = 0  # nothing fits
        response = client.post("/v1/generate", json={"prompt": "the", "max_new_tokens": 3, "stream": True})
        assert response.status_code == 429 and response.headers["retry-after"] == "1"


# 5. Every temperature in the documented range works.
@pytest.mark.parametrize("stream", [False, True])
def test_a_tiny_temperature_is_greedy_not_a_500(client: TestClient, stream: bool) -> None:
    tiny = client.post(
        "/v1/generate",
        json={"prompt": "the company", "max_new_tokens": 5, "temperature": 1e-40, "stream": stream},
    )
    assert tiny.status_code == 200
    greedy = client.post(
        "/v1/generate", json={"prompt": "the company", "max_new_tokens": 5, "temperature": 0}
    ).json()
    if stream:
        events = [json.loads(line[6:]) for line in tiny.text.splitlines() if line.startswith("data: ")]
        assert events[-1]["generated_text"] == greedy["generated_text"]
    else:
        assert tiny.json()["tokens"] == greedy["tokens"]


# 6. Never a null where the schema says number.
def test_a_history_too_large_for_float32_is_a_422_naming_history(client: TestClient) -> None:
    response = client.post("/v1/forecast", json={"history": [1e38] * 40, "horizon": 3})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["body", "history"]


def test_an_artifact_with_nan_weights_fails_its_load(tmp_path: Path, artifacts_dir: Path) -> None:
    shutil.copytree(artifacts_dir / "sentiment", tmp_path / "sentiment")
    weights = load_file(str(tmp_path / "sentiment" / "weights.safetensors"))
    weights["classifier.weight"] = torch.full_like(weights["classifier.weight"], float("nan"))
    save_file(weights, str(tmp_path / "sentiment" / "weights.safetensors"))
    with TestClient(create_app(Settings(artifacts_dir=tmp_path))) as client:
        wait_for_all_tried(client)
        [model] = client.get("/v1/models").json()["models"]
        assert model["status"] == "failed" and "non-finite" in model["reason"]
        assert client.post("/v1/sentiment", json={"texts": ["great"]}).status_code == 503


# 7. Not ready without a model.
@pytest.mark.parametrize("folder", ["empty", "missing"])
def test_no_model_loaded_means_not_ready(tmp_path: Path, folder: str) -> None:
    root = tmp_path / folder
    if folder == "empty":
        root.mkdir()
    with TestClient(create_app(Settings(artifacts_dir=root))) as client:
        wait_for_all_tried(client)
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json() == {
            "ready": False,
            "draining": False,
            "models": [],
        }


# 8. An empty key means no key.
def test_an_empty_api_key_means_no_key(make_client: ClientFactory) -> None:
    with make_client(api_key="") as client:
        assert client.post("/v1/sentiment", json={"texts": ["great"]}).status_code == 200
    with make_client(api_key="s3cret") as client:
        assert (
            client.post(
                "/v1/sentiment", json={"texts": ["great"]}, headers={"Authorization": "Bearer "}
            ).status_code
            == 401
        )


# 9. Malformed bodies are 422 invalid_input naming what is wrong.
@pytest.mark.parametrize(
    ("content", "headers", "named"),
    [
        (b'{"texts": ["caf\xe9"]}', JSON, "UTF-8"),
        (b"[" * 5000 + b"]" * 5000, JSON, "nested"),
        (b'{"texts": ["great"]}', {"Content-Type": "text/plain"}, "Content-Type"),
        (b"texts=great", {"Content-Type": "application/x-www-form-urlencoded"}, "Content-Type"),
        (b'{"texts": ["great"]', JSON, "not valid JSON"),
        (b"", JSON, "no body"),
    ],
)
def test_malformed_bodies_are_422_naming_the_fault(
    client: TestClient, content: bytes, headers: dict[str, str], named: str
) -> None:
    response = client.post("/v1/sentiment", content=content, headers=headers)
    assert response.status_code == 422, response.text
    assert (
        response.json()["error"]["code"] == "invalid_input" and named in response.json()["error"]["message"]
    )


def test_an_empty_request_timeout_header_is_no_header(client: TestClient) -> None:
    assert (
        client.post("/v1/sentiment", json={"texts": ["great"]}, headers={"X-Request-Timeout": ""}).status_code
        == 200
    )


# 10. Strict request types.
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/next-word", {"text": "the company", "top_k": "5"}, "top_k"),
        ("/v1/generate", {"prompt": "the", "stream": "yes"}, "stream"),
        ("/v1/forecast", {"history": ["1"] * 40, "horizon": 2}, "history"),
        ("/v1/forecast", {"history": [True] * 40, "horizon": 2}, "history"),
    ],
)
def test_types_are_strict(client: TestClient, path: str, body: dict[str, object], field: str) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422
    assert any(detail["loc"][:2] == ["body", field] for detail in response.json()["error"]["details"])


# 11. A small /readyz; load errors name the model and field, never internal paths.
def test_readiness_is_small_open_and_lists_only_statuses(make_client: ClientFactory) -> None:
    with make_client(api_key="s3cret") as client:
        response = client.get("/readyz")
        assert response.status_code == 200 and len(response.content) < 1024
        assert set(response.json()) == {"ready", "draining", "models"}
        assert all(set(model) == {"name", "status"} for model in response.json()["models"])


def test_unexpected_load_errors_do_not_show_internals(
    tmp_path: Path, artifacts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(artifacts_dir / "sentiment", tmp_path / "sentiment")

    def crash(path: Path) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(versions_module, "load_artifact", crash)
    with TestClient(create_app(Settings(artifacts_dir=tmp_path))) as client:
        wait_for_all_tried(client)
        [model] = client.get("/v1/models").json()["models"]
        assert (
            model["status"] == "failed"
            and "sentiment" in model["reason"]
            and "alloc_cpu" not in model["reason"]
        )


def test_a_card_missing_an_io_field_names_it(tmp_path: Path, artifacts_dir: Path) -> None:
    shutil.copytree(artifacts_dir / "forecast-univariate", tmp_path / "forecast-univariate")
    card_path = tmp_path / "forecast-univariate" / "card.json"
    card = json.loads(card_path.read_text())
    del card["io"]["quantiles"]
    card_path.write_text(json.dumps(card))
    with TestClient(create_app(Settings(artifacts_dir=tmp_path))) as client:
        wait_for_all_tried(client)
        [model] = client.get("/v1/models").json()["models"]
        assert "io.quantiles: Field required" in model["reason"] and "forecast-univariate" in model["reason"]


# 13. The small ones.
def test_probes_answer_head(client: TestClient) -> None:
    assert client.head("/healthz").status_code == 200 and client.head("/readyz").status_code == 200


def test_no_redirect_is_built_from_the_host_header(client: TestClient) -> None:
    response = client.post(
        "/v1/sentiment/", json={"texts": ["great"]}, headers={"Host": "evil.example"}, follow_redirects=False
    )
    assert response.status_code == 404 and "location" not in response.headers


def test_request_ids_are_kept_as_sent_or_replaced(client: TestClient) -> None:
    kept = client.get("/healthz", headers={"X-Request-ID": "trace-42.a_b"})
    assert kept.headers["x-request-id"] == "trace-42.a_b"
    replaced = client.get("/healthz", headers={"X-Request-ID": "caf\u00e9".encode()})
    assert replaced.headers["x-request-id"].isalnum() and len(replaced.headers["x-request-id"]) == 32


def test_sentiment_says_how_many_words_it_knew_and_refuses_text_it_knows_none_of(client: TestClient) -> None:
    answer = client.post("/v1/sentiment", json={"texts": ["a great film zzqx"]}).json()["results"][0]
    assert answer["known_words"] == 3  # "a" "great" "film"; "zzqx" is unknown
    response = client.post("/v1/sentiment", json={"texts": ["great", "\U0001f600\U0001f600 qqqxz"]})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"loc": ["body", "texts", 1], "msg": "no word of the text is in the vocabulary"}
    ]


# 14. One thread rule.
def test_the_thread_rule_honours_the_setting_the_cpus_the_quota_and_torchrun(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda _: set(range(16)))
    monkeypatch.setattr(threads, "CGROUP_V2_MAX", tmp_path / "cpu.max")
    monkeypatch.setattr(threads, "CGROUP_V1_QUOTA", tmp_path / "missing")
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert threads.thread_count(3) == 3
    assert threads.thread_count() == 8  # half of 16 usable CPUs, no quota file
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.thread_count() == 8
    (tmp_path / "cpu.max").write_text("250000 100000\n")  # a container limited to 2.5 CPUs
    assert threads.usable_cpus() == 3 and threads.thread_count() == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.thread_count() == 2  # 16 CPUs / 2 / 4 processes on this node


def test_the_service_sets_torch_threads_by_the_rule(make_client: ClientFactory) -> None:
    with make_client(threads=1):
        assert torch.get_num_threads() == 1


# 15. Logs: the ready line.
def test_a_ready_line_says_when_every_model_was_tried(
    make_client: ClientFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    with make_client():
        pass
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    [ready] = [line for line in lines if line["message"].startswith("ready:")]
    assert ready["ready"] == 6 and ready["failed"] == 1  # the broken artifact beside the six that load


def wait_for_all_tried(client: TestClient, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not client.app.state.registry.all_tried:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.02)
