"""Language-model sessions: the recurrent state kept between calls, on this server or in a signed token.

A session is the LSTM's state after everything fed so far (a few kilobytes), the running negative
log-likelihood of what was fed, and an expiry. Each step (start, append, the first step of a
generation, a commit) is one item of the model's micro-batcher, like every other request
(session_flow.py runs them).

- Server-side: `SessionStore` maps a random id to its session, for RNNSERVE_SESSION_TTL_S after its
  last step, at most RNNSERVE_MAX_SESSIONS at once (429 `too_many_sessions`). A session takes one
  call at a time: a call while another runs is 409 `session_busy`, never queued.
- Portable: a signed state token (state_tokens.py) carries the same, so that any replica with the same
  key and model version continues from it.
"""

import math
import secrets
import time
from dataclasses import dataclass

from models.language_model import State
from service.errors import (
    SessionBusy,
    SessionNotFound,
    TooManySessions,
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
