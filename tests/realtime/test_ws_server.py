"""The realtime transport over real sockets: a listening site on 127.0.0.1 in a reactor thread,
real WebSocket clients (``websockets``' sync client) in the test thread."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from twisted.internet import defer
from twisted.internet import reactor as global_reactor
from twisted.internet.threads import blockingCallFromThread
from twisted.web.resource import Resource
from twisted.web.wsgi import WSGIResource
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from cti.realtime.connection import Connection
from cti.realtime.core.frames import Frame, FrameError
from cti.realtime.limits import RealtimeCounters, RealtimeLimits
from cti.realtime.server import make_ws_resource, realtime_site

reactor: Any = global_reactor
ORIGIN = "https://hotline.example"
ALLOWED = ["https://hotline.example:443", "http://merchant.example:8080"]


@pytest.fixture(scope="module")
def running_reactor() -> Iterator[None]:
    if not reactor.running:
        thread = threading.Thread(
            target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 5
        while not reactor.running and time.monotonic() < deadline:
            time.sleep(0.01)
    yield


class EchoApp:
    """A test application: ``hello`` sets the principal, the other frames exercise the
    transport's answers to what an application does."""

    def __init__(self) -> None:
        self.opened: queue.Queue[Connection] = queue.Queue()
        self.closed: queue.Queue[tuple[str, int]] = queue.Queue()

    def on_open(self, conn: Connection) -> None:
        self.opened.put(conn)

    def on_frame(self, conn: Connection, frame: Frame) -> defer.Deferred[Any] | None:
        kind = frame["t"]
        if kind == "hello":
            conn.principal = frame.get("name", "someone")
            conn.send({"t": "welcome", "name": conn.principal})
        elif kind == "echo":
            conn.send({"t": "echo", "body": frame.get("body")})
        elif kind == "whoami":
            conn.send(
                {
                    "t": "you",
                    "origin": conn.origin,
                    "cookies": conn.cookies,
                    "peer": conn.peer,
                    "id": conn.id,
                }
            )
        elif kind == "boom":
            raise RuntimeError("boom in on_frame")
        elif kind == "refuse":
            raise FrameError("not_yours", "no such contact of yours", ref="c-9")
        elif kind == "later_boom":
            return defer.fail(RuntimeError("boom in a Deferred"))
        elif kind == "later_refuse":
            return defer.fail(FrameError("not_ready", "wait for welcome"))
        return None

    def on_close(self, conn: Connection, code: int) -> None:
        self.closed.put((conn.id, code))


class FailingOpenApp(EchoApp):
    def on_open(self, conn: Connection) -> None:
        raise RuntimeError("cannot open")


@dataclass
class Server:
    url: str
    http: str
    app: EchoApp
    counters: RealtimeCounters


class Plain(Resource):
    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"content-type", b"text/plain")
        return b"hi"


def hello_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"wsgi {environ['PATH_INFO']}".encode()]


@pytest.fixture()
def serve(running_reactor: None) -> Iterator[Callable[..., Server]]:
    ports: list[Any] = []

    def start(app: EchoApp | None = None, wsgi: bool = False, **limits: Any) -> Server:
        app = app or EchoApp()
        counters = RealtimeCounters()
        settings = RealtimeLimits(**{"hello_timeout_s": 5.0, **limits})
        resource = make_ws_resource(reactor, app, settings, ALLOWED, counters)
        wsgi_resource = WSGIResource(reactor, reactor.getThreadPool(), hello_wsgi) if wsgi else None
        site = realtime_site(resource, wsgi_resource, {b"plain": Plain()})
        port = blockingCallFromThread(reactor, reactor.listenTCP, 0, site, interface="127.0.0.1")
        ports.append(port)
        number = port.getHost().port
        return Server(f"ws://127.0.0.1:{number}/ws", f"http://127.0.0.1:{number}", app, counters)

    yield start
    for port in ports:
        blockingCallFromThread(reactor, port.stopListening)


def client(server: Server, origin: str | None = ORIGIN, **kw: Any) -> ClientConnection:
    options: dict[str, Any] = {
        "proxy": None,
        "compression": None,
        "open_timeout": 2,
        "close_timeout": 1,
        "ping_interval": None,
        "max_size": None,
    }
    return connect(server.url, origin=origin, **options, **kw)  # type: ignore[arg-type]


def send(ws: ClientConnection, frame: Frame) -> None:
    ws.send(json.dumps(frame))


def recv(ws: ClientConnection) -> Frame:
    frame: Frame = json.loads(ws.recv(timeout=2))
    return frame


def close_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as caught:
        while True:
            ws.recv(timeout=2)
    return caught.value.rcvd.code if caught.value.rcvd else None


def refused_status(server: Server, origin: str | None = ORIGIN) -> int:
    with pytest.raises(InvalidStatus) as caught:
        client(server, origin)
    return caught.value.response.status_code


def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# --- handshake ------------------------------------------------------------------------------


def test_an_allowed_origin_connects_and_the_app_sees_origin_cookies_and_peer(
    serve: Callable[..., Server],
) -> None:
    server = serve()
    with client(server, additional_headers={"Cookie": "hotline_desk=s-1; theme=dark"}) as ws:
        send(ws, {"t": "whoami"})
        you = recv(ws)
    assert you["origin"] == "https://hotline.example:443"
    assert you["cookies"] == {"hotline_desk": "s-1", "theme": "dark"}
    assert you["peer"].startswith("tcp4:127.0.0.1:") and len(you["id"]) == 32
    assert server.app.closed.get(timeout=2) == (you["id"], 1000)
    assert server.counters.accepted == 1


def test_the_other_configured_origin_connects_too(serve: Callable[..., Server]) -> None:
    with client(serve(), origin="http://merchant.example:8080") as ws:
        send(ws, {"t": "echo", "body": 1})
        assert recv(ws) == {"t": "echo", "body": 1}


def test_a_wrong_or_missing_origin_is_refused_with_403(serve: Callable[..., Server]) -> None:
    server = serve()
    assert refused_status(server, "https://evil.example") == 403
    assert refused_status(server, "http://hotline.example") == 403  # same host, other scheme
    assert refused_status(server, "null") == 403
    assert refused_status(server, None) == 403
    assert server.counters.refused == {"origin": 4}
    assert server.app.opened.empty() and server.counters.open_connections == 0


def test_the_connection_cap_refuses_with_503_until_one_closes(
    serve: Callable[..., Server],
) -> None:
    server = serve(max_connections=2)
    with client(server) as first, client(server) as second:
        assert refused_status(server) == 503
        first.close()
        wait_until(lambda: server.counters.open_connections == 1)
        with client(server) as third:
            send(third, {"t": "echo", "body": "ok"})
            assert recv(third)["body"] == "ok"
        second.close()
    wait_until(lambda: server.counters.open_connections == 0)
    assert server.counters.refused == {"capacity": 1}


def test_the_site_serves_static_children_and_the_wsgi_app_beside_the_websocket(
    serve: Callable[..., Server],
) -> None:
    server = serve(wsgi=True)
    assert httpx.get(server.http + "/plain").text == "hi"
    assert httpx.get(server.http + "/chat/x").text == "wsgi /chat/x"
    assert httpx.get(server.http + "/ws").status_code == 426  # no upgrade: no status page
    with client(server) as ws:
        send(ws, {"t": "echo", "body": "still a websocket"})
        assert recv(ws)["body"] == "still a websocket"


# --- frames ---------------------------------------------------------------------------------


def test_malformed_frames_get_error_frames_and_the_connection_stays(
    serve: Callable[..., Server],
) -> None:
    server = serve()
    with client(server) as ws:
        for payload in ('{"t":"echo"', "[1]", '{"body":1}', '{"t":"x","a":{"b":{"c":{"d":{}}}}}'):
            ws.send(payload)
            error = recv(ws)
            assert (error["t"], error["code"], error["ref"]) == ("error", "bad_frame", None)
        ws.send(b'{"t":"echo"}')  # a binary frame
        assert recv(ws)["code"] == "bad_frame"
        send(ws, {"t": "echo", "body": "usable"})
        assert recv(ws) == {"t": "echo", "body": "usable"}
    assert server.counters.errors == {"bad_frame": 5}
    assert server.counters.frames_in == 6 and server.counters.frames_out == 6


def test_an_error_frame_has_the_documented_shape(serve: Callable[..., Server]) -> None:
    with client(serve()) as ws:
        ws.send("not json")
        error = recv(ws)
    assert set(error) == {"t", "code", "message", "ref"}
    assert (error["t"], error["code"], error["ref"]) == ("error", "bad_frame", None)
    assert isinstance(error["message"], str) and error["message"]


def test_a_frame_over_the_frame_limit_is_an_error_over_the_websocket_limit_a_1009_close(
    serve: Callable[..., Server],
) -> None:
    server = serve(max_frame_bytes=1024, ws_max_bytes=4096)
    with client(server) as ws:
        send(ws, {"t": "echo", "body": "x" * 2000})
        assert recv(ws)["code"] == "frame_too_big"
        send(ws, {"t": "echo", "body": "fits"})
        assert recv(ws)["body"] == "fits"
        send(ws, {"t": "echo", "body": "x" * 5000})
        assert close_code(ws) == 1009
    assert server.app.closed.get(timeout=2)[1] == 1009


def test_frames_over_the_rate_are_refused_with_rate_limited(
    serve: Callable[..., Server],
) -> None:
    server = serve(frames_per_s=0.1, burst=3)
    with client(server) as ws:
        for n in range(5):
            send(ws, {"t": "echo", "body": n})
        replies = [recv(ws) for _ in range(5)]
    assert [r.get("body") for r in replies[:3]] == [0, 1, 2]
    assert [r["code"] for r in replies[3:]] == ["rate_limited", "rate_limited"]
    assert server.counters.errors == {"rate_limited": 2}


def test_an_exception_in_the_app_is_logged_answered_internal_and_the_connection_stays(
    serve: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    with client(serve()) as ws:
        send(ws, {"t": "boom"})
        assert recv(ws) == {
            "t": "error",
            "code": "internal",
            "message": "internal error",
            "ref": None,
        }
        send(ws, {"t": "later_boom"})
        assert recv(ws)["code"] == "internal"
        send(ws, {"t": "echo", "body": "alive"})
        assert recv(ws)["body"] == "alive"
    assert "RuntimeError: boom in on_frame" in caplog.text and "Traceback" in caplog.text
    assert "RuntimeError: boom in a Deferred" in caplog.text


def test_a_frame_error_from_the_app_becomes_an_error_frame_with_its_code_and_ref(
    serve: Callable[..., Server],
) -> None:
    with client(serve()) as ws:
        send(ws, {"t": "refuse"})
        assert recv(ws) == {
            "t": "error",
            "code": "not_yours",
            "message": "no such contact of yours",
            "ref": "c-9",
        }
        send(ws, {"t": "later_refuse"})
        assert recv(ws)["code"] == "not_ready"
        send(ws, {"t": "echo", "body": "alive"})
        assert recv(ws)["body"] == "alive"


def test_an_app_failing_to_open_a_connection_closes_it_4500(
    serve: Callable[..., Server],
) -> None:
    server = serve(app=FailingOpenApp())
    with client(server) as ws:
        assert close_code(ws) == 4500


# --- deadlines ------------------------------------------------------------------------------


def test_no_hello_within_the_deadline_closes_with_4001(serve: Callable[..., Server]) -> None:
    server = serve(hello_timeout_s=0.3)
    started = time.monotonic()
    with client(server) as ws:
        send(ws, {"t": "echo", "body": "not a hello"})
        assert recv(ws)["body"] == "not a hello"
        assert close_code(ws) == 4001
    assert 0.25 <= time.monotonic() - started < 1.5
    assert server.app.closed.get(timeout=2)[1] == 4001
    assert server.counters.hello_timeouts == 1


def test_a_connection_whose_hello_was_accepted_outlives_the_deadline(
    serve: Callable[..., Server],
) -> None:
    server = serve(hello_timeout_s=0.2)
    with client(server) as ws:
        send(ws, {"t": "hello", "name": "ann"})
        assert recv(ws) == {"t": "welcome", "name": "ann"}
        time.sleep(0.4)
        send(ws, {"t": "echo", "body": "still here"})
        assert recv(ws)["body"] == "still here"
    assert server.counters.hello_timeouts == 0


def test_a_peer_that_answers_pings_stays_and_a_silent_one_is_dropped(
    serve: Callable[..., Server],
) -> None:
    server = serve(ping_interval_s=1, ping_timeout_s=1)  # whole seconds: autobahn's timers
    host, port = server.url.removeprefix("ws://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=2) as silent:
        silent.sendall(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nOrigin: https://hotline.example\r\n\r\n"
        )
        assert silent.recv(1024).startswith(b"HTTP/1.1 101")
        silent_id = server.app.opened.get(timeout=2).id
        with client(server) as ws:
            assert server.app.opened.get(timeout=2).id != silent_id
            conn_id, code = server.app.closed.get(timeout=2.5)  # never ponged: dropped
            assert (conn_id, code) == (silent_id, 1006)
            send(ws, {"t": "echo", "body": "ponged all along"})
            assert recv(ws)["body"] == "ponged all along"
            assert server.app.closed.empty()
    wait_until(lambda: server.counters.open_connections == 0)
