"""The image on a real engine: it builds, `docker run` turns healthy and serves every endpoint as a
non-root user, and a plain `docker stop` drains the requests in flight instead of cutting them."""

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.docker.conftest import BuiltImages
from tests.docker.engine import RUNTIME_IMAGE, TRAIN_IMAGE, docker, published_url, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

EVERY_ENDPOINT = [
    ("POST", "/v1/sentiment", {"texts": ["an absolute masterpiece"]}),
    ("POST", "/v1/next-word", {"text": "the new york stock"}),
    ("POST", "/v1/perplexity", {"text": "the company said it expects a loss"}),
    ("POST", "/v1/generate", {"prompt": "the company said", "max_new_tokens": 5, "seed": 1}),
    (
        "POST",
        "/v1/forecast",
        {"history": [100 + (t % 12) * 5 for t in range(48)], "horizon": 12, "quantiles": [0.1, 0.9]},
    ),
    (
        "POST",
        "/v1/forecast",
        {"model": "forecast-sine", "history": [0.0] * 200 + [0.5] * 51, "horizon": 1000},
    ),
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/sentiment", None),
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/metrics", None),
    ("GET", "/docs", None),
    ("GET", "/openapi.json", None),
]


@pytest.fixture
def container(images: BuiltImages) -> Iterator[str]:
    """The runtime image as `docker run -d` starts it, its port published on loopback."""
    name = docker("run", "-d", "-p", "127.0.0.1::8000", RUNTIME_IMAGE)
    try:
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def test_image_builds_both_targets_without_warnings(images: BuiltImages) -> None:
    for tag, output in images.output.items():
        assert "SYS_UID_MAX" not in output, f"{tag}: useradd warned about the uid"
    size_mb = int(docker("image", "inspect", "-f", "{{.Size}}", RUNTIME_IMAGE)) / 1e6
    print(f"\n{RUNTIME_IMAGE}: {size_mb:.0f} MB; build seconds: {images.seconds}")


@pytest.mark.parametrize("image", [RUNTIME_IMAGE, TRAIN_IMAGE])
def test_virtual_environment_has_no_pip(images: BuiltImages, image: str) -> None:
    probe = "import importlib.util; print(importlib.util.find_spec('pip') is None)"
    assert docker("run", "--rm", "--entrypoint", "python", image, "-c", probe) == "True"
    assert not [
        name
        for name in docker("run", "--rm", "--entrypoint", "ls", image, "/opt/venv/bin").split()
        if "pip" in name
    ]


def test_run_turns_healthy_and_serves_every_endpoint_as_a_non_root_user(container: str) -> None:
    seconds = wait_healthy(container)
    print(f"\ndocker run -> healthy: {seconds:.1f} s")
    url = published_url(container)
    for method, path, body in EVERY_ENDPOINT:
        response = httpx.request(method, f"{url}{path}", json=body, timeout=30)
        assert response.status_code == 200, (path, response.text)
    # PID 1 is the server itself (python -m service), and it does not run as root.
    assert docker("exec", container, "stat", "-c", "%u", "/proc/1") == "10001"
    assert "service" in docker("exec", container, "cat", "/proc/1/cmdline")


def test_docker_stop_drains_requests_in_flight(container: str) -> None:
    wait_healthy(container)
    url = published_url(container)

    async def stop_with_requests_in_flight() -> tuple[list[httpx.Response | BaseException], float]:
        # Each request on its own connection, all sent before the stop: short and long generations,
        # more than the image's 5 s drain holds: the short ones finish (200), the rest are answered 503
        # draining.
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            bodies = [
                {"prompt": "the company said", "max_new_tokens": tokens, "seed": 3}
                for tokens in (30, 200) * 64
            ]
            requests = [asyncio.create_task(client.post(f"{url}/v1/generate", json=body)) for body in bodies]
            await asyncio.sleep(0.5)
            started = time.monotonic()
            stopping = asyncio.create_task(asyncio.to_thread(docker, "stop", container, timeout=60))
            answers = await asyncio.gather(*requests, return_exceptions=True)
            await stopping
            return answers, time.monotonic() - started

    answers, stop_seconds = asyncio.run(stop_with_requests_in_flight())
    cut = [answer for answer in answers if isinstance(answer, BaseException)]
    assert not cut, f"{len(cut)} of {len(answers)} requests were cut: {cut[0]!r}"
    codes = [answer.status_code for answer in answers if isinstance(answer, httpx.Response)]
    for answer in answers:
        assert isinstance(answer, httpx.Response) and (
            answer.status_code == 200
            or (answer.status_code == 503 and answer.json()["error"]["code"] == "draining")
        ), answer.text
    state = json.loads(docker("inspect", "-f", "{{json .State}}", container))
    print(f"\ndocker stop with {len(codes)} requests in flight: {stop_seconds:.1f} s, {Counter(codes)}")
    # Exit code 0 within docker stop's default 10 s: the drain ended the server, not a SIGKILL (137).
    assert state["ExitCode"] == 0 and stop_seconds < 10, state


def test_image_runs_as_the_kubernetes_manifests_restrict_it(images: BuiltImages) -> None:
    # deploy/kubernetes: read-only root file system with a writable /tmp, no capabilities, no privilege
    # escalation.
    name = docker(
        "run", "-d", "-p", "127.0.0.1::8000", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "--cpus", "2", RUNTIME_IMAGE,
    )  # fmt: skip
    try:
        wait_healthy(name)
        response = httpx.post(f"{published_url(name)}/v2/models/sentiment/infer", timeout=30, json={
            "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["a wonderful film"]}]
        })  # fmt: skip
        assert response.status_code == 200, response.text
    finally:
        docker("rm", "-f", name, check=False)
