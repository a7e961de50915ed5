"""Language-model sessions: a text fed in pieces answers as the whole text does, server-side and through
state tokens; generation goes on from the state; concurrency, expiry, the cap and tampering."""

import asyncio
import base64
import hashlib
import hmac
import json
import math
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fastapi.testclient import TestClient

from service.tasks.language_model.runner import LanguageModelRunner
from service.tasks.language_model.sessions import Session
from service.tasks.language_model.state_tokens import StateCodec
from tests.service.conftest import ClientFactory
from tests.service.test_faults_e2e import serve

TEXT = "the cat sat on the mat and the dog ran in the park"  # words of the tiny model's corpus
KEY = "session-test-key"
TOKEN_TOLERANCE = 1e-3  # float16 state: next-word probabilities (absolute) and perplexity (relative)


def pieces(text: str, count: int) -> list[str]:
    words = text.split()
    size = math.ceil(len(words) / count)
    return [" ".join(words[start : start + size]) for start in range(0, len(words), size)]


def expected_perplexity(client: TestClient, text: str) -> float:
    """exp of the mean NLL of the text's words after <eos>: /v1/perplexity without its closing <eos>."""
    runner = client.app.state.registry.entries["lm-ptb"].runner
    assert isinstance(runner, LanguageModelRunner)
    ids = runner.context(text, "text").token_ids
    with torch.inference_mode():
        logits, _ = runner.network(torch.tensor([[runner.eos_id, *ids]]))
    log_probs = F.log_softmax(logits[0, :-1].float(), dim=-1)
    return math.exp(-float(log_probs.gather(-1, torch.tensor(ids)[:, None]).sum()) / len(ids))


def start(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/sessions", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture
def client(make_client: ClientFactory) -> Any:
    with make_client(session_key=KEY) as client:
        yield client


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_pieces_answer_as_the_whole_text_server_side_and_by_token(client: TestClient, count: int) -> None:
    whole = client.post("/v1/next-word", json={"text": TEXT, "top_k": 5}).json()["predictions"]
    session = start(client)
    token = session["state"]
    for piece in pieces(TEXT, count):
        by_id = client.post(f"/v1/sessions/{session['session_id']}/append", json={"text": piece, "top_k": 5})
        by_token = client.post("/v1/sessions/append", json={"state": token, "text": piece, "top_k": 5})
        assert by_id.status_code == 200 and by_token.status_code == 200, (by_id.text, by_token.text)
        token = by_token.json()["state"]
    server, portable = by_id.json(), by_token.json()
    assert server["token_count"] == portable["token_count"] == len(TEXT.split())
    assert [p["word"] for p in server["predictions"]] == [p["word"] for p in whole]
    assert [p["probability"] for p in server["predictions"]] == pytest.approx(
        [p["probability"] for p in whole], abs=1e-4
    )
    assert server["perplexity"] == pytest.approx(expected_perplexity(client, TEXT), rel=1e-4)
    assert [p["probability"] for p in portable["predictions"]] == pytest.approx(
        [p["probability"] for p in whole], abs=TOKEN_TOLERANCE
    )
    assert portable["perplexity"] == pytest.approx(server["perplexity"], rel=TOKEN_TOLERANCE)


def test_a_prompt_at_the_start_counts_as_appended_text(client: TestClient) -> None:
    started = start(client, prompt=TEXT, top_k=3)
    assert started["token_count"] == len(TEXT.split())
    assert started["perplexity"] == pytest.approx(expected_perplexity(client, TEXT), rel=1e-4)
    assert client.get(f"/v1/sessions/{started['session_id']}").json()["token_count"] == len(TEXT.split())


def test_generation_goes_on_from_the_state_and_commit_says_whether_it_joins(client: TestClient) -> None:
    session = start(client, prompt=TEXT)
    path = f"/v1/sessions/{session['session_id']}/generate"
    kept = client.post(path, json={"max_new_tokens": 4, "seed": 5, "commit": False}).json()
    plain = client.post("/v1/generate", json={"prompt": TEXT, "max_new_tokens": 4, "seed": 5}).json()
    assert kept["generated_text"] == plain["generated_text"] and kept["token_count"] == len(TEXT.split())
    joined = client.post(path, json={"max_new_tokens": 4, "seed": 5, "commit": True}).json()
    assert joined["tokens"] == plain["tokens"] and joined["token_count"] == len(TEXT.split()) + 4
    assert client.get(f"/v1/sessions/{session['session_id']}").json()["token_count"] == len(TEXT.split()) + 4
    by_token = client.post(
        "/v1/sessions/generate", json={"state": session["state"], "max_new_tokens": 4, "seed": 5}
    )
    assert by_token.status_code == 200 and by_token.json()["tokens"] == plain["tokens"]


def test_generation_streams_then_names_the_session(client: TestClient) -> None:
    session = start(client, prompt=TEXT)
    body = {"max_new_tokens": 3, "seed": 2, "stream": True}
    response = client.post(f"/v1/sessions/{session['session_id']}/generate", json=body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert len(events) == 4 and '"session"' in events[-1] and '"token_count":' in events[-1]
    assert client.get(f"/v1/sessions/{session['session_id']}").json()["token_count"] == len(TEXT.split()) + 3


def test_a_call_on_a_busy_session_is_409(client: TestClient) -> None:
    session_id = start(client)["session_id"]
    client.app.state.sessions.hold(session_id)  # as if another call were running
    response = client.post(f"/v1/sessions/{session_id}/append", json={"text": "the cat"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "session_busy"


def test_unknown_ended_and_expired_sessions_are_404(make_client: ClientFactory) -> None:
    with make_client(session_key=KEY, session_ttl_s=0.3) as client:
        assert client.get("/v1/sessions/nope").status_code == 404
        session = start(client)
        assert client.delete(f"/v1/sessions/{session['session_id']}").status_code == 204
        assert (
            client.post(f"/v1/sessions/{session['session_id']}/append", json={"text": "the"}).status_code
            == 404
        )
        session = start(client)
        time.sleep(0.4)
        response = client.get(f"/v1/sessions/{session['session_id']}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "session_not_found"
        expired = client.post("/v1/sessions/append", json={"state": session["state"], "text": "the"})
        assert expired.status_code == 410 and expired.json()["error"]["code"] == "state_expired"


def test_the_cap_is_429_with_retry_after(make_client: ClientFactory) -> None:
    with make_client(session_key=KEY, max_sessions=2) as client:
        start(client)
        start(client)
        response = client.post("/v1/sessions", json={})
        assert response.status_code == 429 and response.json()["error"]["code"] == "too_many_sessions"
        assert int(response.headers["retry-after"]) >= 1


def test_tampered_foreign_and_mismatched_tokens_are_refused(
    client: TestClient, make_client: ClientFactory
) -> None:
    token = start(client, prompt="the cat")["state"]
    payload, signature = token.split(".")
    tampered = f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"
    for bad in (tampered, "not-a-token", token + "x"):
        response = client.post("/v1/sessions/append", json={"state": bad, "text": "sat"})
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_state", bad
    with make_client(session_key="another-key") as other:
        response = other.post("/v1/sessions/append", json={"state": token, "text": "sat"})
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_state"
    codec = StateCodec(KEY.encode())
    card = client.app.state.registry.entries["lm-ptb"].card  # type: ignore[attr-defined]
    decoded = codec.session(codec.open(token), card, torch.device("cpu"))
    older = StateCodec(KEY.encode()).encode(
        Session(decoded.model, "0ld", decoded.state, 2, 1.0, time.time() + 60)
    )
    response = client.post("/v1/sessions/append", json={"state": older, "text": "sat"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "version_mismatch"


def test_with_no_key_tokens_are_off(make_client: ClientFactory) -> None:
    with make_client() as client:
        session = start(client, prompt="the cat")
        assert session["state"] is None and session["session_id"]
        response = client.post("/v1/sessions/append", json={"state": "x.y", "text": "sat"})
        assert response.status_code == 400 and "RNNSERVE_SESSION_KEY" in response.json()["error"]["message"]


def test_the_token_is_a_few_kilobytes(client: TestClient) -> None:
    token = start(client, prompt=TEXT)["state"]
    assert len(token) < 4096


@pytest.mark.e2e
def test_concurrent_calls_on_one_session_get_409_and_lose_nothing(artifacts_dir: Path) -> None:
    """Eight appends at once on one session of a real server: those that run are counted once each."""

    async def race(url: str) -> tuple[list[int], int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            session_id = (await client.post("/v1/sessions", json={})).json()["session_id"]
            calls = [
                client.post(f"/v1/sessions/{session_id}/append", json={"text": "the cat sat"})
                for _ in range(8)
            ]
            codes = [response.status_code for response in await asyncio.gather(*calls)]
            return codes, (await client.get(f"/v1/sessions/{session_id}")).json()["token_count"]

    with serve(artifacts_dir) as server:
        codes, token_count = asyncio.run(race(server.url))
    assert set(codes) <= {200, 409} and 200 in codes
    assert token_count == 3 * codes.count(200)


def test_a_wrong_method_names_every_method_of_the_path(client: TestClient) -> None:
    response = client.request("PUT", "/v1/sessions/any-id")
    assert response.status_code == 405 and set(response.headers["allow"].split(", ")) == {"GET", "DELETE"}


def signed(header: object, body: bytes, key: str = KEY) -> str:
    """A token signed under `key` whatever it carries: what a bug, or an attacker with the key, could send."""
    payload = json.dumps(header).encode() + b"\n" + body
    signature = hmac.new(key.encode(), payload, hashlib.sha256).digest()
    return f"{base64.urlsafe_b64encode(payload).decode()}.{base64.urlsafe_b64encode(signature).decode()}"


def opened(token: str) -> tuple[dict[str, Any], bytes]:
    payload = base64.urlsafe_b64decode(token.split(".")[0] + "==")
    header, _, body = payload.partition(b"\n")
    return json.loads(header), body


def test_a_signed_token_is_checked_against_the_model_before_its_state_is_used(client: TestClient) -> None:
    """Signed with the right key but carrying what the model cannot take: 400 invalid_state, never a 500."""
    header, body = opened(start(client, prompt="the cat")["state"])
    layers, _, hidden = header["shape"]
    half = {**header, "shape": [layers, 1, hidden // 2]}
    nan_state = np.full(len(body) // 2, np.nan, dtype=np.float16).tobytes()
    forged = [
        signed(half, body[: len(body) // 2]),  # a state of another shape, consistent with itself
        signed(header, body[: len(body) // 2]),  # too few bytes for the shape
        signed(header, nan_state),  # not finite
        signed({**header, "tokens": "12"}, body),
        signed({**header, "nll": -1.0}, body),
        signed({**header, "exp": "soon"}, body),
        signed({**header, "parts": 1}, body),
        signed([1, 2], body),  # a header that is no object
        signed({key: value for key, value in header.items() if key != "version"}, body),
    ]
    for token in forged:
        response = client.post("/v1/sessions/append", json={"state": token, "text": "sat"})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_state"


@pytest.mark.parametrize("header", [[1], "text", 7, None, {"model": "no-such-model"}])
def test_an_unsigned_token_is_refused_on_its_signature_before_it_is_read(
    client: TestClient, header: object
) -> None:
    token = base64.urlsafe_b64encode(json.dumps(header).encode() + b"\n").decode().rstrip("=") + ".AAAA"
    response = client.post("/v1/sessions/append", json={"state": token, "text": "sat"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_state"
