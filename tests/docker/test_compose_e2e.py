"""docker-compose.yml on a real engine: the default service, the `scale` profile behind nginx, and the
`train` profile. Images are built first (compose builds do not take this machine's build arguments),
then every project runs with `up --no-build` under its own name and host ports."""

import json
import math
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_until_ok
from tests.docker.conftest import BuiltImages
from tests.docker.dockerfile import REPO
from tests.docker.engine import (
    RUNTIME_IMAGE,
    ComposeProject,
    Engine,
    container_ip,
    docker,
    published_url,
    wait_healthy,
)

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

REVIEW = {"texts": ["a wonderful film"]}


def test_compose_up_serves_sentiment_with_no_key_set(engine: Engine, images: BuiltImages) -> None:
    port = free_port()
    project = ComposeProject(
        engine, {"RNNSERVE_PORT": str(port)}
    )  # RNNSERVE_API_KEY unset: compose passes ""
    try:
        started = time.monotonic()
        project("up", "-d", "--no-build", "api")
        [api] = project.containers("api")
        wait_healthy(api)
        print(f"\ncompose up -> healthy: {time.monotonic() - started:.1f} s")
        response = httpx.post(f"http://127.0.0.1:{port}/v1/sentiment", json=REVIEW, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["label"] in ("positive", "negative")
    finally:
        project.down()


@dataclass
class Balancer:
    project: ComposeProject
    url: str

    def replica_addresses(self) -> set[str]:
        return {container_ip(container) for container in self.project.containers("replica")}

    def scale(self, replicas: int) -> None:
        self.project(
            "--profile",
            "scale",
            "up",
            "-d",
            "--no-build",
            "--no-recreate",
            "--scale",
            f"replica={replicas}",
            "lb",
        )


def tried_upstreams(response: httpx.Response) -> list[str]:
    """The replicas nginx tried for one request, in order (X-Upstream: "10.0.0.2:8000, 10.0.0.3:8000")."""
    return [address.rsplit(":", 1)[0] for address in response.headers["x-upstream"].split(", ")]


def post_reviews(url: str, count: int) -> list[httpx.Response]:
    with httpx.Client(timeout=30) as client:
        responses = [client.post(f"{url}/v1/sentiment", json=REVIEW) for _ in range(count)]
    assert [response.status_code for response in responses] == [200] * count, [
        r.text for r in responses if r.status_code != 200
    ]
    return responses


@pytest.fixture(scope="module")
def balancer(engine: Engine, images: BuiltImages) -> Iterator[Balancer]:
    """The `scale` profile with 2 replicas: nginx on a free host port."""
    port = free_port()
    project = ComposeProject(
        engine, {"RNNSERVE_LB_PORT": str(port), "RNNSERVE_SESSION_KEY": "e2e-session-key"}
    )
    try:
        started = time.monotonic()
        project("--profile", "scale", "up", "-d", "--no-build", "--scale", "replica=2", "lb")
        wait_until_ok(f"http://127.0.0.1:{port}/readyz", 60)
        print(f"\ncompose --profile scale up (2 replicas) -> answering: {time.monotonic() - started:.1f} s")
        yield Balancer(project, f"http://127.0.0.1:{port}")
    finally:
        project.down()


def test_both_replicas_answer(balancer: Balancer) -> None:
    answered = {tried_upstreams(response)[-1] for response in post_reviews(balancer.url, 20)}
    assert answered == balancer.replica_addresses() and len(answered) == 2


def test_replica_added_with_scale_gets_traffic(balancer: Balancer) -> None:
    before = set(balancer.project.containers("replica"))
    balancer.scale(len(before) + 1)
    [added] = set(balancer.project.containers("replica")) - before
    wait_healthy(added)
    # nginx looks the name up again every second; no restart of the balancer.
    address, deadline = container_ip(added), time.monotonic() + 10
    while address not in {tried_upstreams(response)[-1] for response in post_reviews(balancer.url, 20)}:
        assert time.monotonic() < deadline, f"the added replica {address} got no request"


def test_killing_a_replica_loses_no_request(balancer: Balancer) -> None:
    if len(balancer.project.containers("replica")) < 2:
        balancer.scale(2)
    victim = balancer.project.containers("replica")[0]
    victim_address = container_ip(victim)
    codes: Counter[int] = Counter()
    retried = Counter[str]()
    cut: list[str] = []  # answers broken off after their head: nginx had forwarded it, so it could not resend
    stop = threading.Event()

    def client_loop() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                try:
                    response = client.post(f"{balancer.url}/v1/sentiment", json=REVIEW)
                except httpx.TransportError as error:
                    cut.append(repr(error))
                    continue
                codes[response.status_code] += 1
                if len(tried_upstreams(response)) > 1:
                    retried[tried_upstreams(response)[0]] += 1

    clients = [threading.Thread(target=client_loop) for _ in range(4)]
    for thread in clients:
        thread.start()
    time.sleep(2)
    docker("kill", victim)
    time.sleep(4)
    stop.set()
    for thread in clients:
        thread.join()
    print(
        f"\nkilled one replica under load from 4 clients: {dict(codes)}, resent after a failed try: "
        f"{dict(retried)}, cut: {cut}"
    )
    assert set(codes) == {200}, codes  # no 502 or 503 reaches a client
    # A replica killed between writing a response's head and its body cuts that one response: nginx has
    # forwarded the head and cannot resend (seen once in about ten runs; README, Docker). More is a fault.
    assert len(cut) <= 1, cut
    # A moment later the dead address has left the DNS answer: nothing is sent there any more.
    time.sleep(1.5)
    assert victim_address not in {
        address for response in post_reviews(balancer.url, 20) for address in tried_upstreams(response)
    }


def test_a_state_token_continues_on_whichever_replica_answers(balancer: Balancer) -> None:
    words = [
        "the",
        "company",
        "said",
        "it",
        "expects",
        "a",
        "loss",
        "in",
        "the",
        "third",
        "quarter",
        "because",
        "of",
        "higher",
        "costs",
    ]
    upstreams = []
    with httpx.Client(timeout=30) as client:
        token = client.post(f"{balancer.url}/v1/sessions", json={}).json()["state"]
        for word in words:  # one word a call: each goes to whichever replica nginx picks
            response = client.post(f"{balancer.url}/v1/sessions/append", json={"state": token, "text": word})
            assert response.status_code == 200, response.text
            token = response.json()["state"]
            upstreams.append(tried_upstreams(response)[-1])
        whole = client.post(f"{balancer.url}/v1/next-word", json={"text": " ".join(words)}).json()[
            "predictions"
        ]
    assert len(set(upstreams)) >= 2, upstreams
    continued = response.json()["predictions"]
    assert [p["word"] for p in continued] == [p["word"] for p in whole]
    assert [p["probability"] for p in continued] == pytest.approx([p["probability"] for p in whole], abs=1e-3)


def test_replica_answering_503_is_skipped_for_posts(balancer: Balancer, tmp_path: Path) -> None:
    # A real replica whose only model cannot load: it answers every /v1/sentiment with 503 model_not_ready.
    broken = tmp_path / "artifacts"
    (broken / "sentiment").mkdir(parents=True)
    (broken / "sentiment" / "card.json").write_text("{ not json")
    for path in (broken, broken / "sentiment"):
        path.chmod(0o755)
    (broken / "sentiment" / "card.json").chmod(0o644)
    failing = docker(
        "run",
        "-d",
        "--network",
        balancer.project.network(),
        "--network-alias",
        "replica",
        "-p",
        "127.0.0.1::8000",
        "-v",
        f"{broken}:/app/artifacts:ro",
        RUNTIME_IMAGE,
    )
    try:
        url, deadline = published_url(failing), time.monotonic() + 60
        while True:
            try:
                direct = httpx.post(f"{url}/v1/sentiment", json=REVIEW, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the failing replica never answered"
                time.sleep(0.2)
        assert direct.status_code == 503 and direct.json()["error"]["code"] == "model_not_ready", direct.text
        address = container_ip(failing)
        time.sleep(1.5)  # nginx's next lookup of `replica` includes it
        responses = post_reviews(balancer.url, 30)  # every one 200
        skipped = [response for response in responses if address in tried_upstreams(response)[:-1]]
        print(
            f"\na replica answering 503: {len(skipped)} of {len(responses)} POSTs tried it first, all "
            f"answered 200"
        )
        assert skipped and all(tried_upstreams(response)[-1] != address for response in responses)
    finally:
        docker("rm", "-f", failing, check=False)


def test_train_profile_writes_an_artifact_that_the_api_serves(
    engine: Engine, images: BuiltImages, tmp_path: Path
) -> None:
    artifacts, data = tmp_path / "artifacts", tmp_path / "data"
    artifacts.mkdir()
    data.mkdir()
    # As on a typical host, the folder belongs to the first user (uid 1000), not to the image's uid 10001.
    uid, gid = (1000, 1000) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    os.chown(artifacts, uid, gid)
    artifacts.chmod(0o755)
    committed_before = subprocess.run(
        ["git", "status", "--porcelain", "artifacts"], cwd=REPO, capture_output=True, text=True
    ).stdout
    port = free_port()
    variables = {"RNNSERVE_ARTIFACTS": str(artifacts), "RNNSERVE_DATA": str(data), "RNNSERVE_PORT": str(port)}
    project = ComposeProject(engine, {**variables, "RNNSERVE_UID": str(uid), "RNNSERVE_GID": str(gid)})
    try:
        project(
            "--profile",
            "train",
            "run",
            "--rm",
            "-T",
            "train",
            "forecast",
            "--preset",
            "sine",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "3",
            "--rollout-start",
            "5",
            "--rollout-max",
            "5",
            "--batch-size",
            "8",
            "--out",
            "/app/artifacts/sine-e2e",
            "--name",
            "sine-e2e",
        )
        card = json.loads((artifacts / "sine-e2e" / "card.json").read_text())
        assert (artifacts / "sine-e2e" / "weights.safetensors").stat().st_uid == uid
        project("up", "-d", "--no-build", "api")
        [api] = project.containers("api")
        wait_healthy(api)
        history = [math.sin(0.3 * step) for step in range(card["io"]["context_length"])]
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/forecast",
            json={"model": "sine-e2e", "history": history, "horizon": 20},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["model"] == "sine-e2e" and len(response.json()["forecast"]) == 20
    finally:
        project.down()
    committed_after = subprocess.run(
        ["git", "status", "--porcelain", "artifacts"], cwd=REPO, capture_output=True, text=True
    ).stdout
    assert committed_after == committed_before, "the train profile touched the committed artifacts/"
