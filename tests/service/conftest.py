import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.helpers import write_tiny_sentiment_artifact

ClientFactory = Callable[..., Any]


def wait_until_ready(client: TestClient, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the app never became ready"
        time.sleep(0.02)


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good tiny sentiment model, a second one, and a broken artifact beside them."""
    root = tmp_path_factory.mktemp("artifacts")
    write_tiny_sentiment_artifact(root, "sentiment")
    write_tiny_sentiment_artifact(root, "sentiment-gru", cell="gru", max_length=8)
    (root / "broken").mkdir()
    (root / "broken" / "card.json").write_text("{ not json")
    return root


@pytest.fixture
def make_client(artifacts_dir: Path) -> Iterator[ClientFactory]:
    """Build an app with settings overrides and run its lifespan; waits for readiness unless told not to."""

    @contextmanager
    def factory(ready: bool = True, raise_server_exceptions: bool = True, **overrides: Any) -> Iterator[TestClient]:
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
