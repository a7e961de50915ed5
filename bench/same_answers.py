"""Do two checkouts answer alike? Starts `python -m service` from each on the same artifacts and sends both
the same requests: every route, good and bad input, each model's example request.

For a refactoring that must not change behaviour: status, Content-Type and body must match byte for byte.
What is random by design is compared after it is masked: a session's id, expiry and state token (which
holds the expiry), `x-request-id`, and the /metrics text (it counts the requests themselves).

    git worktree add ../before <commit>
    python -m bench.same_answers --before ../before [--after .]
"""

import argparse
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.common import REPO, free_port, running_process

SESSION_KEY = "same-answers-key"
MASKED = ("session_id", "expires_at", "state")
Call = tuple[str, str, Any, dict[str, str]]  # method, path, JSON body (or raw bytes), headers


@contextmanager
def server_in(checkout: Path, artifacts: Path) -> Iterator[str]:
    """`python -m service` from `checkout` (its own code first on the path), on `artifacts`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "RNNSERVE_ARTIFACTS_DIR": str(artifacts),
        "RNNSERVE_LOG_LEVEL": "warning",
        "RNNSERVE_SESSION_KEY": SESSION_KEY,
        "PYTHONPATH": str(checkout),
    }
    with running_process([sys.executable, "-m", "service"], f"{url}/readyz", env, cwd=checkout):
        yield url


def calls(examples: list[tuple[str, dict[str, Any]]]) -> list[Call]:
    """The requests both servers get, in order; bad input of every kind the routes check."""
    json_type = {"Content-Type": "application/json"}
    history = [round(100 + 10 * ((step % 12) - 6) / 6, 2) for step in range(120)]
    stock_rows = [[100 + step, 101 + step, 99 + step, 100.5 + step, 1e6] for step in range(40)]
    post: list[tuple[str, Any]] = [
        (f"/v1/{route}", body)
        for route, body in [
            ("sentiment", {"texts": ["a wonderful film", "dull and far too long"]}),
            ("sentiment", {"texts": ["<br /> <br />"]}),
            ("sentiment", {"texts": ["zzqx qqzz"]}),
            ("sentiment", {"texts": []}),
            ("sentiment", {"texts": ["fine"], "model": "lm-ptb"}),
            ("sentiment", {"texts": ["fine"], "model": "nope"}),
            ("sentiment", {"texts": "not a list"}),
            ("next-word", {"text": "the new york stock", "top_k": 5}),
            ("next-word", {"text": "the company said it", "top_k": 50}),
            ("next-word", {"text": "zzqx"}),
            ("next-word", {"text": ""}),
            ("next-word", {"text": "the", "top_k": 0}),
            ("perplexity", {"text": "the company said it expects a loss"}),
            ("perplexity", {"text": "   "}),
            (
                "generate",
                {
                    "prompt": "the company said",
                    "max_new_tokens": 12,
                    "temperature": 0.8,
                    "top_k": 40,
                    "seed": 7,
                },
            ),
            ("generate", {"prompt": "", "max_new_tokens": 5, "temperature": 0, "seed": 1}),
            ("generate", {"prompt": "stocks fell", "max_new_tokens": 6, "seed": 3, "stream": True}),
            ("generate", {"prompt": "x", "max_new_tokens": 999}),
            ("forecast", {"history": history, "horizon": 12, "quantiles": [0.1, 0.9]}),
            ("forecast", {"history": history, "horizon": 12, "method": "network"}),
            ("forecast", {"history": history, "horizon": 6, "method": "ets", "quantiles": [0.1, 0.9]}),
            ("forecast", {"history": history, "horizon": 6, "method": "combination"}),
            ("forecast", {"history": history[:20], "horizon": 6}),
            ("forecast", {"history": history[:10], "horizon": 6}),
            ("forecast", {"history": history, "horizon": 500}),
            ("forecast", {"history": history, "horizon": 5, "quantiles": [0.33]}),
            ("forecast", {"history": [1.0, "NaN"], "horizon": 5}),
            (
                "forecast",
                {"model": "forecast-stocks", "history": stock_rows, "horizon": 5, "quantiles": [0.1, 0.9]},
            ),
            ("forecast", {"model": "forecast-stocks", "history": history, "horizon": 5}),
            (
                "forecast",
                {
                    "model": "forecast-sine",
                    "history": [((s % 40) - 20) / 20 for s in range(200)],
                    "horizon": 50,
                },
            ),
            ("sessions/append", {"state": "garbage", "text": "more"}),
            ("sessions/generate", {"state": "a.b", "max_new_tokens": 3}),
        ]
    ]
    sequence: list[Call] = [("POST", path, body, json_type) for path, body in post]
    sequence += [("POST", f"/v1/{route}", body, json_type) for route, body in examples]
    sequence += [
        ("POST", "/v1/sentiment", b"{not json", json_type),
        ("POST", "/v1/sentiment", b'{"texts": ["ok"]}', {"Content-Type": "text/plain"}),
        ("POST", "/v1/sentiment", b"", json_type),
        ("POST", "/v1/sentiment", {"texts": ["ok"]}, {**json_type, "X-Request-Timeout": "-1"}),
        ("GET", "/v1/sentiment", None, {}),
        ("GET", "/v1/nowhere", None, {}),
    ]
    oip = [
        (
            "sentiment",
            {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["great", "awful"]}]},
        ),
        ("sentiment", {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [3], "data": ["great"]}]}),
        (
            "lm-ptb",
            {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["the company"]}]},
        ),
        (
            "lm-ptb",
            {
                "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a loss"]}],
                "parameters": {"operation": "perplexity"},
            },
        ),
        (
            "lm-ptb",
            {
                "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["the"]}],
                "parameters": {"operation": "generate", "seed": 5, "max_new_tokens": 4},
            },
        ),
        (
            "lm-ptb",
            {
                "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["the market"]}],
                "parameters": {"sequence_id": "s1", "sequence_start": True},
            },
        ),
        (
            "lm-ptb",
            {
                "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["fell"]}],
                "parameters": {"sequence_id": "s1", "sequence_end": True},
            },
        ),
        (
            "lm-ptb",
            {
                "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["x"]}],
                "parameters": {"operation": "sing"},
            },
        ),
        (
            "forecast-univariate",
            {
                "inputs": [{"name": "history", "datatype": "FP32", "shape": [120], "data": history}],
                "parameters": {"horizon": 6, "quantiles": [0.1, 0.9]},
                "outputs": [{"name": "forecast"}],
            },
        ),
        (
            "forecast-univariate",
            {"inputs": [{"name": "history", "datatype": "FP32", "shape": [120], "data": history}]},
        ),
    ]
    sequence += [("POST", f"/v2/models/{name}/infer", body, json_type) for name, body in oip]
    sequence += [
        ("GET", path, None, {})
        for path in [
            "/healthz",
            "/readyz",
            "/v1/models",
            "/v1/models/sentiment",
            "/v1/models/nope",
            "/v2",
            "/v2/health/live",
            "/v2/health/ready",
            "/v2/models/lm-ptb",
            "/v2/models/lm-ptb/ready",
            "/v2/models/nope",
            "/openapi.json",
        ]
    ]
    return sequence


def session_calls(client: httpx.Client) -> tuple[str, list[httpx.Response]]:
    """A server-side session and a state-token chain, each step's answer kept."""
    answers = [client.post("/v1/sessions", json={"prompt": "the company said", "top_k": 3})]
    session_id = answers[0].json()["session_id"]
    answers.append(client.post(f"/v1/sessions/{session_id}/append", json={"text": "it expects a loss"}))
    answers.append(client.post(f"/v1/sessions/{session_id}/generate", json={"max_new_tokens": 4, "seed": 2}))
    answers.append(
        client.post(
            f"/v1/sessions/{session_id}/generate", json={"max_new_tokens": 3, "seed": 2, "stream": True}
        )
    )
    answers.append(client.get(f"/v1/sessions/{session_id}"))
    token = answers[1].json()["state"]
    answers.append(client.post("/v1/sessions/append", json={"state": token, "text": "next year"}))
    answers.append(
        client.post("/v1/sessions/generate", json={"state": token, "max_new_tokens": 3, "seed": 4})
    )
    answers.append(client.delete(f"/v1/sessions/{session_id}"))
    answers.append(client.get(f"/v1/sessions/{session_id}"))
    return session_id, answers


def masked(body: bytes, session_id: str) -> bytes:
    """The body with what is random by design (the fields MASKED, the session's id) replaced by a
    placeholder."""
    pattern = "|".join(MASKED)
    body = body.replace(session_id.encode(), b"<session>")
    return re.sub(rf'"({pattern})": ?("[^"]*"|[0-9.e+-]+)'.encode(), rb'"\1":"<masked>"', body)


def answers_of(url: str, sequence: list[Call]) -> list[tuple[int, str, bytes]]:
    results = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for method, path, body, headers in sequence:
            content = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
            response = client.request(method, path, content=content, headers=headers)
            results.append((response.status_code, response.headers.get("content-type", ""), response.content))
        session_id, responses = session_calls(client)
        for response in responses:
            results.append(
                (
                    response.status_code,
                    response.headers.get("content-type", ""),
                    masked(response.content, session_id),
                )
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code before the change")
    parser.add_argument("--after", type=Path, default=REPO, help="the checkout after (default: this one)")
    parser.add_argument("--artifacts", type=Path, default=REPO / "artifacts", help="the models both serve")
    arguments = parser.parse_args()
    with server_in(arguments.before.resolve(), arguments.artifacts.resolve()) as url:
        route_of = {"sentiment": "sentiment", "language-model": "next-word", "forecast": "forecast"}
        examples = []
        for listed in httpx.get(f"{url}/v1/models", timeout=10).json()["models"]:
            model = httpx.get(f"{url}/v1/models/{listed['name']}", timeout=10).json()
            examples.append((route_of[model["task"]], model["example_request"]))
        sequence = calls(examples)
        before = answers_of(url, sequence)
    with server_in(arguments.after.resolve(), arguments.artifacts.resolve()) as url:
        after = answers_of(url, sequence)
    labels = [f"{method} {path}" for method, path, _, _ in sequence] + [f"session step {i}" for i in range(9)]
    differing = [label for label, old, new in zip(labels, before, after, strict=True) if old != new]
    for label, old, new in zip(labels, before, after, strict=True):
        if old != new:
            print(f"DIFFERS {label}:\n  before {old[0]} {old[2][:300]!r}\n  after  {new[0]} {new[2][:300]!r}")
    statuses = sorted({status for status, _, _ in before})
    print(f"{len(before) - len(differing)} of {len(before)} answers identical (statuses seen: {statuses})")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
