"""The AMI protocol and client on StringTransport + task.Clock, replaying recorded traffic.

Recordings (tests/protocol/recordings/ami_*.txt, Asterisk 22.10.1) are described in
tests/protocol/ami_replay.py and in their own headers.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from twisted.application.internet import backoffPolicy
from twisted.internet import defer, task
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer

from cti.telephony.ami.client import AmiClient
from cti.telephony.ami.codec import ActionIds, AmiValueError, Message
from cti.telephony.ami.events import (
    AgentDevice,
    AgentMap,
    ChannelHungUp,
    DialEnded,
    Resynced,
    translate,
)
from cti.telephony.ami.protocol import (
    ActionFailed,
    ActionResult,
    ActionTimeout,
    AmiProtocol,
    NotConnected,
)
from tests.protocol.ami_replay import Recording, Replay

SECRET = "SECRET"  # what the recordings carry in place of the real secret
AGENTS = AgentMap.from_agents(["agent1001", "agent1002"])
PING_S, PONG_S = 20.0, 5.0


@implementer(IStreamClientEndpoint)
class FakeEndpoint:
    """Connection attempts wait for the test to let them succeed or fail."""

    def __init__(self) -> None:
        self.attempts: list[tuple[Any, defer.Deferred[Any]]] = []

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.Deferred()
        self.attempts.append((factory, d))
        return d

    def accept(self) -> tuple[Any, StringTransport]:
        factory, d = self.attempts[-1]
        proto = factory.buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        d.callback(proto)
        return proto, transport

    def refuse(self) -> None:
        self.attempts[-1][1].errback(ConnectionRefusedError())


class Harness:
    def __init__(self) -> None:
        self.clock = task.Clock()
        self.endpoint = FakeEndpoint()
        self.seen: list[Message | Resynced] = []
        self.client = AmiClient(
            self.endpoint,
            username="hotline",
            secret=SECRET,
            agents=AGENTS,
            clock=self.clock,
            ping_interval=PING_S,
            ping_timeout=PONG_S,
            retry_policy=backoffPolicy(initialDelay=0.5, maxDelay=10, jitter=lambda: 0.0),
            action_ids=ActionIds("h"),
        )
        self.client.subscribe(self.seen.append)
        self.client.start()

    @property
    def resyncs(self) -> list[Resynced]:
        return [s for s in self.seen if isinstance(s, Resynced)]

    @property
    def events(self) -> list[Message]:
        return [s for s in self.seen if isinstance(s, Message)]


def _replay(h: Harness, name: str, **hooks: Any) -> tuple[Any, StringTransport, Replay]:
    proto, transport = h.endpoint.accept()
    replay = Replay(Recording.load(name), transport, proto.dataReceived)
    results: list[Any] = []
    default_hooks = {
        "Ping": lambda: h.clock.advance(PING_S),
        "PJSIPShowEndpoints": lambda: h.client.send_action("PJSIPShowEndpoints").addCallback(
            results.append),
        "Logoff": lambda: h.client.send_action("Logoff").addCallback(results.append),
    }
    replay.run({**default_hooks, **hooks})
    replay.results = results  # type: ignore[attr-defined]
    return proto, transport, replay


def test_recorded_call_login_resync_and_events() -> None:
    h = Harness()
    _, _, replay = _replay(h, "ami_call_resync.txt")
    assert h.client.ready and len(h.resyncs) == 1
    snap = h.resyncs[0].snapshot
    assert h.seen[0] is h.resyncs[0], "the snapshot comes before the events seen meanwhile"
    assert snap.channel_source == "CoreShowChannels" and snap.notes == ()
    assert {c.channel.split("-")[0] for c in snap.channels} == {"PJSIP/carrier", "PJSIP/agent1001"}
    agent_chan = next(c for c in snap.channels if c.agent_id == "agent1001")
    assert agent_chan.state == "Up" and agent_chan.bridge_id
    agents = {a.agent_id: a for a in snap.agents}
    assert agents["agent1001"].in_use and agents["agent1001"].available
    assert not agents["agent1002"].available and agents["agent1002"].state == "UNAVAILABLE"
    assert snap.contacts == ()  # "No Contacts found" (with Asterisk's stray LF)
    assert "Queue:backup_avail" in snap.devices  # list items did not leak as live events
    assert not any(e.action_id for e in h.events)
    typed = [t for e in h.events if (t := translate(e, AGENTS)) is not None]
    states = [t.state for t in typed if isinstance(t, AgentDevice)]
    assert states == ["RINGING", "INUSE", "UNAVAILABLE"]
    assert any(isinstance(t, DialEnded) and t.status == "ANSWER" for t in typed)
    hangups = [t for t in typed if isinstance(t, ChannelHungUp)]
    assert len(hangups) == 2 and {t.cause for t in hangups} == {16}
    endpoints, goodbye = replay.results  # type: ignore[attr-defined]
    assert [e.get("ObjectName") for e in endpoints.events] == ["agent1001", "agent1002", "carrier"]
    assert endpoints.complete.get("ListItems") == "3"
    assert goodbye.response.name == "Goodbye"


def test_least_privilege_user_falls_back_to_status() -> None:
    h = Harness()
    _replay(h, "ami_least_privilege.txt")
    snap = h.resyncs[0].snapshot
    assert snap.channel_source == "Status" and len(snap.channels) == 2
    assert snap.contacts is None
    assert any("Permission denied" in n for n in snap.notes)
    assert {a.agent_id: a.state for a in snap.agents}["agent1001"] == "INUSE"


def test_the_secret_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = Harness()
    _replay(h, "ami_least_privilege.txt")
    assert "AMI login as hotline" in caplog.text
    assert SECRET not in caplog.text


def _ready(h: Harness) -> tuple[Any, StringTransport]:
    """Connect and answer login + resync with empty lists (hand-written, minimal)."""
    proto, transport = h.endpoint.accept()
    proto.dataReceived(b"Asterisk Call Manager/11.0.0\r\n")
    _answer_all(proto, transport)
    assert h.client.ready
    return proto, transport


def _sent(transport: StringTransport) -> list[Message]:
    from cti.telephony.ami.codec import StreamDecoder

    dec = StreamDecoder()
    dec.feed(b"banner: Asterisk Call Manager/x\r\n".replace(b"banner: ", b""))
    out = [m for m in dec.feed(transport.value()) if isinstance(m, Message)]
    transport.clear()
    return out


def _answer_all(proto: Any, transport: StringTransport) -> None:
    for _ in range(3):
        for msg in _sent(transport):
            aid = msg.action_id
            if msg.get("Action") == "Login":
                proto.dataReceived(f"Response: Success\r\nActionID: {aid}\r\n\r\n".encode())
            else:
                proto.dataReceived(
                    f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n\r\n"
                    f"Event: X\r\nActionID: {aid}\r\nEventList: Complete\r\n\r\n".encode()
                )


def test_responses_are_matched_by_action_id_not_order() -> None:
    h = Harness()
    proto, transport = _ready(h)
    first = h.client.send_action("Ping")
    second = h.client.send_action("DeviceStateList")
    got: dict[str, ActionResult] = {}
    first.addCallback(lambda r: got.setdefault("first", r))
    second.addCallback(lambda r: got.setdefault("second", r))
    a1, a2 = (m.action_id for m in _sent(transport))
    proto.dataReceived(
        f"Response: Success\r\nActionID: {a2}\r\nEventList: start\r\n\r\n"
        "Event: Hangup\r\nUniqueid: 1.1\r\nCause: 16\r\n\r\n"
        f"Event: DeviceStateChange\r\nActionID: {a2}\r\nDevice: PJSIP/agent1002\r\n"
        "State: NOT_INUSE\r\n\r\n"
        f"Response: Success\r\nActionID: {a1}\r\nPing: Pong\r\n\r\n"
        f"Event: DeviceStateListComplete\r\nActionID: {a2}\r\nEventList: Complete\r\n\r\n".encode()
    )
    assert got["first"].response.get("ping") == "Pong"
    assert [e.get("Device") for e in got["second"].events] == ["PJSIP/agent1002"]
    assert [e.name for e in h.events] == ["Hangup"]


def test_error_response_fails_only_its_action() -> None:
    h = Harness()
    proto, transport = _ready(h)
    failures: list[Failure] = []
    h.client.send_action("Status").addErrback(failures.append)
    (msg,) = _sent(transport)
    proto.dataReceived(
        f"Response: Error\r\nActionID: {msg.action_id}\r\nMessage: Permission denied\r\n\r\n"
        .encode()
    )
    assert failures[0].check(ActionFailed)
    assert failures[0].value.message == "Permission denied"
    assert h.client.ready


def test_unsafe_values_are_refused_before_sending() -> None:
    h = Harness()
    _, transport = _ready(h)
    failures: list[Failure] = []
    h.client.send_action(
        "Hangup", {"Channel": "PJSIP/x\r\nAction: Originate"}
    ).addErrback(failures.append)
    assert failures[0].check(AmiValueError)
    assert transport.value() == b""


def test_action_timeout() -> None:
    h = Harness()
    _ready(h)
    failures: list[Failure] = []
    h.client.send_action("Status", timeout=2.0).addErrback(failures.append)
    h.clock.advance(2.0)
    assert failures[0].check(ActionTimeout)


def test_reconnects_with_backoff_and_resyncs() -> None:
    h = Harness()
    proto, _ = _ready(h)
    pending: list[Failure] = []
    h.client.send_action("Status").addErrback(pending.append)
    proto.connectionLost(Failure(ConnectionDone()))
    assert not h.client.ready and pending[0].check(NotConnected)
    h.client.send_action("Ping").addErrback(pending.append)
    assert pending[1].check(NotConnected)
    assert len(h.endpoint.attempts) == 1
    # backoffPolicy(0.5, factor 1.5): waits 0.5 * 1.5**n, n counting failures so far
    h.clock.advance(0.74)
    assert len(h.endpoint.attempts) == 1
    h.clock.advance(0.01)
    assert len(h.endpoint.attempts) == 2
    h.endpoint.refuse()  # Asterisk still down: the next wait is longer
    h.clock.advance(1.12)
    assert len(h.endpoint.attempts) == 2
    h.clock.advance(0.01)
    assert len(h.endpoint.attempts) == 3
    _ready(h)
    assert [r.connection for r in h.resyncs] == [1, 2]


def test_missing_pong_drops_the_connection_and_reconnects() -> None:
    h = Harness()
    proto, transport = _ready(h)
    h.clock.advance(PING_S)
    (ping,) = _sent(transport)
    assert ping.get("Action") == "Ping"
    h.clock.advance(PONG_S)
    assert transport.disconnecting
    proto.connectionLost(Failure(ConnectionDone()))
    h.clock.advance(0.75)
    assert len(h.endpoint.attempts) == 2


def test_answered_pings_keep_the_connection() -> None:
    h = Harness()
    proto, transport = _ready(h)
    for _ in range(3):
        h.clock.advance(PING_S)
        (ping,) = _sent(transport)
        proto.dataReceived(
            f"Response: Success\r\nActionID: {ping.action_id}\r\nPing: Pong\r\n\r\n".encode()
        )
    assert not transport.disconnecting and h.client.ready


def test_login_refused_retries_later() -> None:
    h = Harness()
    proto, transport = h.endpoint.accept()
    proto.dataReceived(b"Asterisk Call Manager/11.0.0\r\n")
    (login,) = _sent(transport)
    proto.dataReceived(
        f"Response: Error\r\nActionID: {login.action_id}\r\nMessage: Authentication failed\r\n\r\n"
        .encode()
    )
    assert not h.client.ready and not transport.disconnecting
    h.clock.advance(2.0)  # a refused login waits 2, 4, 8 ... s before closing
    assert transport.disconnecting
    proto.connectionLost(Failure(ConnectionDone()))
    h.clock.advance(0.75)
    assert len(h.endpoint.attempts) == 2


def test_not_asterisk_is_dropped() -> None:
    h = Harness()
    proto, transport = h.endpoint.accept()
    proto.dataReceived(b"SSH-2.0-OpenSSH_9.2\r\n")
    assert transport.disconnecting and not h.client.ready


def test_protocol_alone_without_client() -> None:
    clock = task.Clock()
    got: list[Message] = []
    proto = AmiProtocol(clock, ActionIds("p"), lambda _p, m: got.append(m))
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(b"Asterisk Call Manager/11.0.0\r\nEvent: FullyBo")
    proto.dataReceived(b"oted\r\nStatus: Fully Booted\r\n\r\n")
    assert proto.version == "11.0.0" and [m.name for m in got] == ["FullyBooted"]
