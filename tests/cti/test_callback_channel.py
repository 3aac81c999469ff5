"""The callback channel with the real engine, a Twisted ``Clock`` as the reactor, the real
store on SQLite (run inline instead of in a thread) and AMI played by the test: what
Asterisk would send (OriginateResponse, the dialplan's UserEvent) in its own words."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from cti.channels.callback.channel import CallbackChannel, CallbackSettings, clean_number
from cti.records import callbacks as store
from cti.records.core.events import RecordEvent
from cti.records.db import dispose, make_session_factory
from cti.records.migrate import upgrade
from cti.routing import events as e
from cti.routing.config import QueueConfig
from cti.routing.engine import Engine
from cti.service.service import CtiService
from cti.telephony.ami.codec import Message


class Records:
    def __init__(self) -> None:
        self.events: list[RecordEvent] = []

    def submit(self, event: RecordEvent) -> None:
        self.events.append(event)

    def of(self, cid: str, kind: str) -> list[dict[str, Any]]:
        return [ev.data for ev in self.events if ev.interaction_id == cid and ev.type == kind]


@dataclass
class Ami:
    originated: list[dict[str, Any]] = field(default_factory=list)

    def originate(self, fields: Any) -> Any:
        self.originated.append(dict(fields))
        response = Message((("Response", "Success"), ("ActionID", f"a{len(self.originated)}")))
        return defer.succeed(type("Result", (), {"response": response})())

    def answered(self, ch: CallbackChannel, ok: bool = True, reason: str = "4") -> None:
        ch.on_ami(Message((("Event", "OriginateResponse"),
                           ("ActionID", f"a{len(self.originated)}"),
                           ("Response", "Success" if ok else "Failure"), ("Reason", reason))))

    def customer(self, ch: CallbackChannel, cid: str, status: str) -> None:
        ch.on_ami(Message((("Event", "UserEvent"), ("UserEvent", "HotlineCallback"),
                           ("Id", cid), ("Status", status), ("Talk", "3"))))


@dataclass
class Rig:
    channel: CallbackChannel
    service: CtiService
    records: Records
    clock: Clock
    ami: Ami
    sf: Any
    frames: list[tuple[str, dict[str, Any]]]
    wall: list[datetime]

    def ask(self, number: str = "13800138000", **kw: Any) -> tuple[str, str]:
        got: list[tuple[str, str]] = []
        self.channel.request(number, queue=kw.pop("queue", "callbacks"), lang="zh",
                             source="itr", done=lambda cid, err: got.append((cid, err)), **kw)
        assert len(got) == 1
        return got[0]

    def later(self, seconds: float) -> None:
        self.wall[0] += timedelta(seconds=seconds)
        self.clock.advance(seconds)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    sf = make_session_factory(url)
    clock = Clock()
    clock.advance(10_000)
    records = Records()
    queues = {name: QueueConfig(name, ring_timeout_s=30, wrap_up_s=5)
              for name in ("callbacks", "service")}
    wall = [datetime(2026, 5, 4, 10, 0, tzinfo=UTC)]
    service = CtiService(Engine(queues), records, clock, wall=lambda: wall[0])
    ami = Ami()
    frames: list[tuple[str, dict[str, Any]]] = []

    def db(fn: Any, *args: Any, **kw: Any) -> Any:
        return defer.maybeDeferred(fn, sf, *args, **kw)

    channel = CallbackChannel(service, clock, CallbackSettings(max_attempts=3, retry_gap_s=60,
                                                               offer_s=20), db,
                              lambda: wall[0], {})
    channel.originate = ami.originate
    channel.to_agent = lambda agent, frame: frames.append((agent, frame))
    channel.has_desk = lambda agent: agent == "agent1001"
    try:
        yield Rig(channel, service, records, clock, ami, sf, frames, wall)
    finally:
        dispose(sf)


def login(rig: Rig, agent: str = "agent1001") -> None:
    rig.service.apply(e.AgentLoggedIn(agent, {}))


def test_a_number_is_cleaned_or_refused_before_it_can_reach_a_dial_string() -> None:
    assert clean_number("138 0013-8000") == "13800138000"
    assert clean_number("+86 (10) 1234.5678") == "+861012345678"
    for bad in ("", "12", "1380013800&Dial(x)", "13800138000\nAction: x", "+", "1" * 21, None,
                "١٢٣٤٥"):
        assert clean_number(bad) is None, bad


def test_a_bad_number_is_refused_and_nothing_is_stored(rig: Rig) -> None:
    assert rig.ask("call me maybe") == ("", "bad_number")
    assert rig.ask("13800138000", queue="nowhere") == ("", "unknown_queue")
    assert store.waiting(rig.sf) == [] and rig.records.events == []


def test_a_request_is_stored_offered_on_the_desktop_and_dials_agent_then_customer(
        rig: Rig) -> None:
    login(rig)
    cid, error = rig.ask()
    assert error == "" and store.get(rig.sf, cid) is not None  # stored before "done"
    assert rig.records.of(cid, "interaction_started")[0]["channel"] == "callback"
    agent, offer = rig.frames[-1]
    assert (agent, offer["t"], offer["medium"], offer["customer"]) == (
        "agent1001", "offer", "callback", "13800138000")
    assert rig.ami.originated == []  # nothing is dialled before the agent accepts
    assert rig.channel.accept(cid, "agent1001")
    fields = rig.ami.originated[0]
    assert fields["Channel"] == "PJSIP/agent1001" and fields["Context"] == "hotline-callback"
    assert "HOTLINE_CB_NUMBER=13800138000" in fields["Variable"]
    rig.ami.answered(rig.channel)  # the agent's phone answered; the dialplan dials out
    rig.ami.customer(rig.channel, cid, "ANSWER")
    assert rig.records.of(cid, "callback_attempt") == [
        {"attempt": 1, "agent": "agent1001", "result": "answered", "cause": "ANSWER"}]
    assert rig.records.of(cid, "ended")[0]["by"] == "agent"
    info = store.get(rig.sf, cid)
    assert info is not None and (info.state, info.attempts, info.outcome) == (
        "done", 1, "answered")
    assert rig.service.agent("agent1001").state == "wrap_up"  # as after a call


def test_no_answer_is_tried_again_after_the_gap_and_fails_after_the_last_attempt(
        rig: Rig) -> None:
    login(rig)
    cid, _ = rig.ask()
    for attempt in (1, 2, 3):
        assert rig.channel.accept(cid, "agent1001"), attempt
        rig.ami.answered(rig.channel)
        rig.ami.customer(rig.channel, cid, "NOANSWER" if attempt < 3 else "BUSY")
        rig.service.apply(e.WrapUpEnded("agent1001", cid))
        if attempt < 3:
            info = store.get(rig.sf, cid)
            assert info is not None and info.attempts == attempt and info.next_at is not None
            rig.later(30)
            assert rig.channel.callbacks[cid].state == "between"  # not before the gap
            rig.later(31)
    results = [a["result"] for a in rig.records.of(cid, "callback_attempt")]
    assert results == ["no_answer", "no_answer", "busy"]
    ended = rig.records.of(cid, "ended")
    assert len(ended) == 1 and ended[0]["exit"] == "callback_failed"
    info = store.get(rig.sf, cid)
    assert info is not None and (info.state, info.attempts) == ("failed", 3)
    assert cid not in rig.channel.callbacks


def test_a_retry_waits_for_business_hours(rig: Rig) -> None:
    login(rig)
    cid, _ = rig.ask()
    rig.channel.accept(cid, "agent1001")
    rig.ami.answered(rig.channel)
    rig.ami.customer(rig.channel, cid, "NOANSWER")
    rig.service.apply(e.WrapUpEnded("agent1001", cid))
    rig.channel.in_hours = lambda: False
    rig.later(61)
    assert rig.channel.callbacks[cid].state == "between"  # closed: not now
    rig.channel.in_hours = lambda: True
    rig.later(61)
    assert rig.channel.callbacks[cid].state == "offered"


def test_the_agents_phone_not_answering_is_not_the_customers_attempt(rig: Rig) -> None:
    login(rig)
    cid, _ = rig.ask()
    rig.channel.accept(cid, "agent1001")
    rig.ami.answered(rig.channel, ok=False, reason="3")  # rang out on the agent's desk
    attempt = rig.records.of(cid, "callback_attempt")
    assert attempt[0]["result"] == "agent_no_answer" and attempt[0]["cause"] == "reason_3"
    view = rig.service.agent("agent1001")
    assert (view.state, view.reason) == ("not_ready", "missed")
    assert rig.channel.callbacks[cid].state == "waiting"  # back in line, attempts untouched
    info = store.get(rig.sf, cid)
    assert info is not None and info.attempts == 0


def test_an_agent_without_a_desktop_takes_it_on_the_phone(rig: Rig) -> None:
    login(rig, "agent1002")  # has_desk is False for 1002
    rig.ask()
    assert rig.ami.originated and rig.ami.originated[0]["Channel"] == "PJSIP/agent1002"
    assert not [f for _, f in rig.frames if f["t"] == "offer"]


def test_a_desktop_offer_not_taken_in_time_goes_to_the_next_agent(rig: Rig) -> None:
    login(rig)
    cid, _ = rig.ask()
    rig.later(21)
    assert ("agent1001", {"t": "offer_gone", "contact": cid, "why": "timeout"}) in rig.frames
    assert rig.service.agent("agent1001").reason == "missed"


def test_a_callback_keeps_the_place_of_the_caller_who_asked(rig: Rig) -> None:
    rig.service.apply(e.AgentLoggedIn("agent1001", {}))
    rig.service.apply(e.AgentNotReady("agent1001", "break"))
    rig.service.add_contact(rig.channel, e.ContactArrived("later-caller", "voice", "callbacks"))
    rig.later(10)
    cid, _ = rig.ask(place_at=rig.wall[0] - timedelta(seconds=60))  # waited 60 s already
    view = rig.service.contact(cid)
    assert view is not None and view.position == 1  # ahead of the caller who came later


def test_requests_still_waiting_come_back_after_a_restart(rig: Rig) -> None:
    cid, _ = rig.ask()
    rig.channel.callbacks.clear()
    fresh = CallbackChannel(rig.service, rig.clock, rig.channel.settings, rig.channel.db,
                            lambda: rig.wall[0], {})
    rig.service.forget_contact(cid)
    rig.service.apply(e.ContactEnded(cid))
    assert fresh.restore(store.waiting(rig.sf)) == 1
    fresh.originate, fresh.has_desk = rig.ami.originate, lambda agent: False
    login(rig)
    assert rig.ami.originated and "HOTLINE_CB=" + cid in rig.ami.originated[0]["Variable"]
