"""Portable session state: a session written into a token signed with HMAC-SHA256 under RNNSERVE_SESSION_KEY.

A token is `<payload>.<signature>`, both base64url. The payload is a JSON header line (model, version,
token count, running NLL, expiry, the state's shape and parts), then the state tensors' float16 bytes (h,
then c for an LSTM). Any replica with the same key and model version continues from it.

A token is opened in two steps. Its signature is checked before anything in it is read: a token that is
malformed, altered or signed under another key is 400 `invalid_state`. Then, against the model it names,
everything it carries is checked: a field missing or of the wrong type, a state that is not of the
model's shape, bytes that do not match the shape, or values that are not finite are 400 `invalid_state`;
an expired token is 410 `state_expired`, one of another model version 409 `version_mismatch`.
With no key, tokens are off: answers carry `state: null` and a call with a token is 400.
"""

import base64
import binascii
import hashlib
import hmac
import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models.artifact import ModelCard
from models.language_model import State
from service.errors import InvalidState, StateExpired, VersionMismatch
from service.tasks.language_model.sessions import Session


def state_layout(card: ModelCard) -> tuple[tuple[int, int, int], int]:
    """The shape of one session's state tensors, (layers, 1, hidden), and how many there are (an LSTM's 2)."""
    arch = card.arch
    return (int(arch["num_layers"]), 1, int(arch["hidden_size"])), 2 if arch.get("cell") == "lstm" else 1


@dataclass(frozen=True)
class SignedToken:
    """A token whose signature holds: its header, a JSON object, and its state's bytes, not yet checked."""

    header: dict[str, Any]
    body: bytes

    @property
    def model(self) -> str:
        name = self.header.get("model")
        if not isinstance(name, str):
            raise InvalidState("the state token names no model")
        return name


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _finite(value: object) -> float | None:
    """A JSON number as a float, None for anything else (booleans, strings, huge or non-finite numbers)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return number if math.isfinite(number) else None


class StateCodec:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def _signature(self, payload: bytes) -> bytes:
        return hmac.new(self.key, payload, hashlib.sha256).digest()

    def encode(self, session: Session) -> str:
        tensors = list(session.state) if isinstance(session.state, tuple) else [session.state]
        header = {
            "model": session.model,
            "version": session.version,
            "tokens": session.token_count,
            "nll": session.nll,
            "exp": session.expires_at,
            "shape": list(tensors[0].shape),
            "parts": len(tensors),
        }
        body = b"".join(tensor.detach().to(torch.float16).cpu().numpy().tobytes() for tensor in tensors)
        payload = json.dumps(header, separators=(",", ":")).encode() + b"\n" + body
        return f"{_b64encode(payload)}.{_b64encode(self._signature(payload))}"

    def open(self, token: str) -> SignedToken:
        """The token's contents once its signature holds; nothing in it is read before (400 otherwise)."""
        try:
            payload_text, signature_text = token.split(".")
            payload, signature = _b64decode(payload_text), _b64decode(signature_text)
        except (ValueError, binascii.Error):
            raise InvalidState("the state token is malformed") from None
        if not hmac.compare_digest(self._signature(payload), signature):
            raise InvalidState("the state token was altered, or signed under another key")
        header_bytes, _, body = payload.partition(b"\n")
        try:
            header = json.loads(header_bytes)
        except ValueError:  # not UTF-8, or not JSON
            header = None
        if not isinstance(header, dict):
            raise InvalidState("the state token's header is not a JSON object")
        return SignedToken(header, body)

    def session(self, token: SignedToken, card: ModelCard, device: torch.device) -> Session:
        """The session a signed token holds, for the model of `card`: every field checked (400), then the
        expiry (410), the model version (409), and the state against the model's shape (400)."""
        header = token.header
        version, count = header.get("version"), header.get("tokens")
        nll, expires = _finite(header.get("nll")), _finite(header.get("exp"))
        if (
            not (isinstance(version, str) and isinstance(count, int) and not isinstance(count, bool))
            or count < 0
        ):
            raise InvalidState("the state token's version or token count is missing or of the wrong type")
        if nll is None or nll < 0 or expires is None:
            raise InvalidState("the state token's nll or expiry is missing or not a finite number")
        if expires <= time.time():
            raise StateExpired("the state token expired; start a new session")
        if version != card.version:
            raise VersionMismatch(
                f"the state token is of model {token.model!r} version {version!r}; this server has "
                f"{card.version!r}"
            )
        shape, parts = state_layout(card)
        if header.get("shape") != list(shape) or header.get("parts") != parts:
            raise InvalidState(
                f"the state token holds {header.get('parts')!r} state(s) of shape {header.get('shape')!r}; "
                f"model {card.name!r} keeps {parts} of shape {list(shape)}"
            )
        if len(token.body) != parts * math.prod(shape) * 2:
            raise InvalidState(
                f"the state token's state has {len(token.body)} bytes; its shape needs "
                f"{parts * math.prod(shape) * 2}"
            )
        values = np.frombuffer(token.body, dtype=np.float16).reshape(parts, *shape)
        if not np.isfinite(values).all():
            raise InvalidState("the state token's state holds values that are not finite")
        tensors = [torch.from_numpy(part.astype(np.float32)).to(device) for part in values]
        state: State = (tensors[0], tensors[1]) if parts == 2 else tensors[0]
        return Session(token.model, version, state, count, nll, expires)
