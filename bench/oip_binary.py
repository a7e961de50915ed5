"""The Open Inference Protocol's two encodings side by side: JSON tensors against the binary tensor data
extension (what Triton's clients send by default), on one server, in one run.

Two requests, each sent --requests times one after another in each encoding:
  forecast   a 2,000-point FP32 history to forecast-univariate (method network, horizon 12)
  sentiment  64 IMDB test reviews, BYTES, to sentiment
Printed per request and encoding: the request's bytes, the response's bytes, the median latency, and the
server's CPU per request (every thread of its process, from /proc, over the requests).

    python -m bench.oip_binary [--requests 200] [--data ../shared/data/imdb]
"""

import argparse
import json
import random
import statistics
import struct
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import REPO, data_dir, running_server, session_cpu_seconds, skip
from training import imdb

Encoded = tuple[bytes, dict[str, str]]  # body, headers


def as_json(
    name: str, datatype: str, shape: list[int], data: list[Any], parameters: dict[str, Any]
) -> Encoded:
    body = {
        "inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": data}],
        "parameters": parameters,
    }
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


def as_binary(name: str, datatype: str, shape: list[int], raw: bytes, parameters: dict[str, Any]) -> Encoded:
    """The JSON header naming the input's byte count, then its bytes; every output asked back in binary."""
    tensor = {
        "name": name,
        "datatype": datatype,
        "shape": shape,
        "parameters": {"binary_data_size": len(raw)},
    }
    header = json.dumps(
        {"inputs": [tensor], "parameters": {**parameters, "binary_data_output": True}}
    ).encode()
    return header + raw, {"Inference-Header-Content-Length": str(len(header))}


def bytes_elements(texts: list[str]) -> bytes:
    """BYTES elements: a 4-byte little-endian length before each UTF-8 text."""
    encoded = [text.encode() for text in texts]
    return b"".join(struct.pack("<I", len(element)) + element for element in encoded)


def measure(url: str, pid: int, path: str, encoded: Encoded, requests: int) -> tuple[int, float, float]:
    """(response bytes, median ms, server CPU ms per request) over `requests` sequential posts."""
    body, headers = encoded
    latencies, size = [], 0
    with httpx.Client(base_url=url, timeout=120) as client:
        client.post(path, content=body, headers=headers).raise_for_status()  # warm-up
        cpu_before = session_cpu_seconds(pid)
        for _ in range(requests):
            began = time.perf_counter()
            response = client.post(path, content=body, headers=headers)
            latencies.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
            size = len(response.content)
        cpu = session_cpu_seconds(pid) - cpu_before
    return size, statistics.median(latencies), cpu * 1000 / requests


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="requests per encoding")
    parser.add_argument(
        "--data", type=Path, help="the IMDB folder (default: RNNSERVE_DATA_DIR or ../shared/data)"
    )
    args = parser.parse_args()
    root = data_dir(args.data, "imdb")
    if root is None:
        skip("IMDB is absent: pass --data or set RNNSERVE_DATA_DIR (see README, 'Data')")
    reviews = random.Random(0).sample(imdb.load_split(root, "test").texts, 64)
    history = (100 + 10 * np.sin(np.arange(2000) * 2 * np.pi / 24)).astype(np.float32)
    forecast = {"horizon": 12, "method": "network"}
    cases = {
        "forecast, 2,000 FP32 points": (
            "/v2/models/forecast-univariate/infer",
            as_json("history", "FP32", [2000], history.tolist(), forecast),
            as_binary("history", "FP32", [2000], history.tobytes(), forecast),
        ),
        "sentiment, 64 reviews": (
            "/v2/models/sentiment/infer",
            as_json("text", "BYTES", [64], reviews, {}),
            as_binary("text", "BYTES", [64], bytes_elements(reviews), {}),
        ),
    }
    print(f"{args.requests} sequential requests per cell; server on the committed artifacts, same machine\n")
    print("| request | encoding | request bytes | response bytes | p50 ms | server CPU ms / request |")
    print("|---|---|---|---|---|---|")
    with running_server(REPO / "artifacts") as server:
        for label, (path, json_form, binary_form) in cases.items():
            for encoding, encoded in (("JSON", json_form), ("binary", binary_form)):
                size, p50, cpu = measure(server.url, server.pid, path, encoded, args.requests)
                print(f"| {label} | {encoding} | {len(encoded[0]):,} | {size:,} | {p50:.1f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
