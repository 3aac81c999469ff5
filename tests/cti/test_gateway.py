"""The gateway: a snapshot plus a numbered change stream out, routing commands in.

Driven with the real routing engine and service, a Twisted ``task.Clock`` as the reactor and
a minimal channel (real signatures) that keeps what the engine told it.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock

from cti.routing import commands as c
from cti.routing import events as e
from cti.routing.config import QueueConfig
from cti.routing.engine import Engine
from cti.service.gateway import Change, Gateway, touched
from cti.service.service import CtiService


class Records:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def submit(self, event: Any) -> None:
        self.events.append(event)


class Inbox:
    medium = "voice"

    def __init__(self) -> None:
        self.got: list[tuple[str, c.Command]] = []

    def deliver(self, contact_id: str, command: c.Command) -> None:
        self.got.append((contact_id, command))

    def find(self, transport_key: str) -> str | None:
        return None


def make() -> tuple[CtiService, Gateway]:
    clock = Clock()
    clock.advance(100)
    service = CtiService(Engine({"service": QueueConfig("service")}), Records(), clock)
    return service, Gateway(service, clock)


def test_a_snapshot_shows_agents_queues_and_live_contacts() -> None:
    service, gateway = make()
    gateway.command(e.AgentLoggedIn("agent1001", {"general": 1}, ready=False))
    service.add_contact(Inbox(), e.ContactArrived("call-1", "voice", "service", 0, {}))
    snap = gateway.snapshot()
    assert [a.agent_id for a in snap.agents] == ["agent1001"]
    assert [(q.name, q.waiting) for q in snap.queues] == [("service", 1)]
    assert [(k.contact_id, k.state, k.position) for k in snap.contacts] == \
        [("call-1", "waiting", 1)]


def test_changes_are_numbered_after_the_snapshot_and_follow_every_event() -> None:
    service, gateway = make()
    seen: list[Change] = []
    before = gateway.snapshot().seq
    gateway.subscribe(seen.append)
    gateway.command(e.AgentLoggedIn("agent1001", {"general": 1}))
    inbox = Inbox()
    service.add_contact(inbox, e.ContactArrived("call-1", "voice", "service", 0, {}))
    assert [x.seq for x in seen] == list(range(before + 1, before + 1 + len(seen)))
    kinds = {(x.kind, x.key) for x in seen}
    assert {("agent", "agent1001"), ("contact", "call-1"), ("queue", "service")} <= kinds
    last_agent = [x.view for x in seen if x.kind == "agent"][-1]
    assert last_agent is not None and getattr(last_agent, "offered", None) == "call-1"
    assert any(isinstance(cmd, c.Offer) for _, cmd in inbox.got)
    assert gateway.snapshot().seq == seen[-1].seq


def test_an_unsubscribed_listener_hears_nothing_more() -> None:
    _service, gateway = make()
    seen: list[Change] = []
    unsubscribe = gateway.subscribe(seen.append)
    gateway.command(e.AgentLoggedIn("agent1001", {}))
    count = len(seen)
    unsubscribe()
    gateway.command(e.AgentNotReady("agent1001", "lunch"))
    assert count > 0 and len(seen) == count


def test_a_refused_command_comes_back_as_the_engines_reason() -> None:
    _service, gateway = make()
    commands = gateway.command(e.AgentReady("nobody"))
    assert [cmd.reason for cmd in commands if isinstance(cmd, c.Rejected)] == ["unknown_agent"]


def test_touched_finds_agents_and_contacts_once_in_order() -> None:
    agents, contacts = touched(e.OfferAccepted("k1", "a1"),
                               [c.Connect("k1", "a1"), c.AgentStateChanged("a2", "busy")])
    assert (agents, contacts) == (["a1", "a2"], ["k1"])
