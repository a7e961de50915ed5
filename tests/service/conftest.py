import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.conftest import free_port, wait_until_ok

ClientFactory = Callable[..., Any]


def wait_until_ready(client: TestClient, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the app never became ready"
        time.sleep(0.02)


@pytest.fixture
def make_client(artifacts_dir: Path) -> Iterator[ClientFactory]:
    """Build an app with settings overrides and run its lifespan; waits for readiness unless told not to."""

    @contextmanager
    def factory(
        ready: bool = True, raise_server_exceptions: bool = True, **overrides: Any
    ) -> Iterator[TestClient]:
        settings = Settings(**{"artifacts_dir": artifacts_dir, **overrides})
        with TestClient(create_app(settings), raise_server_exceptions=raise_server_exceptions) as client:
            if ready:
                wait_until_ready(client)
            yield client

    yield factory


@pytest.fixture
def client(make_client: ClientFactory) -> Iterator[TestClient]:
    with make_client() as ready_client:
        yield ready_client


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def live_server(artifacts_dir: Path) -> Iterator[LiveServer]:
    """A real `python -m service` process on a loopback port serving the test artifacts."""
    port = free_port()
    env = {**os.environ, "RNNSERVE_ARTIFACTS_DIR": str(artifacts_dir), "HOST": "127.0.0.1", "PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "service"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(f"{url}/readyz", 60, process)
        yield LiveServer(url, process)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


COMMITTED_ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="module")
def committed_client() -> Iterator[TestClient]:
    """The whole app serving the committed default artifacts."""
    with TestClient(create_app(Settings(artifacts_dir=COMMITTED_ARTIFACTS))) as client:
        wait_until_ready(client, timeout=60)
        yield client
