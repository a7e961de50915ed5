"""Slow clients are cut: a connection must deliver each request's line and headers within a time limit.

uvicorn closes an idle keep-alive connection after `timeout_keep_alive`, but it gives a request's head no
limit of its own: a connection that opens and sends nothing, or sends its head a byte a second, holds a
socket and a slot as long as it likes. This protocol (uvicorn's httptools one, which `python -m service`
runs) starts a timer when a connection opens and when each request's first byte arrives, and closes the
connection if the headers are not complete when it rings. A body that is too slow is answered 408 by
BodyLimitsMiddleware, which also closes its connection.
"""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def head_timeout_protocol(head_timeout_s: float) -> type[HttpToolsProtocol]:
    """uvicorn's `http` protocol class, with request heads limited to `head_timeout_s` seconds."""

    class HeadTimeoutProtocol(HttpToolsProtocol):
        head_timer: asyncio.TimerHandle | None = None

        def _start_head_timer(self) -> None:
            if self.head_timer is None:
                self.head_timer = self.loop.call_later(head_timeout_s, self._head_timed_out)

        def _stop_head_timer(self) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def _head_timed_out(self) -> None:
            self.head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_head_timer()  # a connection that sends nothing is closed too

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._start_head_timer()

        def on_headers_complete(self) -> None:
            self._stop_head_timer()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

    return HeadTimeoutProtocol
