"""The engine and the two images, built once per session for every container test."""

import os
from dataclasses import dataclass

import pytest

from tests.docker.engine import NO_ENGINE, RUNTIME_IMAGE, TRAIN_IMAGE, Engine, engine_answers


@dataclass(frozen=True)
class BuiltImages:
    seconds: dict[str, float]  # tag -> build time
    output: dict[str, str]  # tag -> what the build printed


@pytest.fixture(scope="session")
def engine() -> Engine:
    if not engine_answers():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{NO_ENGINE}; in CI a missing engine is a failure, not a skip")
        pytest.skip(NO_ENGINE)
    return Engine.from_environment()


@pytest.fixture(scope="session")
def images(engine: Engine) -> BuiltImages:
    seconds, output = {}, {}
    for target, tag in (("runtime", RUNTIME_IMAGE), ("train", TRAIN_IMAGE)):
        seconds[tag], output[tag] = engine.build(target, tag)
        print(f"\nbuilt {tag} (target {target}) in {seconds[tag]:.1f} s")
    return BuiltImages(seconds, output)
