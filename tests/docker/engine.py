"""A Docker engine for the container tests, driven through its command-line tools.

The commands are the ones `../shared/tools/docker-offline.sh up` prints on our machines ($DOCKER_BUILD,
$DOCKER_BUILD_ARGS, $COMPOSE); elsewhere plain `docker build` and `docker compose`.
"""

import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.docker.dockerfile import REPO

NO_ENGINE = (
    "no Docker engine answers `docker info`: on our machines run "
    '`eval "$(../shared/tools/docker-offline.sh up)"` first (.ci/run does); elsewhere install Docker'
)
RUNTIME_IMAGE = "rnnserve:cpu"  # the tags docker-compose.yml names
TRAIN_IMAGE = "rnnserve:train"


def run(
    command: list[str],
    timeout: float = 120,
    check: bool = True,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{shlex.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def engine_answers() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    )


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    return str(run(["docker", *args], timeout=timeout, check=check).stdout.strip())


@dataclass(frozen=True)
class Engine:
    build_command: list[str]  # `docker build` plus the arguments this machine needs
    compose_command: list[str]

    @classmethod
    def from_environment(cls) -> "Engine":
        build = shlex.split(os.environ.get("DOCKER_BUILD", "docker build")) + shlex.split(
            os.environ.get("DOCKER_BUILD_ARGS", "")
        )
        if "COMPOSE" in os.environ:
            compose = shlex.split(os.environ["COMPOSE"])
        elif subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
            compose = ["docker", "compose"]
        else:
            compose = ["docker-compose"]
        return cls(build, compose)

    def build(self, target: str, tag: str) -> tuple[float, str]:
        """Build one target of the Dockerfile; the seconds it took and the build's output."""
        started = time.monotonic()
        result = run([*self.build_command, "--target", target, "-t", tag, str(REPO)], timeout=1200, cwd=REPO)
        return time.monotonic() - started, result.stdout + result.stderr


def container_ip(container: str) -> str:
    return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container)


def published_url(container: str, port: int = 8000) -> str:
    """http://127.0.0.1:<host port> for a container started with -p 127.0.0.1::<port>."""
    binding = docker("port", container, f"{port}/tcp").splitlines()[0]
    return f"http://127.0.0.1:{binding.rsplit(':', 1)[1]}"


def wait_healthy(container: str, timeout: float = 120) -> float:
    """Poll the container's HEALTHCHECK status until `healthy`; the seconds it took from the call."""
    started = time.monotonic()
    while True:
        state = json.loads(docker("inspect", "-f", "{{json .State}}", container))
        if state.get("Health", {}).get("Status") == "healthy":
            return time.monotonic() - started
        assert state["Running"], f"container {container} stopped: {docker('logs', container, check=False)}"
        assert time.monotonic() - started < timeout, (
            f"container {container} not healthy in {timeout} s: {state}"
        )
        time.sleep(0.2)


@dataclass
class ComposeProject:
    """One compose project on docker-compose.yml, with its own name, host ports and variables."""

    engine: Engine
    variables: Mapping[str, str]
    name: str = field(default_factory=lambda: f"rnnserve-e2e-{uuid.uuid4().hex[:8]}")

    def __call__(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        # Only the variables given here: a key or port on the host must not leak into the project.
        keep = {key: value for key, value in os.environ.items() if not key.startswith("RNNSERVE_")}
        command = [
            *self.engine.compose_command,
            "-p",
            self.name,
            "-f",
            str(REPO / "docker-compose.yml"),
            *args,
        ]
        return str(
            run(
                command, timeout=timeout, check=check, cwd=REPO, env={**keep, **self.variables}
            ).stdout.strip()
        )

    def containers(self, service: str) -> list[str]:
        return [line for line in self("ps", "-q", service).splitlines() if line]

    def network(self) -> str:
        return f"{self.name}_default"

    def down(self) -> None:
        self(
            "--profile",
            "scale",
            "--profile",
            "train",
            "down",
            "-v",
            "--remove-orphans",
            "-t",
            "5",
            check=False,
        )
