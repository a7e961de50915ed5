"""The drain on SIGTERM: stop taking work at once, let admitted work finish within a window, then end the rest
cleanly.

When SIGTERM (or SIGINT) arrives the server turns not-ready (`/readyz` 503) and answers any new
`/v1` request with 503 `draining`. Requests admitted before it keep going for up to
RNNSERVE_DRAIN_TIMEOUT_S. When that window closes, every item still waiting for a forward
pass fails with 503 `draining` (a stream ends with a final error event), and a forward already
running finishes. `python -m service` gives uvicorn a graceful-shutdown window a little longer
than this one, so every answer is sent before uvicorn cancels what is left.

The hook chains onto the server's own signal handler (uvicorn's), which stops accepting
connections; under any launcher the app learns of the signal the same way.
"""

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from service.errors import Draining

logger = logging.getLogger("rnnserve.drain")
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Drain:
    def __init__(self, timeout_s: float, on_expiry: Callable[[Draining], None]) -> None:
        self.timeout_s = timeout_s
        self.on_expiry = on_expiry  # fails what still waits (the registry's batchers)
        self.started_at: float | None = None
        self.expired = False

    @property
    def draining(self) -> bool:
        return self.started_at is not None

    def begin(self) -> None:
        """Start the drain (on the event loop); the window closes `timeout_s` later."""
        if self.started_at is not None:
            return
        self.started_at = time.monotonic()
        logger.info("draining", extra={"fields": {"window_s": self.timeout_s}})
        asyncio.get_running_loop().call_later(self.timeout_s, self.expire)

    def expire(self) -> None:
        self.expired = True
        self.on_expiry(Draining("the server is shutting down; retry on another replica"))
        logger.info("drain window closed: what still waited was answered 503 draining")

    def refusal(self) -> Draining:
        """A new request's answer once draining; its connection closes, so the client reconnects elsewhere."""
        return Draining(
            "the server is shutting down and takes no new requests; retry on another replica",
            headers={"Connection": "close"},
        )

    def install_signal_hook(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin the drain on SIGTERM/SIGINT, then hand the signal to whoever handled it before (uvicorn).

        Signal handlers live in the main thread; an app run elsewhere (a test client's thread) has none.
        """
        if threading.current_thread() is not threading.main_thread():
            return
        for number in SIGNALS:
            previous = signal.getsignal(number)

            def handle(signum: int, frame: FrameType | None, previous: object = previous) -> None:
                loop.call_soon_threadsafe(self.begin)
                if callable(previous):
                    previous(signum, frame)

            signal.signal(number, handle)
