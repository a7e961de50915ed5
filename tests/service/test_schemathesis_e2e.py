"""Schemathesis over the whole OpenAPI document of a real server on the committed models: every check
(`--checks all`), with an API key set so the authentication checks mean something, a fixed seed and
bounded examples. The accepted answers it cannot infer from the schema are in schemathesis.toml."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service.conftest import COMMITTED_ARTIFACTS
from tests.service.test_faults_e2e import serve

pytestmark = pytest.mark.e2e
CONFIG = Path(__file__).with_name("schemathesis.toml")
KEY = "schemathesis-key"


def test_schemathesis_finds_no_failure_over_the_whole_api(tmp_path: Path) -> None:
    program = Path(sys.executable).with_name(
        "schemathesis"
    )  # installed beside this interpreter by the dev extra
    if not program.is_file():
        pytest.skip("schemathesis is absent: pip install -e '.[dev]' installs it")
    # The config seeds the /v2 paths with the committed language model's name and version.
    version = json.loads((COMMITTED_ARTIFACTS / "lm-ptb" / "card.json").read_text())["version"]
    with serve(
        COMMITTED_ARTIFACTS,
        RNNSERVE_API_KEY=KEY,
        RNNSERVE_SESSION_KEY="schemathesis-session-key",
        # The repository index under the same header. Its load and unload change what the server serves for
        # the rest of the run, which would make every other operation's answer depend on the order of the
        # run: they are left out here and tested in test_reload.py and with tritonclient.
        RNNSERVE_ADMIN_KEY=KEY,
        RNNSERVE_RELOAD_INTERVAL_S="0",
    ) as server:
        run = subprocess.run(
            [
                program,
                "--config-file",
                str(CONFIG),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "all",
                "--exclude-path-regex",
                "^/v2/repository/models/",
                "-H",
                f"Authorization: Bearer {KEY}",
                "--max-examples",
                "200",
                "--seed",
                "1",
                "--workers",
                "1",
                "--generation-database",
                "none",
                "--no-color",
                "--request-timeout",
                "30",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "RNNSERVE_LM_VERSION": version},
        )
    assert run.returncode == 0, run.stdout[-6000:]
    assert "No issues found" in run.stdout, run.stdout[-3000:]
