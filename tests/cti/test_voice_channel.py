"""The voice channel: a queued call waits, rings agents, talks, and every step is recorded.

Driven with the real routing engine, a Twisted ``task.Clock`` as the reactor, and AGI replies
in Asterisk's own words (``200 result=...``), one per command the channel sends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
