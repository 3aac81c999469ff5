"""The FastAGI protocol replaying recorded Asterisk 22 traffic (tests/protocol/recordings).

Recording format, one line each: ``< text`` is a line Asterisk sends, ``> pattern`` a line
Hotline must send (``fnmatch`` glob: prompt file names differ between machines), ``#`` a
comment. The connection runs on Twisted's ``StringTransport`` with a ``task.Clock``
reactor; blocking work runs inline through a pool with ThreadPool's real method signature.
The bounds on who connects (address, number of connections) are also checked on a real
listening socket on 127.0.0.1, served by the global reactor running in a thread.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer, task
from twisted.internet import reactor as global_reactor
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import StringTransport
from twisted.internet.threads import blockingCallFromThread
from twisted.python.failure import Failure

from cti.telephony.agi.fastagi import (
    COMMAND_TIMEOUT_S,
    ENV_MAX_LINE_BYTES,
    ENV_MAX_LINES,
    ENV_TIMEOUT_S,
    REFUSAL_LOG_EVERY_S,
    FastAgiFactory,
    FastAgiProtocol,
    listen_fastagi,
)
from ivr_flows.core.effects import Act, Result, SendLink, State
from ivr_flows.core.model import Flow

RECORDINGS = Path(__file__).resolve().parent / "recordings"
OPEN = datetime(2026, 3, 2, 10, 0)
ASTERISK = IPv4Address("TCP", "127.0.0.1", 40000)  # where the sandbox Asterisk connects from


class ThreadlessReactor(task.Clock):
    """``task.Clock`` plus ``callFromThread`` (what ``deferToThreadPool`` calls back through)."""

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kw: Any) -> None:
        f(*args, **kw)


class InlinePool:
    """``ThreadPool.callInThreadWithCallback`` run on the calling thread."""

    def __init__(self) -> None:
        self.jobs = 0

    def callInThreadWithCallback(self, onResult: Callable[[bool, Any], None],
                                 func: Callable[..., Any], *args: Any, **kw: Any) -> None:
        self.jobs += 1
        try:
            result = func(*args, **kw)
        except Exception:  # noqa: BLE001 - handed back as a Failure, as ThreadPool does
            onResult(False, Failure())
        else:
            onResult(True, result)


class FakePrompts:
    def text_file(self, lang: str, text: str) -> str:
        return f"/prompts/{lang}/{hashlib.sha1(text.encode()).hexdigest()[:10]}"

    def say_text(self, lang: str, text: str) -> str:
        return self.text_file(lang, text)

    def flow_audio_file(self, flow: Flow, lang: str, audio: str) -> str:
        return self.text_file(lang, audio)


class FakeRunner:
    def __init__(self) -> None:
        self.calls: list[Act] = []

    def run(self, flow: Flow, act: Act) -> Result:
        self.calls.append(act)
        if act.action == "order_status":
            return Result("ok", {"order_status": "shipped", "eta_month": "3", "eta_day": "5"})
        return Result("not_found", {})


class FakeReactorRunner(FakeRunner):
    """A runner with only the reactor side (as ``ReactorActionRunner``): ``start`` -> Deferred,
    answered later by the test, like a reply arriving from the back-end."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[tuple[Act, defer.Deferred[Result]]] = []

    def start(self, flow: Flow, act: Act) -> defer.Deferred[Result]:
        d: defer.Deferred[Result] = defer.Deferred()
        self.pending.append((act, d))
        return d

    run = None  # type: ignore[assignment]  # nothing blocking to run


def no_link(flow: Flow, state: State, link: SendLink) -> Result:
    return Result("error", {})


class Harness:
    def __init__(self, demo_flow: Flow, **limits: Any) -> None:
        self.reactor = ThreadlessReactor()
        self.pool = InlinePool()
        self.runner = FakeRunner()
        self.factory = FastAgiFactory({"demo_400": demo_flow}, FakePrompts(), self.runner,
                                      no_link, lambda f: OPEN, self.reactor, self.pool, keep=2,
                                      **limits)
        self.transport = StringTransport()
        self.proto: FastAgiProtocol = self.connect(self.transport)
        self._seen: int = 0

    def connect(self, transport: StringTransport) -> FastAgiProtocol:
        """A new connection from Asterisk's address, as Twisted's TCP port makes it."""
        proto = self.factory.buildProtocol(ASTERISK)
        assert isinstance(proto, FastAgiProtocol)
        proto.makeConnection(transport)
        return proto

    def asterisk_says(self, line: str) -> None:
        self.proto.dataReceived(line.encode("utf-8") + b"\n")

    def hotline_said(self) -> list[str]:
        lines = self.transport.value().decode("utf-8").split("\n")[:-1]
        new, self._seen = lines[self._seen:], len(lines)
        return new

    def replay(self, name: str) -> None:
        for raw in (RECORDINGS / name).read_text(encoding="utf-8").splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            direction, text = raw[0], raw[2:]
            if direction == "<":
                self.asterisk_says(text)
            else:
                said = self.hotline_said()
                assert len(said) == 1, f"expected one line matching {text!r}, got {said}"
                assert fnmatchcase(said[0], text), f"{said[0]!r} does not match {text!r}"
        assert self.hotline_said() == [], "Hotline sent more than the recording shows"


@pytest.fixture
def h(demo_flow: Flow) -> Harness:
    return Harness(demo_flow)


def test_a_recorded_order_status_call_ends_in_the_agent_queue(h: Harness) -> None:
    h.replay("order_status_to_agent.txt")
    assert h.transport.disconnecting  # closed once HOTLINE_DONE is set
    outcome = h.proto.outcome
    assert outcome is not None and (outcome.ended, outcome.reason) == ("exit", "queue")
    assert outcome.uniqueid == "1718000000.0"
    assert h.runner.calls == [Act("order_status", {"order_id": "12345678"})]
    assert list(h.factory.outcomes) == [outcome]
    assert h.pool.jobs >= 2  # prompt files and the action ran on the pool
    assert h.reactor.getDelayedCalls() == []  # no timer left behind


def test_an_action_on_the_reactor_runs_without_the_pool_and_resumes_the_call(
        demo_flow: Flow) -> None:
    h = Harness(demo_flow)
    runner = FakeReactorRunner()
    h.factory.runner = runner
    lines = (RECORDINGS / "order_status_to_agent.txt").read_text(encoding="utf-8").splitlines()
    env = [raw[2:] for raw in lines if raw.startswith("< agi_") or raw == "< "]
    for line in env:
        h.asterisk_says(line)
    assert h.hotline_said()[0].startswith("STREAM FILE")
    h.asterisk_says("200 result=49 endpos=8160")  # key 1 during the welcome
    assert h.hotline_said()[0].startswith("GET DATA")
    h.asterisk_says("200 result=12345678")  # the order number
    assert [act for act, _d in runner.pending] == [Act("order_status", {"order_id": "12345678"})]
    jobs = h.pool.jobs
    assert h.hotline_said() == []  # the call waits for the back-end, no command in flight
    runner.pending[0][1].callback(Result("ok", {"order_status": "shipped", "eta_month": "3",
                                                "eta_day": "5"}))
    assert h.hotline_said()[0].startswith("STREAM FILE")  # the status is said at once
    # one pool job since: the prompt files of the result (these fake prompts have no memo);
    # the action itself has no blocking side at all (run is None), so it cannot have
    assert h.pool.jobs == jobs + 1


@pytest.mark.parametrize("recording, reason", [
    ("caller_hangs_up.txt", "caller_hangup"),
    ("hangup_before_command.txt", "caller_hangup"),
])
def test_a_recorded_hang_up_closes_without_handing_over(h: Harness, recording: str,
                                                        reason: str) -> None:
    h.replay(recording)
    assert h.transport.disconnecting
    outcome = h.proto.outcome
    assert outcome is not None and (outcome.ended, outcome.reason) == ("hangup", reason)
    assert b"HOTLINE_DONE" not in h.transport.value()


def test_an_unknown_flow_clears_hotline_done_and_hands_back_to_the_dialplan(h: Harness) -> None:
    h.replay("unknown_flow.txt")
    assert h.transport.disconnecting
    assert h.factory.rejected == 1 and not h.factory.outcomes


def test_a_usage_reply_ends_the_session_as_an_error(h: Harness) -> None:
    h.replay("usage_error.txt")
    outcome = h.proto.outcome
    assert outcome is not None and (outcome.ended, outcome.reason) == ("error", "agi_refused")
    assert h.transport.disconnecting


def test_a_lost_connection_answers_the_pending_command_and_ends_the_call(h: Harness) -> None:
    for line in (RECORDINGS / "caller_hangs_up.txt").read_text().splitlines():
        if line.startswith("< "):
            h.asterisk_says(line[2:])
            if line == "< ":
                break
    assert h.hotline_said()[0].startswith("STREAM FILE")
    h.proto.connectionLost(Failure(ConnectionError("peer reset")))
    outcome = h.proto.outcome
    assert outcome is not None and outcome.reason == "connection_lost"
    assert h.reactor.getDelayedCalls() == []


def test_lines_split_across_packets_are_reassembled(h: Harness) -> None:
    data = b"agi_network: yes\nagi_network_script: demo_400\nagi_callerid: 1001\n\n"
    for i in range(0, len(data), 7):
        h.proto.dataReceived(data[i:i + 7])
    assert h.hotline_said()[0].startswith("STREAM FILE /prompts/zh/")
    h.proto.dataReceived(b"200 result=-")
    h.proto.dataReceived(b"1 endpos=0\n")
    assert h.proto.outcome is not None and h.proto.outcome.reason == "caller_hangup"


def test_a_peer_that_sends_no_environment_is_disconnected(h: Harness) -> None:
    h.reactor.advance(ENV_TIMEOUT_S + 1)
    assert h.transport.disconnecting


def test_a_command_never_answered_is_reaped(h: Harness) -> None:
    h.proto.dataReceived(b"agi_network: yes\nagi_network_script: demo_400\n\n")
    h.reactor.advance(COMMAND_TIMEOUT_S + 1)
    assert h.proto.outcome is not None and h.proto.outcome.reason == "connection_lost"


def test_slow_replies_each_within_the_limit_are_not_reaped(h: Harness) -> None:
    h.proto.dataReceived(b"agi_network: yes\nagi_network_script: demo_400\n\n")
    for _ in range(3):  # each command answered just before its limit: the call goes on
        assert len(h.hotline_said()) == 1  # a prompt, a wait for a key, ...
        h.reactor.advance(COMMAND_TIMEOUT_S - 1)
        h.asterisk_says("200 result=0 endpos=100")
        assert h.proto.outcome is None and not h.transport.disconnecting
    assert len(h.reactor.getDelayedCalls()) == 1  # one timer per connection, pushed back


def test_the_factory_keeps_only_the_last_outcomes(demo_flow: Flow) -> None:
    h = Harness(demo_flow)
    for _ in range(3):
        h.transport = StringTransport()
        h.proto, h._seen = h.connect(h.transport), 0
        h.replay("caller_hangs_up.txt")
    assert len(h.factory.outcomes) == 2


def test_listen_fastagi_binds_the_given_interface_and_backlog(demo_flow: Flow) -> None:
    from twisted.internet.testing import MemoryReactor

    reactor = MemoryReactor()
    factory = Harness(demo_flow).factory
    listen_fastagi(reactor, factory, "127.0.0.1", 4573, 2048)
    port, got, backlog, interface = reactor.tcpServers[0]
    assert (port, got, backlog, interface) == (4573, factory, 2048, "127.0.0.1")


@pytest.mark.parametrize("recording, ended, reason, done", [
    ("asterisk22_order_status_to_agent.txt", "exit", "queue", True),
    ("asterisk22_caller_hangs_up.txt", "hangup", "caller_hangup", False),
])
def test_traffic_recorded_from_asterisk_22_replays(h: Harness, recording: str, ended: str,
                                                   reason: str, done: bool) -> None:
    """Real Asterisk 22.10.1 traffic (tests/integration/test_voice_e2e.py's calls)."""
    h.replay(recording)
    assert h.transport.disconnecting
    outcome = h.proto.outcome
    assert outcome is not None and (outcome.ended, outcome.reason) == (ended, reason)
    assert (b'HOTLINE_DONE "1"' in h.transport.value()) is done
    assert h.reactor.getDelayedCalls() == []


# -- bounds: who may connect, and what an environment may be

ENV_START = b"agi_network: yes\nagi_network_script: demo_400\n"


def assert_refused_without_a_flow(h: Harness, reason: str) -> None:
    assert h.transport.disconnecting
    assert h.transport.value() == b""  # not one command: no flow ran
    assert h.proto.outcome is None and not h.factory.outcomes and h.factory.rejected == 0
    assert h.factory.refused == {reason: 1}
    assert h.reactor.getDelayedCalls() == []  # the environment's timer went with it


@pytest.mark.parametrize("data", [
    ENV_START + b"agi_callerid: " + b"1" * ENV_MAX_LINE_BYTES + b"\n\n",  # a whole line
    ENV_START + b"agi_callerid: " + b"1" * ENV_MAX_LINE_BYTES,  # a line that never ends
], ids=["line", "unterminated"])
def test_an_environment_line_over_the_length_bound_closes_without_a_flow(
        h: Harness, data: bytes, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cti.telephony.agi.fastagi"):
        h.proto.dataReceived(data)
    assert_refused_without_a_flow(h, "env_line_too_long")
    assert "AGI environment line" in caplog.text and "no flow run" in caplog.text


def test_an_environment_without_its_blank_line_is_refused_not_run(h: Harness) -> None:
    # What the probe sent: far more lines than an environment has, and no blank line. The
    # codec's reader would take line 201 as the end; the server refuses at its own bound.
    lines = b"".join(b"agi_arg_%d: x\n" % i for i in range(250))
    h.proto.dataReceived(ENV_START + lines + b"\n")
    assert_refused_without_a_flow(h, "env_too_long")


def test_an_environment_at_its_bounds_still_runs_the_flow(h: Harness) -> None:
    filler = [b"agi_arg_%d: x\n" % i for i in range(ENV_MAX_LINES - 3)]
    longest = b"agi_calleridname: " + b"n" * (ENV_MAX_LINE_BYTES - len(b"agi_calleridname: "))
    h.proto.dataReceived(ENV_START + b"".join(filler) + longest + b"\n\n")
    assert h.hotline_said()[0].startswith("STREAM FILE")  # the flow's first prompt
    # once the environment is read, reply lines may be as long as Asterisk's (usage texts)
    h.proto.dataReceived(b"200 result=0 endpos=100 " + b" " * (ENV_MAX_LINE_BYTES * 2) + b"\n")
    assert not h.transport.disconnecting and not h.factory.refused


def test_a_slow_environment_is_closed_after_the_timeout(demo_flow: Flow) -> None:
    h = Harness(demo_flow, env_timeout_s=2.0)
    for _ in range(3):  # a line now and then: each one in time, the whole not
        h.proto.dataReceived(b"agi_callerid: 1001\n")
        h.reactor.advance(0.5)
        assert not h.transport.disconnecting
    h.reactor.advance(0.6)
    assert h.transport.disconnecting
    h.proto.dataReceived(ENV_START + b"\n")  # the rest, too late: still no flow
    assert_refused_without_a_flow(h, "env_timeout")


def test_the_default_environment_timeout_is_a_few_seconds(h: Harness) -> None:
    h.reactor.advance(ENV_TIMEOUT_S - 0.1)
    assert not h.transport.disconnecting
    h.reactor.advance(0.2)
    assert_refused_without_a_flow(h, "env_timeout")
    assert ENV_TIMEOUT_S <= 5


def test_a_connection_over_the_cap_is_refused_until_one_closes(
        demo_flow: Flow, caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(demo_flow, max_connections=2)
    second = h.connect(StringTransport())
    assert h.factory.connections == 2
    with caplog.at_level(logging.WARNING, logger="cti.telephony.agi.fastagi"):
        assert h.factory.buildProtocol(ASTERISK) is None  # Twisted closes it unread
    assert h.factory.refused == {"over_capacity": 1}
    assert "fastagi.max_connections" in caplog.text
    second.connectionLost(Failure(ConnectionError("caller hung up")))
    second.connectionLost(Failure(ConnectionError("reported twice")))  # counted out once
    assert h.factory.connections == 1
    assert isinstance(h.factory.buildProtocol(ASTERISK), FastAgiProtocol)


@pytest.mark.parametrize("addr, allowed", [
    (IPv4Address("TCP", "127.0.0.1", 1), True),
    (IPv6Address("TCP", "::1", 1), True),
    (IPv6Address("TCP", "::ffff:127.0.0.1", 1), True),  # IPv4 on a dual-stack listener
    (IPv4Address("TCP", "127.0.0.2", 1), False),
    (IPv4Address("TCP", "192.168.1.1", 1), False),
    (IPv6Address("TCP", "fe80::1%eth0", 1), False),
    (None, False),  # no address at all: not known to be Asterisk
])
def test_only_the_allowed_asterisk_addresses_may_connect(demo_flow: Flow, addr: Any,
                                                         allowed: bool) -> None:
    factory = Harness(demo_flow).factory
    proto = factory.buildProtocol(addr)
    assert isinstance(proto, FastAgiProtocol) is allowed
    assert factory.refused == ({} if allowed else {"not_allowed": 1})


def make_factory(demo_flow: Flow, reactor: Any, **limits: Any) -> FastAgiFactory:
    return FastAgiFactory({"demo_400": demo_flow}, FakePrompts(), FakeRunner(), no_link,
                          lambda f: OPEN, reactor, InlinePool(), **limits)


def test_allowed_hosts_take_networks(demo_flow: Flow) -> None:
    factory = make_factory(demo_flow, task.Clock(), allowed_hosts=("10.1.2.0/24", "2001:db8::7"))
    assert factory.buildProtocol(IPv4Address("TCP", "10.1.2.3", 1)) is not None
    assert factory.buildProtocol(IPv6Address("TCP", "2001:db8::7", 1)) is not None
    assert factory.buildProtocol(IPv4Address("TCP", "10.1.3.3", 1)) is None
    assert factory.buildProtocol(ASTERISK) is None  # not listed: not allowed


@pytest.mark.parametrize("limits, message", [
    ({"allowed_hosts": ("localhost",)}, "is not an IP address or network"),
    ({"allowed_hosts": ()}, "empty"),
    ({"max_connections": 0}, "must be positive"),
    ({"env_timeout_s": 0}, "must be positive"),
])
def test_bad_limits_are_refused_when_the_server_starts(demo_flow: Flow, limits: dict[str, Any],
                                                       message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_factory(demo_flow, task.Clock(), **limits)


def test_a_flood_of_refused_connections_logs_a_line_per_interval(
        demo_flow: Flow, caplog: pytest.LogCaptureFixture) -> None:
    clock = task.Clock()
    factory = make_factory(demo_flow, clock)
    stranger = IPv4Address("TCP", "192.0.2.9", 1)
    with caplog.at_level(logging.WARNING, logger="cti.telephony.agi.fastagi"):
        for _ in range(1000):
            assert factory.buildProtocol(stranger) is None
        clock.advance(REFUSAL_LOG_EVERY_S)
        assert factory.buildProtocol(stranger) is None
    assert factory.refused == {"not_allowed": 1001}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "192.0.2.9" in lines[0] and "1001 refused" in lines[1]


# -- the same bounds on a real listening socket

reactor: Any = global_reactor


@pytest.fixture(scope="module")
def running_reactor() -> Iterator[None]:
    if not reactor.running:
        thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                                  daemon=True)
        thread.start()
        while not reactor.running:
            time.sleep(0.01)
    yield


@pytest.fixture
def listening(running_reactor: None, demo_flow: Flow,
              request: pytest.FixtureRequest) -> Iterator[tuple[FastAgiFactory, int]]:
    """A FastAGI listener on 127.0.0.1 and a free port, with the limits the test passes
    (``parametrize("listening", [{...}], indirect=True)``)."""
    limits: dict[str, Any] = getattr(request, "param", {})
    factory = make_factory(demo_flow, reactor, **limits)
    port: Any = blockingCallFromThread(reactor, listen_fastagi, reactor, factory, "127.0.0.1", 0)
    yield factory, port.getHost().port
    blockingCallFromThread(reactor, port.stopListening)


def on_reactor(fn: Callable[[], Any]) -> Any:
    return blockingCallFromThread(reactor, fn)


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not on_reactor(check):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """True if the server closes ``sock`` within ``timeout`` (EOF or reset), False if it
    stays open."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize("listening", [{"max_connections": 2}], indirect=True)
def test_a_real_connection_over_the_cap_is_closed_at_once(
        listening: tuple[FastAgiFactory, int]) -> None:
    factory, port = listening
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
    try:
        wait_for(lambda: factory.connections == 2)
        over = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(over)
        assert closed_by_server(over, 5.0)
        assert on_reactor(lambda: factory.refused["over_capacity"]) == 1
        assert not closed_by_server(socks[0], 0.2)  # the first two are served
        socks[0].close()
        wait_for(lambda: factory.connections == 1)
        again = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(again)
        wait_for(lambda: factory.connections == 2)  # room again: accepted
        assert not closed_by_server(again, 0.2)
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize("listening", [{"allowed_hosts": ("192.0.2.1",)}], indirect=True)
def test_a_real_connection_from_an_address_not_allowed_is_closed_unread(
        listening: tuple[FastAgiFactory, int]) -> None:
    factory, port = listening
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(ENV_START + b"\n")
        assert closed_by_server(sock, 5.0)
    assert on_reactor(lambda: (factory.refused["not_allowed"], factory.connections,
                               factory.rejected, len(factory.outcomes))) == (1, 0, 0, 0)
