"""Fixtures shared by every test package: small artifacts made here, free loopback ports."""

import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import write_tiny_forecast_artifact, write_tiny_lm_artifact, write_tiny_sentiment_artifact


def wait_until_ok(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll `url` until it answers 200; fail early if `process` (the server) exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} never answered 200"
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny sentiment models, a tiny language model, tiny forecasters, and a broken artifact beside them."""
    root = tmp_path_factory.mktemp("artifacts")
    write_tiny_sentiment_artifact(root, "sentiment")
    write_tiny_sentiment_artifact(root, "sentiment-gru", cell="gru", max_length=8)
    write_tiny_lm_artifact(root, "lm-ptb")
    univariate_methods = ["network", "seasonal_naive", "ets", "theta", "combination"]
    write_tiny_forecast_artifact(
        root, "forecast-univariate", ["value"], "value", methods=univariate_methods, min_history=4
    )
    write_tiny_forecast_artifact(
        root, "forecast-ohlcv", ["Open", "High", "Low", "Close", "Volume"], "Close", max_horizon=3
    )
    write_tiny_forecast_artifact(
        root, "forecast-sine", ["value"], "value", multi_step="recursive", max_horizon=50
    )
    (root / "broken").mkdir()
    (root / "broken" / "card.json").write_text("{ not json")
    return root


GPU_SKIP = (
    "CUDA is not available here: the gpu tests run with `make test-gpu` on a machine with an NVIDIA GPU"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `gpu` run only where CUDA is present; elsewhere they are skipped, saying why."""
    import torch  # only here: the fixtures above need no torch

    if torch.cuda.is_available():
        return
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(pytest.mark.skip(reason=GPU_SKIP))
