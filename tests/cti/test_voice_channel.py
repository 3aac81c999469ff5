"""The voice channel: a queued call waits, rings agents, talks, and every step is recorded.

Driven with the real routing engine, a Twisted ``task.Clock`` as the reactor, and AGI replies
in Asterisk's own words (``200 result=...``), one per command the channel sends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from twisted.internet.task import Clock

from cti.channels.voice.channel import VoiceChannel, VoiceQueueSettings
from cti.channels.voice.queue_wait import VoiceQueueSession
from cti.records.core.events import RecordEvent
from cti.routing import events as e
from cti.routing.config import OverflowRule, QueueConfig
from cti.routing.engine import Engine
from cti.service.service import CtiService
from ivr_flows.core.effects import Exit
from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.driver import Send, Work

OK = "200 result=0"


class Records:
    def __init__(self) -> None:
        self.events: list[RecordEvent] = []

    def submit(self, event: RecordEvent) -> None:
        self.events.append(event)

    def types(self) -> list[str]:
        return [ev.type for ev in self.events]


def make(ring_s: float = 20.0, max_wait_s: float = 600.0) -> tuple[CtiService, Records, Clock]:
    clock = Clock()
    clock.advance(1_000)
    queues = {"service": QueueConfig("service", ring_timeout_s=ring_s, wrap_up_s=10.0,
                                     overflow=(OverflowRule(max_wait_s, exit="apology"),))}
    records = Records()
    return CtiService(Engine(queues), records, clock), records, clock


def session(service: CtiService, caller: str = "13800138000",
            channel: VoiceChannel | None = None) -> VoiceQueueSession:
    settings = VoiceQueueSettings(comfort_file="/var/hold", recordings_dir="/rec",
                                  record_queues=frozenset({"service"}),
                                  ring_timeouts={"service": 20.0})
    ex = Exit("queue", "agent_queue", "service", 5, {"general": 1}, {"order_id": "12345678"})
    return VoiceQueueSession(channel or VoiceChannel(service), settings,
                             lambda lang, text: "/var/tts/x", "call-1", "1700000000.1", ex, "zh",
                             caller, {})


Answer = Callable[[str], str]


def drive(gen: Any, answer: Answer, limit: int = 200) -> tuple[Any, list[str]]:
    """Run the channel, answering each AGI line with ``answer(line)``; Work runs inline."""
    sent: list[str] = []
    value: Any = None
    for _ in range(limit):
        try:
            request = gen.send(value)
        except StopIteration as stop:
            return stop.value, sent
        if isinstance(request, Work):
            if request.fn is None:  # work on the reactor: its Deferred has fired here
                assert request.start is not None
                got: list[Any] = []
                request.start().addCallback(got.append)
                value = got[0]
                continue
            value = request.fn()
            continue
        assert isinstance(request, Send)
        sent.append(request.line)
        value = agi.parse_reply(answer(request.line))
    raise AssertionError(f"channel did not finish in {limit} commands: {sent[-5:]}")


def login(service: CtiService, agent: str = "agent1001") -> None:
    service.apply(e.AgentLoggedIn(agent, {"general": 1}))


def test_a_waiting_call_rings_the_ready_agent_and_is_recorded_to_the_end() -> None:
    service, records, _ = make()
    login(service)

    def answer(line: str) -> str:
        if line.startswith("GET VARIABLE DIALSTATUS"):
            return "200 result=1 (ANSWER)"
        return OK

    ended, sent = drive(session(service).run(), answer)
    assert ended == "agent_hangup"
    assert sent[0] == 'SET VARIABLE HOTLINE_DONE ""'  # from here on, a dead CTI means fallback
    assert any(s.startswith('EXEC MixMonitor "/rec/call-1.wav,b"') for s in sent)
    assert 'EXEC Dial "PJSIP/agent1001,20,g"' in sent  # the configured ring time, in full
    assert sent[-1] == 'SET VARIABLE HOTLINE_DONE "1"'
    assert records.types() == ["queued", "offered", "recording", "offer_outcome", "connected",
                               "ended"]
    assert service.agent("agent1001").state == "wrap_up"


def test_no_answer_puts_the_agent_in_missed_and_rings_the_next_one() -> None:
    service, records, _ = make()
    login(service, "agent1001")
    login(service, "agent1002")
    statuses = iter(["NOANSWER", "ANSWER"])
    dialled: list[str] = []

    def answer(line: str) -> str:
        if line.startswith("EXEC Dial"):
            dialled.append(line.split('"')[1].split(",")[0])
        if line.startswith("GET VARIABLE DIALSTATUS"):
            return f"200 result=1 ({next(statuses)})"
        return OK

    ended, _ = drive(session(service).run(), answer)
    assert ended == "agent_hangup"
    assert len(dialled) == 2 and dialled[0] != dialled[1]
    missed = service.agent(dialled[0].removeprefix("PJSIP/"))
    assert (missed.state, missed.reason) == ("not_ready", "missed")
    outcomes = [ev.data["outcome"] for ev in records.events if ev.type == "offer_outcome"]
    assert outcomes == ["timeout", "accepted"]


def test_caller_hanging_up_while_waiting_is_an_abandon() -> None:
    service, records, _ = make()

    def answer(line: str) -> str:
        return "200 result=-1" if line.startswith("STREAM FILE") else OK

    ended, _ = drive(session(service).run(), answer)
    assert ended == "abandoned"
    assert "abandoned" in records.types()
    assert service.contact("call-1") is None or \
        service.contact("call-1").state == "ended"


def test_caller_hanging_up_during_the_talk_ends_the_contact_not_an_abandon() -> None:
    service, records, _ = make()
    login(service)

    def answer(line: str) -> str:
        if line.startswith("EXEC Dial"):
            return "200 result=-1"
        if line.startswith("GET VARIABLE DIALSTATUS"):
            return "200 result=1 (ANSWER)"  # a dead channel still answers GET VARIABLE
        return OK

    ended, _ = drive(session(service).run(), answer)
    assert ended == "caller_hangup"
    assert "abandoned" not in records.types()
    assert records.events[-1].type == "ended" and records.events[-1].data["by"] == "caller"


def test_no_agent_logged_in_takes_the_exit_instead_of_an_endless_wait() -> None:
    service, records, _ = make()
    ended, sent = drive(session(service).run(), lambda line: OK)
    assert ended in ("callback", "hangup")
    assert sent[-2:] == [f'SET VARIABLE HOTLINE_EXIT "{ended}"', 'SET VARIABLE HOTLINE_DONE "1"']
    assert records.events[-1].type == "ended"


def test_a_long_wait_ends_in_the_configured_exit(monkeypatch: Any) -> None:
    service, _, clock = make(max_wait_s=30.0)
    service.apply(e.AgentLoggedIn("agent1001", {"general": 1}, ready=False))  # staffed, busy

    def answer(line: str) -> str:
        if line.startswith("STREAM FILE /var/hold"):
            clock.advance(3)  # a comfort chunk takes three seconds
        return OK

    ended, sent = drive(session(service).run(), answer, limit=400)
    assert ended == "hangup"  # the queue's max-wait exit is an apology
    assert sum(1 for s in sent if s.startswith("STREAM FILE /var/hold")) >= 9


def test_an_answer_seen_by_ami_connects_the_call_once_by_its_uniqueid() -> None:
    service, records, _ = make()
    login(service)
    channel = VoiceChannel(service)
    seen: list[bool] = []

    def answer(line: str) -> str:
        if line.startswith("EXEC Dial"):
            assert channel.find("1700000000.1") == "call-1"
            seen.append(channel.answered("1700000000.1", "agent1001"))  # AMI: DialEnd ANSWER
            seen.append(channel.answered("1700000000.1", "agent1001"))  # a repeat: no news
            assert service.agent("agent1001").state == "busy"  # connected during the talk
        if line.startswith("GET VARIABLE DIALSTATUS"):
            return "200 result=1 (ANSWER)"
        return OK

    ended, _ = drive(session(service, channel=channel).run(), answer)
    assert ended == "agent_hangup" and seen == [True, False]
    assert records.types().count("connected") == 1
    assert [ev.data["outcome"] for ev in records.events if ev.type == "offer_outcome"] == \
        ["accepted"]
    assert channel.find("1700000000.1") is None  # the channel let go of the call


def test_an_answer_for_a_call_nobody_rings_changes_nothing() -> None:
    service, records, _ = make()
    login(service)
    channel = VoiceChannel(service)
    assert channel.answered("no-such-call", "agent1001") is False
    assert service.agent("agent1001").state == "ready" and records.events == []


# ------------------------------------------------------------------ transfer from the desktop

def _transfer_rig(service: CtiService) -> tuple[VoiceChannel, list[str]]:
    channel = VoiceChannel(service)
    hung_up: list[str] = []
    channel.hang_up = lambda leg: hung_up.append(leg)
    return channel, hung_up


def test_a_transferred_call_leaves_its_agent_and_is_answered_by_the_one_it_was_sent_to() -> None:
    service, records, _ = make()
    login(service, "agent1001")
    service.apply(e.AgentLoggedIn("agent1002", {"general": 1, "agent:agent1002": 1}))
    service.apply(e.AgentNotReady("agent1002", "break"))  # not yet: the call goes to 1001
    channel, hung_up = _transfer_rig(service)
    dialled: list[str] = []
    spoken: list[str] = []

    def answer(line: str) -> str:
        if line.startswith("EXEC Dial"):
            dialled.append(line.split('"')[1].split(",")[0])
            if len(dialled) == 1:  # 1001 answers, then sends the call to 1002 from the desk
                assert channel.answered("1700000000.1", "agent1001", "PJSIP/agent1001-0001")
                service.apply(e.AgentReady("agent1002"))
                assert channel.transfer("call-1", "agent1001", "service",
                                        {"agent:agent1002": 1}, "agent1002") == ""
        if line.startswith("GET VARIABLE DIALSTATUS"):
            return "200 result=1 (ANSWER)"
        if line.startswith("STREAM FILE"):
            spoken.append(line)
        return OK

    s = session(service, channel=channel)
    s.speak = lambda lang, text: spoken.append(text) or "/var/tts/x"  # type: ignore[func-returns-value]
    ended, _ = drive(s.run(), answer)
    assert hung_up == ["PJSIP/agent1001-0001"]  # the agent's leg, over AMI
    assert dialled == ["PJSIP/agent1001", "PJSIP/agent1002"]
    assert ended == "agent_hangup"
    assert "请稍候" in " ".join(spoken)  # the caller hears they are being transferred
    wrap = [ev.data for ev in records.events if ev.type == "wrap_up"]
    assert wrap and wrap[0]["agent"] == "agent1001" and wrap[0]["code"] == "transferred"
    connected = [ev.data["agent"] for ev in records.events if ev.type == "connected"]
    assert connected == ["agent1001", "agent1002"]
    assert [ev.type for ev in records.events].count("ended") == 1  # one call, ended once
    assert service.agent("agent1001").state == "ready"  # no wrap-up for a transfer
    assert service.agent("agent1002").state == "wrap_up"


def test_a_transferred_call_waits_first_in_line_in_the_new_queue() -> None:
    service, records, _ = make()
    login(service, "agent1001")
    channel, _ = _transfer_rig(service)
    queued: list[dict[str, Any]] = []

    def answer(line: str) -> str:
        if line.startswith("EXEC Dial") and not queued:
            channel.answered("1700000000.1", "agent1001", "PJSIP/agent1001-0001")
            assert channel.transfer("call-1", "agent1001", "service", {}, "service") == ""
            queued.append({})
        if line.startswith("GET VARIABLE DIALSTATUS"):
            return "200 result=1 (ANSWER)"
        return OK

    ended, _ = drive(session(service, channel=channel).run(), answer)
    assert ended == "agent_hangup"
    requeued = [ev.data for ev in records.events if ev.type == "queued"]
    assert len(requeued) == 2 and requeued[1]["priority"] == 10  # first in line
    # the only agent of the queue gets it again once the transfer is done (nobody else is)
    assert [ev.data["agent"] for ev in records.events if ev.type == "connected"] == \
        ["agent1001", "agent1001"]


def test_only_the_connected_agent_can_transfer_a_call_and_only_once_its_leg_is_known() -> None:
    service, _, _ = make()
    login(service, "agent1001")
    channel, hung_up = _transfer_rig(service)
    refusals: list[str] = []

    def answer(line: str) -> str:
        if line.startswith("EXEC Dial"):
            channel.answered("1700000000.1", "agent1001")  # AMI gave no channel name
            refusals.append(channel.transfer("call-1", "agent1001", "service", {}, "service"))
            refusals.append(channel.transfer("call-1", "agent1002", "service", {}, "service"))
        if line.startswith("GET VARIABLE DIALSTATUS"):
            return "200 result=1 (ANSWER)"
        return OK

    ended, _ = drive(session(service, channel=channel).run(), answer)
    assert refusals == ["no_agent_leg", "not_connected"] and hung_up == []
    assert ended == "agent_hangup"


# ------------------------------------------------------------------ a callback instead of waiting

class Callbacks:
    def __init__(self, error: str = "") -> None:
        self.asked: list[dict[str, Any]] = []
        self.error = error

    def __call__(self, number: object, **kw: Any) -> None:
        self.asked.append({"number": number, **kw})
        kw["done"]("" if self.error else "cb-1", self.error)


def test_a_waiting_caller_presses_the_key_and_keeps_their_place_as_a_callback() -> None:
    service, records, clock = make()
    login(service)
    service.apply(e.AgentNotReady("agent1001", "break"))  # nobody free: the caller waits
    callbacks = Callbacks()
    s = session(service)
    s.callbacks, s.callback_key = callbacks, "1"
    played: list[str] = []

    def answer(line: str) -> str:
        if line.startswith("STREAM FILE /var/hold"):
            played.append(line)
            clock.advance(40)  # 40 s of comfort audio, then the key
            return "200 result=49 endpos=8000"
        return OK

    ended, sent = drive(s.run(), answer)
    assert ended == "callback"
    assert played[0].endswith('"1"')  # the key interrupts the comfort audio
    asked = callbacks.asked[0]
    assert (asked["number"], asked["queue"], asked["source"]) == ("13800138000", "service",
                                                                  "voice")
    assert (service.wall() - asked["place_at"]).total_seconds() == pytest.approx(40, abs=1)
    types = records.types()
    assert "abandoned" not in types  # a callback is not an abandon
    ended_event = next(ev.data for ev in records.events if ev.type == "ended")
    assert ended_event["exit"] == "callback" and ended_event["by"] == "caller"
    assert sent[-1] == 'SET VARIABLE HOTLINE_DONE "1"'
    assert service.contact("call-1") is None or service.contact("call-1").state == "ended"


def test_the_key_is_not_offered_to_a_caller_who_cannot_be_called_back() -> None:
    service, _, _ = make()

    def answer(line: str) -> str:
        return "200 result=-1" if line.startswith("STREAM FILE") else OK

    for caller in ("", "anonymous", "12"):
        login(service)
        service.apply(e.AgentNotReady("agent1001", "break"))
        s = session(service, caller=caller)
        s.callbacks, s.callback_key = Callbacks(), "1"
        _, sent = drive(s.run(), answer)
        assert all(line.endswith('""') for line in sent if line.startswith("STREAM FILE"))


def test_a_queue_that_offers_a_callback_on_leaving_only_promises_it_once_stored() -> None:
    service, records, _ = make()  # nobody logged in: the queue's exit is "callback offer"
    spoken: list[str] = []
    for error, promised in (("", True), ("not_stored", False)):
        records.events.clear()
        spoken.clear()
        s = session(service)
        s.callbacks, s.callback_key = Callbacks(error), "1"
        s.speak = lambda lang, text: spoken.append(text) or "/var/tts/x"  # type: ignore[func-returns-value]
        ended, _ = drive(s.run(), lambda line: OK)
        ended_event = next(ev.data for ev in records.events if ev.type == "ended")
        assert (ended == "callback") is promised
        assert (ended_event["exit"] == "callback") is promised
        assert any("回电" in t for t in spoken) is promised
