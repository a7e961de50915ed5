"""End to end: /docs renders its operations in headless Chromium, with no internet."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.service.conftest import LiveServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium is absent: install Debian's chromium (.ci/run does) to render /docs",
    ),
]


def render(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran; background networking is off, as on a machine with no
    internet."""
    assert CHROMIUM is not None
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
        "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
        "--virtual-time-budget=15000", "--dump-dom",
    ]  # fmt: skip
    result = subprocess.run([CHROMIUM, *flags, url], capture_output=True, text=True, timeout=120)
    return result.stdout


def test_docs_page_draws_every_operation_offline(live_server: LiveServer, tmp_path: Path) -> None:
    dom = render(f"{live_server.url}/docs", tmp_path / "profile")
    assert "Unable to render this definition" not in dom
    assert 'class="swagger-ui"' in dom
    for path in ("/v1/sentiment", "/v1/models", "/readyz"):
        assert f'data-path="{path}"' in dom, f"operation {path} is not drawn"
