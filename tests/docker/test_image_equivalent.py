"""The image, without an engine: install what the Dockerfile installs into a fresh venv, lay the app out as
its COPY lines do, run its CMD with its ENV, and check readiness, every endpoint and a SIGTERM drain.

Differences from the image, each forced by this machine: torch comes from the default index (the
PyTorch CPU index is unreachable here; same version), the app folder and port are temporary ones,
and the server binds loopback instead of 0.0.0.0.
"""

import asyncio
import shutil
import signal
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_until_ok
from tests.docker.dockerfile import REPO, stage_command, stage_copies, stage_environment

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/opt/venv of the image: a fresh venv with docker/requirements.txt and nothing else."""
    root = tmp_path_factory.mktemp("image") / "venv"
    venv.create(root, with_pip=True)
    python = root / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*install, "-r", str(REPO / "docker" / "requirements.txt")], check=True, timeout=900)
    return root


@pytest.fixture
def image_server(image_venv: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    app = tmp_path / "app"
    app.mkdir()
    for source in stage_copies():
        shutil.copytree(REPO / source, app / source, ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    command = stage_command()
    environment = {key: value for key, value in stage_environment().items() if key != "PATH"}
    env = {
        "HOME": str(tmp_path),
        **environment,
        "PATH": f"{image_venv / 'bin'}:/usr/bin:/bin",
        "RNNSERVE_ARTIFACTS_DIR": str(app / "artifacts"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    process = subprocess.Popen(command, cwd=app, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(f"{url}/readyz", 120, process)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_image_command_serves_every_endpoint_and_drains_on_sigterm(image_server: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, process = image_server
    checks = [
        ("POST", "/v1/sentiment", {"texts": ["an absolute masterpiece"]}),
        ("POST", "/v1/next-word", {"text": "the new york stock"}),
        ("POST", "/v1/perplexity", {"text": "the company said it expects a loss"}),
        ("POST", "/v1/generate", {"prompt": "the company said", "max_new_tokens": 5, "seed": 1}),
        ("POST", "/v1/forecast", {"history": [100 + (t % 12) * 5 for t in range(48)], "horizon": 12, "quantiles": [0.1, 0.9]}),
        ("POST", "/v1/forecast", {"model": "forecast-sine", "history": [0.0] * 200 + [0.5] * 51, "horizon": 1000}),
        ("GET", "/v1/models", None),
        ("GET", "/v1/models/sentiment", None),
        ("GET", "/healthz", None),
        ("GET", "/metrics", None),
        ("GET", "/docs", None),
    ]
    for method, path, body in checks:
        response = httpx.request(method, f"{url}{path}", json=body, timeout=30)
        assert response.status_code == 200, (path, response.text)

    async def generate_during_sigterm() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:
            body = {"prompt": "the company said", "max_new_tokens": 200, "seed": 2}
            requests = [asyncio.create_task(client.post(f"{url}/v1/generate", json=body)) for _ in range(4)]
            await asyncio.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            return [response.status_code for response in await asyncio.gather(*requests)]

    assert asyncio.run(generate_during_sigterm()) == [200] * 4
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)


def test_image_serves_with_python_m_service_so_its_drain_setting_applies() -> None:
    # python -m service sizes uvicorn's graceful window from RNNSERVE_DRAIN_TIMEOUT_S (a CMD flag would not follow it).
    assert stage_command() == ["python", "-m", "service"]
    assert float(stage_environment()["RNNSERVE_DRAIN_TIMEOUT_S"]) > 0
