"""Slow clients are cut (python -m service): a connection that sends nothing, one that sends its request
head a byte at a time, and one that trickles its body after a 408 are each closed within their limits."""

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.test_faults_e2e import LiveServer, serve

pytestmark = pytest.mark.e2e
HEAD_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server(artifacts_dir: Path) -> Iterator[LiveServer]:
    settings = {
        "RNNSERVE_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S),
        "RNNSERVE_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
    }
    with serve(artifacts_dir, **settings) as live:
        yield live


def connect(server: LiveServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def closed_after(
    connection: socket.socket, trickle: bytes = b"", every_s: float = 0.2
) -> tuple[float, bytes]:
    """Seconds until the server closes the connection (sending `trickle` a byte at a time meanwhile), and
    what it sent."""
    began, received = time.monotonic(), b""
    connection.settimeout(every_s)
    position = 0
    while time.monotonic() - began < 15:
        if position < len(trickle):
            try:
                connection.sendall(trickle[position : position + 1])
            except OSError:
                break
            position += 1
        try:
            chunk = connection.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    return time.monotonic() - began, received


def test_a_connection_that_sends_nothing_is_closed(server: LiveServer) -> None:
    with connect(server) as connection:
        took, received = closed_after(connection)
    assert took < HEAD_TIMEOUT_S + 1.5 and received == b""


def test_a_request_head_sent_a_byte_at_a_time_is_cut(server: LiveServer) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    with connect(server) as connection:
        took, received = closed_after(connection, trickle=head)
    assert took < HEAD_TIMEOUT_S + 1.5 and received == b""  # cut long before the head could end


def test_a_408_closes_its_connection_even_while_the_client_trickles(server: LiveServer) -> None:
    head = (
        b"POST /v1/sentiment HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    with connect(server) as connection:
        connection.sendall(head)
        took, received = closed_after(connection, trickle=b'{"texts": ["' + b"a" * 900)
    assert received.startswith(b"HTTP/1.1 408") and b"connection: close" in received.lower()
    assert took < BODY_TIMEOUT_S + 2
