"""Sessions against resending the context: a 300-word PTB text continued one word at a time.

Three ways to get the next-word predictions after each word, on one server (the committed models),
side by side in one run:
  resend     POST /v1/next-word with the whole text so far (what a client does without sessions)
  session    POST /v1/sessions/{id}/append with the new word
  token      POST /v1/sessions/append with the new word and the last state token
Per call: median and p90 latency, and the server's CPU time (from /proc schedstat). Also what the
float16 state of the token costs: the largest difference from the server-side session in the next
word's probabilities and in the running perplexity, over all 300 steps.

    python -m bench.sessions [--data path/to/ptb] [--words 300]
"""

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import REPO, data_dir, percentile, running_server, session_cpu_seconds, skip


def text_of(ptb_dir: Path, words: int) -> list[str]:
    """The first `words` words of PTB's test set, sentence ends left out (the session's text is one
    stream)."""
    stream = [word for line in (ptb_dir / "ptb.test.txt").read_text().splitlines() for word in line.split()]
    return stream[:words]


def timed(
    client: httpx.Client, server_pid: int, path: str, body: dict[str, Any]
) -> tuple[dict[str, Any], float, float]:
    cpu_before, started = session_cpu_seconds(server_pid), time.perf_counter()
    response = client.post(path, json=body)
    seconds, cpu = time.perf_counter() - started, session_cpu_seconds(server_pid) - cpu_before
    response.raise_for_status()
    return response.json(), seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=None, help="folder with ptb.test.txt")
    parser.add_argument("--words", type=int, default=300, help="words fed one at a time")
    args = parser.parse_args()
    ptb_dir = data_dir(args.data, "ptb")
    if ptb_dir is None:
        skip("no Penn Treebank: pass --data or set RNNSERVE_DATA_DIR (see README, Data)")
    words = text_of(ptb_dir, args.words)
    env = {"RNNSERVE_SESSION_KEY": "bench-key", "RNNSERVE_THREADS": "1"}
    with (
        running_server(REPO / "artifacts", extra_env=env) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        server_session = server.pid  # the server leads its own process session
        ways: dict[str, list[tuple[float, float]]] = {"resend": [], "session": [], "token": []}
        started = client.post("/v1/sessions", json={}).json()
        session_id, token = started["session_id"], started["state"]
        worst_probability = worst_perplexity = 0.0
        for index, word in enumerate(words):
            context = " ".join(words[: index + 1])
            resent, *cost = timed(client, server_session, "/v1/next-word", {"text": context})
            ways["resend"].append((cost[0], cost[1]))
            kept, *cost = timed(client, server_session, f"/v1/sessions/{session_id}/append", {"text": word})
            ways["session"].append((cost[0], cost[1]))
            carried, *cost = timed(
                client, server_session, "/v1/sessions/append", {"state": token, "text": word}
            )
            ways["token"].append((cost[0], cost[1]))
            token = carried["state"]
            for ours, theirs in zip(kept["predictions"], carried["predictions"], strict=True):
                worst_probability = max(worst_probability, abs(ours["probability"] - theirs["probability"]))
            worst_perplexity = max(worst_perplexity, abs(carried["perplexity"] / kept["perplexity"] - 1))
            if index == len(words) - 1:
                assert [p["word"] for p in resent["predictions"]] == [p["word"] for p in kept["predictions"]]
        token_bytes = len(token)
    print(
        f"{len(words)} words of ptb.test.txt, one at a time; server on 1 torch thread, the committed lm-ptb\n"
    )
    print("| way | median ms | p90 ms | server CPU ms/call (mean) | last 50 calls: median ms |")
    print("|---|---|---|---|---|")
    for way, costs in ways.items():
        latencies = [seconds * 1000 for seconds, _ in costs]
        cpu = statistics.mean(cpu * 1000 for _, cpu in costs)
        print(
            f"| {way} | {statistics.median(latencies):.2f} | {percentile(latencies, 90):.2f} | {cpu:.2f} "
            f"| {statistics.median(latencies[-50:]):.2f} |"
        )
    print(f"\nstate token: {token_bytes} characters")
    print(
        f"float16 state over {len(words)} steps: next-word probability within {worst_probability:.1e} "
        f"(absolute), running perplexity within {worst_perplexity:.1e} (relative) of the server-side session"
    )


if __name__ == "__main__":
    main()
