"""The `scale` profile's nginx template, run for real: two rnnserve replicas on loopback behind it.
Both replicas answer, and a replica that dies is routed around."""

import os
import shutil
import signal
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_until_ok
from tests.docker.dockerfile import REPO

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(NGINX is None, reason="nginx is absent: apt-get install nginx (.ci/run does)")]


def start_replica(artifacts_dir: Path) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    env = {**os.environ, "RNNSERVE_ARTIFACTS_DIR": str(artifacts_dir), "HOST": "127.0.0.1", "PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "service"], env=env, cwd=REPO, stderr=subprocess.DEVNULL)
    return port, process


def render_nginx(tmp_path: Path, upstream_ports: list[int], listen_port: int) -> Path:
    """The compose template rendered as nginx's image does (envsubst), inside a minimal main config."""
    template = (REPO / "docker" / "nginx" / "default.conf.template").read_text()
    servers = " ".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in upstream_ports)
    site = string.Template(template).safe_substitute(RNNSERVE_UPSTREAMS=servers, LB_PORT=f"127.0.0.1:{listen_port}")
    (tmp_path / "site.conf").write_text(site)
    temp = tmp_path / "temp"
    temp.mkdir()
    main = f"""
daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {tmp_path}/site.conf;
}}
"""
    (tmp_path / "nginx.conf").write_text(main)
    return tmp_path / "nginx.conf"


@pytest.fixture
def balanced(artifacts_dir: Path, tmp_path: Path) -> Iterator[tuple[str, list[tuple[int, subprocess.Popen[bytes]]]]]:
    replicas = [start_replica(artifacts_dir) for _ in range(2)]
    listen_port = free_port()
    config = render_nginx(tmp_path, [port for port, _ in replicas], listen_port)
    assert NGINX is not None
    nginx = subprocess.Popen([NGINX, "-c", str(config), "-p", str(tmp_path)], stderr=subprocess.PIPE)
    try:
        for port, _ in replicas:
            wait_until_ok(f"http://127.0.0.1:{port}/readyz", 60)
        wait_until_ok(f"http://127.0.0.1:{listen_port}/healthz", 60)
        yield f"http://127.0.0.1:{listen_port}", replicas
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        for _, process in replicas:
            if process.poll() is None:
                process.kill()
                process.wait()


def answered_by(url: str, count: int) -> list[str]:
    upstreams = []
    with httpx.Client(timeout=30) as client:
        for _ in range(count):
            response = client.post(f"{url}/v1/sentiment", json={"texts": ["a wonderful film"]})
            assert response.status_code == 200, response.text
            upstreams.append(response.headers["x-upstream"].split(", ")[-1])
    return upstreams


def test_both_replicas_answer_and_a_dead_one_is_routed_around(
    balanced: tuple[str, list[tuple[int, subprocess.Popen[bytes]]]],
) -> None:
    url, replicas = balanced
    ports = {f"127.0.0.1:{port}" for port, _ in replicas}
    assert set(answered_by(url, 10)) == ports

    (dead_port, dead), (live_port, _) = replicas
    dead.send_signal(signal.SIGKILL)
    dead.wait()
    assert set(answered_by(url, 10)) == {f"127.0.0.1:{live_port}"}
