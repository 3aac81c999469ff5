"""Self-service actions against the demo back-end over real HTTP on 127.0.0.1, and against
hostile local servers (a reply dripped a byte at a time, nested too deep, endless).

Every behaviour is checked on both runners: the blocking one (urllib3, for classic AGI and
threads) and the reactor one (Twisted's HTTP client, what FastAGI calls use), the latter on a
real reactor running in a thread of the test process.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote

import pytest
from twisted.internet import reactor as global_reactor
from twisted.internet.threads import blockingCallFromThread

from ivr_flows.core.effects import Act, Result
from ivr_flows.core.model import ActionSpec, Flow
from ivr_flows.edges.actions import ActionRunner, UnsafeArgument, dig, fill_url
from ivr_flows.edges.reactor_actions import ReactorActionRunner

reactor: Any = global_reactor


class OnReactor:
    """A ``ReactorActionRunner`` called from the test thread: ``start`` runs on the reactor,
    the test waits for its Deferred."""

    def __init__(self, base_url: str) -> None:
        self.inner = blockingCallFromThread(reactor, ReactorActionRunner, reactor, base_url)

    def run(self, flow: Flow, act: Act) -> Result:
        result: Result = blockingCallFromThread(reactor, self.inner.start, flow, act)
        return result

    def close(self) -> None:
        blockingCallFromThread(reactor, self.inner.close)


@pytest.fixture(scope="module")
def running_reactor() -> Iterator[None]:
    if not reactor.running:
        threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                         daemon=True).start()
        while not reactor.running:
            time.sleep(0.01)
    yield


def make_runner(kind: str, base_url: str) -> Any:
    return ActionRunner(base_url) if kind == "blocking" else OnReactor(base_url)


@pytest.fixture(params=["blocking", "reactor"])
def runner(request: pytest.FixtureRequest, demo_backend_url: str,
           running_reactor: None) -> Iterator[Any]:
    r = make_runner(request.param, demo_backend_url)
    yield r
    r.close()


def test_found_order_maps_reply_fields_into_variables(runner: Any,
                                                      demo_flow: Flow) -> None:
    result = runner.run(demo_flow, Act("order_status", {"order_id": "12345678"}))
    assert result == Result("ok", {"order_status": "shipped", "eta_month": "11", "eta_day": "25"})


def test_unknown_order_is_not_found(runner: Any, demo_flow: Flow) -> None:
    assert runner.run(demo_flow, Act("order_status", {"order_id": "99999999"})).outcome == \
        "not_found"


def test_server_error_is_an_error_outcome(runner: Any, demo_flow: Flow) -> None:
    assert runner.run(demo_flow, Act("order_status", {"order_id": "67890123"})).outcome == "error"


def test_slow_backend_gives_up_at_the_flow_timeout(runner: Any, demo_flow: Flow) -> None:
    started = time.monotonic()
    result = runner.run(demo_flow, Act("order_status", {"order_id": "56789012"}))
    elapsed = time.monotonic() - started
    assert result.outcome == "error"
    assert 2.5 < elapsed < 4.5  # the action's timeout is 3 s


@pytest.mark.parametrize("kind", ["blocking", "reactor"])
def test_unreachable_backend_is_an_error_not_an_exception(kind: str, demo_flow: Flow,
                                                          running_reactor: None) -> None:
    runner = make_runner(kind, "http://127.0.0.1:9")  # discard port: nothing listens
    result = runner.run(demo_flow, Act("order_status", {"order_id": "12345678"}))
    assert result.outcome == "error"
    runner.close()


def test_post_action_and_language_argument(runner: Any, demo_flow: Flow) -> None:
    assert runner.run(demo_flow, Act("password_reset", {"account_id": "A1001"})) == \
        Result("ok", {"reset_sent": "true"})
    en = runner.run(demo_flow, Act("delivery", {"order_id": "12345678", "lang": "en"}))
    assert en.values["carrier"] == "SF Express"


def test_values_cannot_escape_the_url_path() -> None:
    assert fill_url("/orders/{id}?x={q}", {"id": "../../admin", "q": "a&b=c#d"}) == \
        "/orders/..%2F..%2Fadmin?x=a%26b%3Dc%23d"


def test_dig_follows_dotted_paths_and_ignores_structures() -> None:
    data = {"eta": {"month": 11}, "items": [{"name": "tea"}], "ok": True, "obj": {"a": 1}}
    assert dig(data, "eta.month") == "11"
    assert dig(data, "items.0.name") == "tea"
    assert dig(data, "ok") == "true"
    assert dig(data, "obj") is None
    assert dig(data, "missing.path") is None


def test_unknown_action_is_an_error(runner: Any, demo_flow: Flow) -> None:
    assert runner.run(demo_flow, Act("no_such_action", {})).outcome == "error"


# -- a hostile back-end: dripping, deeply nested, endless; paths recorded ----------------------

DRIP_TIMEOUT_S = 1.5
DRIP_REPLY = b'{"status": "shipped", "padding": "' + b"x" * 60 + b'"}'


class DrippingBackend:
    """A raw socket server on 127.0.0.1 that answers every request one byte every 0.5 s:
    the whole reply (``headers``) or only its body after prompt headers (``body``)."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(DRIP_REPLY))
        with conn:
            try:
                conn.recv(65536)
                slow = head + DRIP_REPLY
                if self.phase == "body":
                    conn.sendall(head)
                    slow = DRIP_REPLY
                for byte in slow:
                    if self.closed.wait(0.5):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return  # the client gave up: what we want

    def close(self) -> None:
        self.closed.set()
        self.sock.close()


class HostileHandler(BaseHTTPRequestHandler):
    """``/deep``: JSON nested 100 000 deep; ``/big``: 2 MiB of JSON; ``/endless``: a body
    announced as 1 GiB and streamed until the client hangs up; anything else: a small JSON
    answer. Every request's raw path is recorded."""

    protocol_version = "HTTP/1.1"
    paths: list[str]
    endless_sent: list[int]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.paths.append(self.path)
        if self.path == "/deep":
            self._answer(200, b"[" * 100_000)
        elif self.path == "/big":
            self._answer(200, b'{"status": "' + b"x" * (2 * 1024 * 1024) + b'"}')
        elif self.path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(1024**3))
            self.end_headers()
            chunk, sent = b"[" * 65536, 0
            try:
                while sent < 1024**3:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            finally:
                self.endless_sent.append(sent)
                self.close_connection = True
        else:
            self._answer(200, b'{"status": "shipped"}')


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up: fine
            super().handle_error(request, client_address)


@pytest.fixture
def hostile() -> Iterator[tuple[str, type[HostileHandler]]]:
    handler = type("Recorded", (HostileHandler,), {"paths": [], "endless_sent": []})
    server = HostileServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", handler
    server.shutdown()
    server.server_close()


def with_action(flow: Flow, url: str, timeout_s: float = 3.0) -> Flow:
    spec = ActionSpec("probe", "GET", url, timeout_s, {"status": "status"})
    return replace(flow, actions={**flow.actions, "probe": spec})


@pytest.mark.parametrize("kind", ["blocking", "reactor"])
@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_dripping_backend_is_cut_off_at_the_total_deadline(
        kind: str, phase: str, demo_flow: Flow, running_reactor: None) -> None:
    backend = DrippingBackend(phase)  # the whole reply would take about 40 s
    runner = make_runner(kind, backend.url)
    try:
        started = time.monotonic()
        result = runner.run(with_action(demo_flow, "/orders/{id}", DRIP_TIMEOUT_S),
                            Act("probe", {"id": "1"}))
        elapsed = time.monotonic() - started
    finally:
        runner.close()
        backend.close()
    assert result == Result("error", {"error": "timeout"})
    assert DRIP_TIMEOUT_S - 0.1 < elapsed < DRIP_TIMEOUT_S + 0.75


@pytest.mark.parametrize("kind", ["blocking", "reactor"])
def test_deeply_nested_json_is_a_bad_reply_not_a_recursion_error(
        kind: str, demo_flow: Flow, running_reactor: None,
        hostile: tuple[str, type[HostileHandler]]) -> None:
    runner = make_runner(kind, hostile[0])
    try:
        result = runner.run(with_action(demo_flow, "/deep"), Act("probe", {}))
    finally:
        runner.close()
    assert result == Result("error", {"error": "bad_reply"})


@pytest.mark.parametrize("kind", ["blocking", "reactor"])
def test_a_reply_over_the_size_limit_is_an_error_and_the_next_call_still_works(
        kind: str, demo_flow: Flow, running_reactor: None,
        hostile: tuple[str, type[HostileHandler]]) -> None:
    runner = make_runner(kind, hostile[0])
    flow = with_action(demo_flow, "/{what}")
    try:
        too_big = runner.run(flow, Act("probe", {"what": "big"}))
        after = runner.run(flow, Act("probe", {"what": "small"}))
    finally:
        runner.close()
    assert too_big == Result("error", {"error": "reply_too_large"})
    assert after == Result("ok", {"status": "shipped"})  # no leftover of the big body read


@pytest.mark.parametrize("kind", ["blocking", "reactor"])
def test_reading_an_endless_reply_stops_at_the_size_limit(
        kind: str, demo_flow: Flow, running_reactor: None,
        hostile: tuple[str, type[HostileHandler]]) -> None:
    url, handler = hostile
    runner = make_runner(kind, url)
    try:
        started = time.monotonic()
        result = runner.run(with_action(demo_flow, "/endless", timeout_s=10.0),
                            Act("probe", {}))
        elapsed = time.monotonic() - started
    finally:
        runner.close()
    assert result == Result("error", {"error": "reply_too_large"})  # not a timeout
    assert elapsed < 5.0
    deadline = time.monotonic() + 5
    while not handler.endless_sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert handler.endless_sent and handler.endless_sent[0] < 64 * 1024 * 1024  # of 1 GiB


@pytest.mark.parametrize("value", [".", "..", ""])
def test_a_value_that_would_fold_a_path_segment_is_refused(value: str) -> None:
    with pytest.raises(UnsafeArgument) as refused:
        fill_url("/orders/{id}/items", {"id": value})
    assert refused.value.name == "id" and refused.value.code == "unsafe_argument"
    with pytest.raises(UnsafeArgument):
        fill_url("/orders/{a}{b}", {"a": ".", "b": "." if value == "." else ""})  # together
    # in the query, the same value is only encoded: it cannot reach the path from there
    assert fill_url("/orders/{id}?q={q}", {"id": "7", "q": value}) == f"/orders/7?q={value}"


PATH_TRICKS = [".", "..", "", "%2e%2e", "%2E", "../admin", "./x", "a/b", "?x=1", "#top", "..%2f"]


@pytest.mark.parametrize("kind", ["blocking", "reactor"])
def test_substituted_values_never_change_the_request_path(
        kind: str, demo_flow: Flow, running_reactor: None,
        hostile: tuple[str, type[HostileHandler]]) -> None:
    url, handler = hostile
    runner = make_runner(kind, url)
    flow = with_action(demo_flow, "/orders/{id}/items")
    try:
        results = {value: runner.run(flow, Act("probe", {"id": value})) for value in PATH_TRICKS}
    finally:
        runner.close()
    refused = {v for v, r in results.items() if r == Result("error", {"error": "unsafe_argument"})}
    assert refused == {".", "..", ""}
    sent = [v for v in PATH_TRICKS if v not in refused]
    assert all(results[v] == Result("ok", {"status": "shipped"}) for v in sent)
    assert handler.paths == [f"/orders/{quote(v, safe='')}/items" for v in sent]
    for path in handler.paths:
        segments = path.split("/")
        assert len(segments) == 4 and segments[1] == "orders" and segments[3] == "items"
        assert unquote(segments[2]) in sent
