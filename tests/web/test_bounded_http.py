"""Bodies over a site's limit are refused once the headers are in: nothing more is read and
the resource never runs (Twisted would otherwise buffer the whole body first)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet import reactor as global_reactor
from twisted.internet.threads import blockingCallFromThread
from twisted.web.resource import Resource

from cti.app.bounded_http import bounded_site

reactor: Any = global_reactor
LIMIT = 1024


class Echo(Resource):
    isLeaf = True
    calls = 0

    def render_POST(self, request: Any) -> bytes:
        Echo.calls += 1
        return str(len(request.content.read())).encode()


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    if not reactor.running:
        threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                         daemon=True).start()
        while not reactor.running:
            time.sleep(0.01)
    listening = blockingCallFromThread(reactor, reactor.listenTCP, 0,
                                       bounded_site(Echo(), LIMIT), 50, "127.0.0.1")
    yield listening.getHost().port
    blockingCallFromThread(reactor, listening.stopListening)


def exchange(port: int, head: bytes, body_chunks: list[bytes]) -> tuple[bytes, int]:
    """Send the head, then the body chunks while the server lets us; its reply and how
    many body bytes went out before it answered."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head)
        s.settimeout(0.2)
        reply = b""
        for chunk in body_chunks:
            try:
                reply += s.recv(65536)
            except (TimeoutError, BlockingIOError):
                pass
            if reply:
                break
            try:
                s.sendall(chunk)
                sent += len(chunk)
            except OSError:
                break
        s.settimeout(5)
        try:
            while chunk := s.recv(65536):
                reply += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return reply, sent


def test_a_declared_length_over_the_limit_is_refused_before_the_body(port: int) -> None:
    before = Echo.calls
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
    reply, sent = exchange(port, head, [b"x" * 65536] * 50)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
    assert b"too_large" in reply
    assert sent < 50 * 65536
    assert Echo.calls == before


def test_a_chunked_body_is_stopped_at_the_limit(port: int) -> None:
    before = Echo.calls
    head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"400\r\n" + b"y" * 1024 + b"\r\n"
    reply, _ = exchange(port, head, [chunk] * 20)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
    assert Echo.calls == before


def test_a_body_within_the_limit_reaches_the_resource(port: int) -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
    reply, _ = exchange(port, head + b"0123456789", [])
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"10"), reply
