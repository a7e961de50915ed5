"""Read the Dockerfile's stages, so the static checks test what the image really sets."""

import json
import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[str]:
    """Every instruction, comments dropped and continuation lines joined."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.strip().startswith("#") or not raw.strip():
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            lines.append(current.strip())
            current = ""
    return lines


def stages() -> dict[str, list[str]]:
    """Stage name -> its instructions (FROM line first), in file order."""
    found: dict[str, list[str]] = {}
    for line in instructions():
        if line.upper().startswith("FROM "):
            found[line.split()[-1]] = [line]
        elif found:
            found[next(reversed(found))].append(line)
    return found


def stage_dependencies(stage: str) -> set[str]:
    """The stages `stage` is built from (its FROM and COPY --from), transitively."""
    every = stages()
    direct = {every[stage][0].split()[1]}
    direct |= {match for line in every[stage] for match in re.findall(r"--from=(\S+)", line)}
    direct &= set(every)
    return direct | {indirect for name in direct for indirect in stage_dependencies(name)}


def stage_environment(stage: str = "runtime") -> dict[str, str]:
    environment: dict[str, str] = {}
    for line in stages()[stage]:
        if line.upper().startswith("ENV "):
            for pair in shlex.split(line[4:]):
                key, _, value = pair.partition("=")
                environment[key] = value
    return environment


def stage_command(stage: str = "runtime") -> list[str]:
    command = [line for line in stages()[stage] if line.upper().startswith("CMD ")][-1]
    return list(json.loads(command[4:]))


def stage_copies(stage: str = "runtime") -> list[str]:
    """Sources of the stage's plain COPY instructions (not COPY --from)."""
    return [line.split()[1] for line in stages()[stage] if line.startswith("COPY ") and "--from" not in line]
