"""golden.json: requests with the answers a model must give before a server lets it take traffic.

An optional file of the artifact folder, written by training from the model's test split:

{"format": 1, "cases": [{"operation": "sentiment", "request": {"texts": ["..."]},
                         "expected": {"results": [{"label": "positive", "probabilities": {...}}]},
                         "tolerance": 0.001}, ...]}

`operation` names the endpoint the request is for (`sentiment`, `next-word`, `perplexity`, `forecast`).
`expected` is part of the response: every field it names must be in the answer, numbers within
`tolerance` (|answer - expected| <= tolerance x max(1, |expected|)), everything else equal; fields it
leaves out are not compared. A server checks a new version against its own golden file, never against
the version it replaces: a retrain may answer differently and still be right.
"""

import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

GOLDEN_FILE = "golden.json"
Operation = Literal["sentiment", "next-word", "perplexity", "forecast"]
# Most cases one file may hold: the check runs them all before every swap.
MAX_CASES = 64


class GoldenCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation: Operation
    request: dict[str, Any]
    expected: dict[str, Any]
    tolerance: float = Field(1e-3, ge=0, le=1)


class GoldenFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = 1
    cases: list[GoldenCase] = Field(max_length=MAX_CASES)


class GoldenError(Exception):
    """golden.json is present but cannot be read as the format above."""


def read_golden(directory: Path) -> GoldenFile | None:
    """The folder's golden file, or None where it has none."""
    path = Path(directory) / GOLDEN_FILE
    if not path.is_file():
        return None
    try:
        return GoldenFile.model_validate(json.loads(path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as error:
        raise GoldenError(f"{GOLDEN_FILE} is invalid: {error}") from error


def golden_bytes(golden: GoldenFile) -> bytes:
    return (golden.model_dump_json(indent=2) + "\n").encode()


def differences(expected: Any, actual: Any, tolerance: float, where: str = "") -> list[str]:
    """Where `actual` departs from `expected` (see the module's rules), as `path: what` lines."""
    at = where or "response"
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return [] if actual == expected else [f"{at}: expected {expected!r}, got {actual!r}"]
    if isinstance(expected, int | float):
        if not isinstance(actual, int | float) or isinstance(actual, bool):
            return [f"{at}: expected a number, got {actual!r}"]
        if not math.isfinite(actual) or abs(actual - expected) > tolerance * max(1.0, abs(expected)):
            return [f"{at}: expected {expected} within {tolerance:g}, got {actual}"]
        return []
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{at}: expected a list of {len(expected)}, got {_shape(actual)}"]
        found: list[str] = []
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found += differences(want, got, tolerance, f"{at}[{index}]")
        return found
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{at}: expected an object, got {_shape(actual)}"]
        found = []
        for key, want in expected.items():
            if key not in actual:
                found.append(f"{at}.{key}: missing")
            else:
                found += differences(want, actual[key], tolerance, f"{at}.{key}")
        return found
    return [f"{at}: cannot compare {type(expected).__name__}"]


def non_finite(value: Any, where: str = "response") -> list[str]:
    """Every number in `value` that is NaN or infinite, by its path."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{where}: {value}"]
    if isinstance(value, list):
        return [fault for index, item in enumerate(value) for fault in non_finite(item, f"{where}[{index}]")]
    if isinstance(value, dict):
        return [fault for key, item in value.items() for fault in non_finite(item, f"{where}.{key}")]
    return []


def _shape(value: Any) -> str:
    return f"a list of {len(value)}" if isinstance(value, list) else type(value).__name__
