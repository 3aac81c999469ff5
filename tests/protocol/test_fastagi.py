"""The FastAGI protocol replaying recorded Asterisk 22 traffic (tests/protocol/recordings).

Recording format, one line each: ``< text`` is a line Asterisk sends, ``> pattern`` a line
Hotline must send (``fnmatch`` glob: prompt file names differ between machines), ``#`` a
comment. The connection runs on Twisted's ``StringTransport`` with a ``task.Clock``
reactor; blocking work runs inline through a pool with ThreadPool's real method signature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer, task
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from cti.telephony.agi.fastagi import (
    COMMAND_TIMEOUT_S,
    ENV_TIMEOUT_S,
    FastAgiFactory,
    FastAgiProtocol,
    listen_fastagi,
)
from ivr_flows.core.effects import Act, Result, SendLink, State
from ivr_flows.core.model import Flow

RECORDINGS = Path(__file__).resolve().parent / "recordings"
OPEN = datetime(2026, 3, 2, 10, 0)


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
    def __init__(self, demo_flow: Flow) -> None:
        self.reactor = ThreadlessReactor()
        self.pool = InlinePool()
        self.runner = FakeRunner()
        self.factory = FastAgiFactory({"demo_400": demo_flow}, FakePrompts(), self.runner,
                                      no_link, lambda f: OPEN, self.reactor, self.pool, keep=2)
        self.transport = StringTransport()
        proto = self.factory.buildProtocol(None)
        assert isinstance(proto, FastAgiProtocol)
        self.proto: FastAgiProtocol = proto
        proto.makeConnection(self.transport)
        self._seen: int = 0

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
        proto = h.factory.buildProtocol(None)
        assert isinstance(proto, FastAgiProtocol)
        h.proto, h._seen = proto, 0
        proto.makeConnection(h.transport)
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
