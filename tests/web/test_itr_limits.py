"""The touch pages refuse an oversized request body with 413, before reading it: through the
Flask test client (what was read is counted) and through a real werkzeug server on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from ivr_flows.core.effects import Act, Result
from ivr_flows.core.model import Flow
from ivr_flows.edges.links import LinkSigner
from ivr_flows.touch.app import MAX_BODY_BYTES, create_itr_app

OPEN = datetime(2026, 11, 23, 10, 0)  # a Monday morning
BIG = 50 * 1024 * 1024


class NoBackend:
    """An action runner with a real signature that answers every action with an error."""

    def run(self, flow: Flow, act: Act) -> Result:
        return Result("error", {})


class Filler(io.RawIOBase):
    """``size`` bytes of one form field, made as they are read; ``read_bytes`` counts what
    was read (the test client seeks to the end and back to learn the length)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pos = 0
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.pos = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence] + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), self.size - self.pos))
        buffer[:n] = b"a" * n
        self.pos += n
        self.read_bytes += n
        return n


@pytest.fixture
def itr_app(demo_flow: Flow) -> Flask:
    links = LinkSigner("link-secret", "http://itr.test", 600, epoch=lambda: 1_800_000_000.0)
    return create_itr_app({demo_flow.name: demo_flow}, NoBackend(), links, lambda f: OPEN,
                          secret_key="state-secret")


@pytest.fixture
def client(itr_app: Flask) -> FlaskClient:
    return itr_app.test_client()


def state_field(html: str) -> str:
    found = re.search(r'name="state" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_the_limit_is_set_for_the_whole_app(itr_app: Flask) -> None:
    assert itr_app.config["MAX_CONTENT_LENGTH"] == MAX_BODY_BYTES == 64 * 1024


def test_an_oversized_form_is_a_413_page_and_its_body_is_never_read(
        client: FlaskClient) -> None:
    body = Filler(BIG)
    r = client.post("/f/demo_400/step", input_stream=body,
                    content_type="application/x-www-form-urlencoded")
    assert r.status_code == 413
    assert r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert 'class="problem"' in html and len(html) < 4000  # the short problem page
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert body.read_bytes == 0


def test_an_oversized_json_body_is_a_413_json_error(client: FlaskClient) -> None:
    body = Filler(BIG)
    r = client.post("/f/demo_400/step", input_stream=body, content_type="application/json")
    assert r.status_code == 413
    assert r.get_json() == {"error": "too_large",
                            "message": f"request body over {MAX_BODY_BYTES} bytes",
                            "details": {"limit_bytes": MAX_BODY_BYTES}}
    assert body.read_bytes == 0


def test_a_large_body_is_refused_on_a_route_that_reads_no_form(client: FlaskClient) -> None:
    body = Filler(BIG)
    r = client.get("/f/demo_400", input_stream=body)
    assert r.status_code == 413 and body.read_bytes == 0


def test_a_body_sent_without_a_length_stops_being_read_at_the_limit(
        client: FlaskClient) -> None:
    body = Filler(BIG)
    r = client.post("/f/demo_400/step", input_stream=body,
                    content_type="application/x-www-form-urlencoded",
                    environ_overrides={"wsgi.input_terminated": True,  # as a server says
                                       "HTTP_TRANSFER_ENCODING": "chunked"})
    assert r.status_code == 413
    assert body.read_bytes <= MAX_BODY_BYTES


def test_a_step_within_the_limit_is_answered_as_before(client: FlaskClient) -> None:
    page = client.get("/f/demo_400?lang=en").get_data(as_text=True)
    state = state_field(page)
    pad = "x" * (MAX_BODY_BYTES - len(state) - 200)  # an unknown field: ignored
    r = client.post("/f/demo_400/step", data={"state": state, "key": "1", "pad": pad})
    assert r.status_code == 200


# ------------------------------------------------------------ a real werkzeug server


@pytest.fixture
def served(itr_app: Flask) -> Iterator[tuple[str, int]]:
    server = make_server("127.0.0.1", 0, itr_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_port
    server.shutdown()
    thread.join(timeout=5)


def answer_of(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of the HTTP answer waiting on ``sock``."""
    reply = http.client.HTTPResponse(sock)
    reply.begin()
    return reply.status, reply.read()


def test_a_real_server_answers_413_to_a_50_mb_post_without_waiting_for_the_body(
        served: tuple[str, int]) -> None:
    head = (b"POST /f/demo_400/step HTTP/1.1\r\nHost: itr.test\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % BIG)
    started = time.monotonic()
    with socket.create_connection(served, timeout=5) as sock:
        sock.sendall(head + b"state=" + b"a" * (256 * 1024))  # the other 49.7 MB never come
        status, body = answer_of(sock)
    assert status == 413 and b'class="problem"' in body
    assert time.monotonic() - started < 2  # it did not wait for the body


def test_a_real_server_refuses_a_chunked_upload_at_the_limit(served: tuple[str, int]) -> None:
    chunk = b"a" * 16384
    head = (b"POST /f/demo_400/step HTTP/1.1\r\nHost: itr.test\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    with socket.create_connection(served, timeout=5) as sock:
        sock.sendall(head)
        for _ in range(MAX_BODY_BYTES // len(chunk) + 1):  # just past the limit, then wait
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status, body = answer_of(sock)
    assert status == 413 and b'class="problem"' in body


def test_a_real_server_still_takes_a_small_chunked_step(
        served: tuple[str, int], client: FlaskClient) -> None:
    form = b"state=" + state_field(client.get("/f/demo_400").get_data(as_text=True)).encode() \
        + b"&key=1"
    head = (b"POST /f/demo_400/step HTTP/1.1\r\nHost: itr.test\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    with socket.create_connection(served, timeout=5) as sock:
        sock.sendall(head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(form), form))
        status, body = answer_of(sock)
    assert status == 200 and b'name="state"' in body
