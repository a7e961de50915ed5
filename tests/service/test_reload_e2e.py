"""Hot reload proven under load against a real server: 4 clients loop on a model while a version trained by
the CLI is moved in, then three broken versions, then an unload and a load."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.artifact import replace_folder
from tests.helpers import write_imdb_jsonl, write_tiny_lm_artifact, write_tiny_sentiment_artifact
from tests.service.test_faults_e2e import LiveServer, serve
from tests.service.test_reload import card_of_another_shape, nan_weights, truncated_weights
from training.cli import main

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": "Bearer admin-key"}
SCAN_S = 0.3
CLIENTS = 4


@dataclass
class Answer:
    received: float  # time.time() when it arrived
    status: int
    version: str | None


@dataclass
class Clients:
    """CLIENTS threads posting one review after another until stopped, each keeping its answers in order."""

    url: str
    answers: list[list[Answer]] = field(default_factory=lambda: [[] for _ in range(CLIENTS)])
    stop: threading.Event = field(default_factory=threading.Event)
    readiness: list[int] = field(default_factory=list)  # /readyz's statuses meanwhile

    def loop(self, index: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stop.is_set():
                response = http.post("/v1/sentiment", json={"texts": ["a wonderful, moving film"]})
                version = response.json().get("version") if response.status_code == 200 else None
                self.answers[index].append(Answer(time.time(), response.status_code, version))

    def poll_readiness(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stop.is_set():
                self.readiness.append(http.get("/readyz").status_code)
                time.sleep(0.02)

    def every(self) -> list[Answer]:
        return [answer for answers in self.answers for answer in answers]


@contextmanager
def looping(url: str) -> Iterator[Clients]:
    clients = Clients(url)
    threads = [threading.Thread(target=clients.loop, args=(index,)) for index in range(CLIENTS)]
    threads.append(threading.Thread(target=clients.poll_readiness))
    for thread in threads:
        thread.start()
    try:
        yield clients
    finally:
        clients.stop.set()
        for thread in threads:
            thread.join(timeout=30)


def attempt_of(server: LiveServer, version: str, timeout: float = 60) -> dict[str, Any]:
    """The model's reload attempt once the attempt at `version` has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attempt = httpx.get(f"{server.url}/v1/models/sentiment").json()["reload"]
        if attempt and attempt["version"] == version and attempt["status"] != "loading":
            return dict(attempt)
        time.sleep(0.05)
    raise AssertionError(f"version {version!r} was never tried")


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    root = tmp_path / "artifacts"
    write_tiny_sentiment_artifact(root, "sentiment", version="v1")
    write_tiny_lm_artifact(root, "lm-ptb")
    settings = {"RNNSERVE_RELOAD_INTERVAL_S": str(SCAN_S), "RNNSERVE_ADMIN_KEY": "admin-key"}
    with serve(root, tmp_path / "server.log", **settings) as live:
        yield live


def trained_version(tmp_path: Path) -> tuple[Path, str]:
    """A new sentiment version trained by the CLI on tiny data into a staging folder beside the served one."""
    data = write_imdb_jsonl(tmp_path / "imdb", 120, 40)
    staging = tmp_path / "staging" / "sentiment"
    tiny = ["--epochs", "1", "--embedding-dim", "8", "--hidden-size", "8", "--batch-size", "16"]
    main(["--threads", "1", "sentiment", "--data", str(data), "--out", str(staging), *tiny])
    return staging, json.loads((staging / "card.json").read_text())["version"]


def broken_copy(staging: Path, version: str, breakage: Callable[[Path], None]) -> Path:
    write_tiny_sentiment_artifact(staging.parent, staging.name, version=version, seed=3)
    breakage(staging)
    return staging


def test_versions_swap_under_load_and_broken_ones_never_answer(server: LiveServer, tmp_path: Path) -> None:
    served = tmp_path / "artifacts" / "sentiment"
    staging, new = trained_version(tmp_path)
    with looping(server.url) as clients:
        time.sleep(0.5)
        replace_folder(served, staging)
        swapped = attempt_of(server, new)
        time.sleep(0.5)
    assert swapped["status"] == "swapped", swapped
    answers = clients.every()
    assert answers and all(answer.status == 200 for answer in answers)
    assert clients.readiness and set(clients.readiness) == {200}  # in the load balancer throughout
    for per_client in clients.answers:  # each client sees v1, then the new version, never back
        versions = [answer.version for answer in per_client]
        changes = sum(1 for before, after in zip(versions, versions[1:], strict=False) if before != after)
        assert versions[0] == "v1" and versions[-1] == new and changes == 1
    first_new = min(answer.received for answer in answers if answer.version == new)
    assert first_new >= seconds(swapped["done_at"])  # not one answer of the new version before its check

    with looping(server.url) as clients:
        for index, breakage in enumerate((nan_weights, card_of_another_shape, truncated_weights)):
            version = f"broken-{index}"
            replace_folder(served, broken_copy(tmp_path / "staging" / "sentiment", version, breakage))
            failed = attempt_of(server, version)
            assert failed["status"] == "failed" and failed["reason"], failed
    answers = clients.every()
    assert answers and all(answer.status == 200 and answer.version == new for answer in answers)
    assert set(clients.readiness) == {200}
    model = httpx.get(f"{server.url}/v1/models/sentiment").json()
    assert model["version"] == new and model["status"] == "ready"

    unloaded = httpx.post(f"{server.url}/v2/repository/models/sentiment/unload", headers=ADMIN)
    assert unloaded.status_code == 200
    time.sleep(3 * SCAN_S)  # scans come and go: the folder is there, but the model stays unloaded
    assert served.is_dir()
    assert httpx.post(f"{server.url}/v1/sentiment", json={"texts": ["fine"]}).status_code == 404
    readiness = httpx.get(f"{server.url}/readyz")
    assert readiness.status_code == 503  # the sentiment default was unloaded on purpose, and it says so
    said = {model["name"]: model for model in readiness.json()["models"]}["sentiment"]
    assert said["status"] == "unloaded" and "unloaded by POST" in said["reason"]
    loaded = httpx.post(f"{server.url}/v2/repository/models/sentiment/load", headers=ADMIN, timeout=60)
    assert (
        loaded.status_code == 400
    )  # the folder now holds broken-2: the load is refused, the model stays out
    rollback = {"parameters": {"version": new}}
    loaded = httpx.post(
        f"{server.url}/v2/repository/models/sentiment/load", headers=ADMIN, content=json.dumps(rollback)
    )
    assert loaded.status_code == 200 and loaded.json()["version"] == new
    assert httpx.get(f"{server.url}/readyz").status_code == 200
