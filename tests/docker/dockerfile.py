"""Read what the Dockerfile's runtime stage sets, so the image-equivalent test runs exactly that."""

import json
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def runtime_stage(stage: str = "runtime") -> list[str]:
    """The instructions of one stage, continuation lines joined."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.strip().startswith("#") or not raw.strip():
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            lines.append(current.strip())
            current = ""
    start = next(i for i, line in enumerate(lines) if line.upper().startswith("FROM ") and line.endswith(f" AS {stage}"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].upper().startswith("FROM ")), len(lines))
    return lines[start:end]


def stage_environment(stage: str = "runtime") -> dict[str, str]:
    environment: dict[str, str] = {}
    for line in runtime_stage(stage):
        if line.upper().startswith("ENV "):
            for pair in shlex.split(line[4:]):
                key, _, value = pair.partition("=")
                environment[key] = value
    return environment


def stage_command(stage: str = "runtime") -> list[str]:
    command = [line for line in runtime_stage(stage) if line.upper().startswith("CMD ")][-1]
    return list(json.loads(command[4:]))


def stage_copies(stage: str = "runtime") -> list[str]:
    """Sources of the stage's plain COPY instructions (not COPY --from)."""
    return [line.split()[1] for line in runtime_stage(stage) if line.startswith("COPY ") and "--from" not in line]
