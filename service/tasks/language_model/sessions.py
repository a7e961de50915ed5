"""Language-model sessions: the recurrent state kept between calls, on this server or in a signed token.

A session is the LSTM's state after everything fed so far (a few kilobytes), the running negative
log-likelihood of what was fed, and an expiry. Each step (start, append, the first step of a
generation, a commit) is one item of the model's micro-batcher, like every other request
(session_flow.py runs them).

- Server-side: `SessionStore` maps a random id to its session, for RNNSERVE_SESSION_TTL_S after its
  last step, at most RNNSERVE_MAX_SESSIONS at once (429 `too_many_sessions`). A session takes one
  call at a time: a call while another runs is 409 `session_busy`, never queued.
- Portable: `StateCodec` writes the state in float16 beside the model, its version, the token count,
  the running NLL and the expiry, signed with HMAC-SHA256 under RNNSERVE_SESSION_KEY. Any replica with
  the same key and model version continues from it. A token that fails its signature is 400
  `invalid_state`, an expired one 410 `state_expired`, one of another model version 409 `version_mismatch`.
  With no key, tokens are off: answers carry `state: null` and a call with a token is 400.
"""

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
import time
from dataclasses import dataclass

import numpy as np
import torch

from models.language_model import State
from service.errors import (
    InvalidState,
    SessionBusy,
    SessionNotFound,
    StateExpired,
    TooManySessions,
    VersionMismatch,
)


@dataclass(frozen=True)
class Session:
    model: str
    version: str
    state: State  # after every token fed: (layers, 1, H), or (h, c) of those for an LSTM
    token_count: int  # words fed, and generated tokens committed
    nll: float  # summed over those
    expires_at: float  # Unix time

    @property
    def perplexity(self) -> float | None:
        return math.exp(self.nll / self.token_count) if self.token_count else None


class SessionStore:
    """Live server-side sessions by id; expired ones are dropped as they are met."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.sessions: dict[str, Session] = {}
        self.busy: set[str] = set()

    def _sweep(self) -> None:
        now = time.time()
        for session_id in [sid for sid, session in self.sessions.items() if session.expires_at <= now]:
            if session_id not in self.busy:
                del self.sessions[session_id]

    def add(self, session: Session, session_id: str | None = None) -> str:
        """Keep `session` under a new random id (or `session_id`, the Open Inference Protocol's sequence
        id)."""
        self._sweep()
        if len(self.sessions) >= self.capacity:
            soonest = min(session.expires_at for session in self.sessions.values())
            retry_after = max(1, math.ceil(soonest - time.time()))
            raise TooManySessions(
                f"the server holds {self.capacity} sessions (RNNSERVE_MAX_SESSIONS); end one with DELETE, or "
                f"retry",
                headers={"Retry-After": str(retry_after)},
            )
        session_id = session_id or secrets.token_urlsafe(16)
        self.sessions[session_id] = session
        return session_id

    def get(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None or session.expires_at <= time.time():
            self.sessions.pop(session_id, None)
            raise SessionNotFound(f"no live session {session_id!r}: it never existed, ended or expired")
        return session

    def hold(self, session_id: str) -> Session:
        """The session, held for one call until `release`; a second call meanwhile is 409."""
        session = self.get(session_id)
        if session_id in self.busy:
            raise SessionBusy(
                f"session {session_id!r} is in another call; a session takes one call at a time"
            )
        self.busy.add(session_id)
        return session

    def release(self, session_id: str, session: Session | None) -> None:
        """End the call; `session` (None: unchanged) replaces it, unless it was deleted meanwhile."""
        self.busy.discard(session_id)
        if session is not None and session_id in self.sessions:
            self.sessions[session_id] = session

    def delete(self, session_id: str) -> None:
        self.get(session_id)
        del self.sessions[session_id]

    def discard(self, session_id: str) -> None:
        """End the session if there is one (a restarted Open Inference Protocol sequence)."""
        self.sessions.pop(session_id, None)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StateCodec:
    """Sessions to signed tokens and back: `<payload>.<signature>`, both base64url. The payload is a JSON
    header line, then the state tensors' float16 bytes (h, then c for an LSTM)."""

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

    def decode(self, token: str, version: str, device: torch.device) -> Session:
        """The session a token holds, checked: signature (400), expiry (410), then the model version (409)."""
        try:
            payload_text, signature_text = token.split(".")
            payload, signature = _b64decode(payload_text), _b64decode(signature_text)
        except (ValueError, binascii.Error):
            raise InvalidState("the state token is malformed") from None
        if not hmac.compare_digest(self._signature(payload), signature):
            raise InvalidState("the state token was altered, or signed under another key")
        header_bytes, _, body = payload.partition(b"\n")
        header = json.loads(header_bytes)
        if header["exp"] <= time.time():
            raise StateExpired("the state token expired; start a new session")
        if header["version"] != version:
            raise VersionMismatch(
                f"the state token is of model {header['model']!r} version {header['version']!r}; this server "
                f"has {version!r}"
            )
        values = np.frombuffer(body, dtype=np.float16).reshape(header["parts"], *header["shape"])
        tensors = [torch.from_numpy(part.astype(np.float32)).to(device) for part in values]
        state: State = (tensors[0], tensors[1]) if header["parts"] == 2 else tensors[0]
        return Session(
            header["model"], header["version"], state, header["tokens"], header["nll"], header["exp"]
        )


def token_model(token: str) -> str:
    """The model a token names, read before its signature is checked (to find that model's version)."""
    try:
        header = json.loads(_b64decode(token.split(".")[0]).partition(b"\n")[0])
        return str(header["model"])
    except (ValueError, KeyError, IndexError, binascii.Error):
        raise InvalidState("the state token is malformed") from None
