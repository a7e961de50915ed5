"""Every line the server logs is one JSON object: its own lines, and uvicorn's about malformed requests."""

import json
import socket
from pathlib import Path

import pytest

from tests.service.test_faults_e2e import serve

pytestmark = pytest.mark.e2e


def test_uvicorns_warnings_about_malformed_requests_are_json_lines(
    artifacts_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    with serve(artifacts_dir, log=log) as live:
        host, port = live.url.removeprefix("http://").split(":")
        for garbage in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n"):
            with socket.create_connection((host, int(port)), timeout=5) as connection:
                connection.sendall(garbage)
                assert connection.recv(100).startswith(b"HTTP/1.1 400")
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # raises on any plain-text line
    assert any(
        entry["logger"] == "uvicorn.error" and "Invalid HTTP request" in entry["message"] for entry in entries
    )
