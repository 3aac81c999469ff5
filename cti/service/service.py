"""The CTI service: the one owner of the routing engine, on the reactor thread.

Channels (``cti/channels/``: voice calls today; chats, web sessions and callbacks next) put
contacts in with ``add_contact`` and report what happened on their medium (``connected``,
``rejected``, ``timed_out``, ``abandoned``, ``ended``); agent use cases (``cti/agents``) go
through the gateway (``cti/service/gateway.py``), which is the only door into live state for
everything outside this package. Every event is applied with ``apply``: the engine answers
with commands, which go to the channel holding the contact (``Channel.deliver``) and, as a
summary of what changed, to the ``Applied`` listeners (the gateway). Every event applied and
every command that changes a contact's life is also written to the records (through a
non-blocking writer), so history and live figures come from one stream. Timers: after each
event the service arms one reactor timer for ``engine.next_timer()`` and feeds ``Tick``
when it is due.

Nothing here blocks: the engine is pure and fast, record writes go to a background thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cti.records.core.events import (
    Abandoned,
    Connected,
    Fact,
    Offered,
    OfferOutcome,
    Queued,
    RecordEvent,
)
from cti.routing import commands as c
from cti.routing import events as e
from cti.routing.agents import AgentView
from cti.routing.engine import Engine
from cti.routing.queues import ContactView, QueueStats
from cti.service.channel import Channel

log = logging.getLogger(__name__)


class RecordSink(Protocol):
    def submit(self, event: RecordEvent) -> None: ...


Applied = Callable[[e.Event, list[c.Command]], None]  # after every apply, on the reactor


@dataclass
class CtiService:
    engine: Engine
    records: RecordSink
    reactor: Any  # IReactorTime: seconds() and callLater()
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    listeners: list[Applied] = field(default_factory=list)
    # What a contact looks like as it enters its queue (e.g. priority and skills from its
    # customer's tags, cti/service/tag_routing.py); must not block: reactor thread.
    contact_policy: Callable[[e.ContactArrived], e.ContactArrived] = field(
        default=lambda event: event)
    _channels: dict[str, Channel] = field(default_factory=dict)  # contact id -> its channel
    _last_contact: dict[str, str] = field(default_factory=dict)  # agent -> last connected
    _timer: Any = None
    applied: int = 0

    # ------------------------------------------------------------------ events in

    def apply(self, event: e.Event) -> list[c.Command]:
        """Apply one routing event now; dispatch and record what the engine decided."""
        commands = self.engine.handle(event, self.reactor.seconds())
        self.applied += 1
        self._record_event(event)
        for command in commands:
            self._dispatch(command)
        self._arm_timer()
        for listener in self.listeners:
            listener(event, commands)
        return commands

    def add_contact(self, channel: Channel, event: e.ContactArrived) -> list[c.Command]:
        """A channel puts a contact in a queue; ``channel`` receives its commands."""
        self._channels[event.contact_id] = channel
        try:
            event = self.contact_policy(event)
        except Exception:  # a policy bug must not lose the contact: it enters as it came
            log.exception("routing: contact policy failed for %s", event.contact_id)
        return self.apply(event)

    def forget_contact(self, contact_id: str) -> None:
        """The channel let go of the contact (its transport is gone)."""
        self._channels.pop(contact_id, None)

    # What a channel saw on its medium, as routing events.

    def connected(self, contact_id: str, agent_id: str) -> list[c.Command]:
        return self.apply(e.OfferAccepted(contact_id, agent_id))

    def rejected(self, contact_id: str, agent_id: str) -> list[c.Command]:
        return self.apply(e.OfferRejected(contact_id, agent_id))

    def timed_out(self, contact_id: str, agent_id: str) -> list[c.Command]:
        return self.apply(e.OfferTimedOut(contact_id, agent_id))

    def abandoned(self, contact_id: str) -> list[c.Command]:
        return self.apply(e.ContactAbandoned(contact_id))

    def ended(self, contact_id: str) -> list[c.Command]:
        return self.apply(e.ContactEnded(contact_id))

    # ------------------------------------------------------------------ views (reactor thread)

    def agent(self, agent_id: str) -> AgentView:
        return self.engine.agent_state(agent_id)

    def agents(self) -> list[AgentView]:
        return self.engine.agents()

    def contact(self, contact_id: str) -> ContactView | None:
        return self.engine.contact(contact_id)

    def contacts(self) -> list[ContactView]:
        """The live contacts that a channel holds (waiting, offered or connected)."""
        views = (self.engine.contact(cid) for cid in list(self._channels))
        return [v for v in views if v is not None]

    def queues(self) -> list[QueueStats]:
        return self.engine.queue_stats(self.reactor.seconds())

    def last_contact(self, agent_id: str) -> str | None:
        """The contact the agent was last connected to (what a wrap-up is about)."""
        return self._last_contact.get(agent_id)

    # ------------------------------------------------------------------ commands out

    def _dispatch(self, command: c.Command) -> None:
        if isinstance(command, c.AgentStateChanged):
            return  # the Applied listeners see it with the rest of the batch
        if isinstance(command, c.Rejected):
            log.info("routing: %s rejected (%s) contact=%s agent=%s", command.event,
                     command.reason, command.contact_id, command.agent_id)
            return
        self._record_command(command)
        if isinstance(command, c.Connect):
            self._last_contact[command.agent_id] = command.contact_id
        channel = self._channels.get(command.contact_id)
        if channel is None:
            log.warning("routing: %s for contact %s, which no channel holds",
                        type(command).__name__, command.contact_id)
            return
        channel.deliver(command.contact_id, command)
        if isinstance(command, c.ExitContact):
            self.forget_contact(command.contact_id)

    def _arm_timer(self) -> None:
        due = self.engine.next_timer()
        if self._timer is not None and self._timer.active():
            if due is not None and abs(self._timer.getTime() - due) < 1e-3:
                return
            self._timer.cancel()
        self._timer = None
        if due is not None:
            delay = max(0.0, due - self.reactor.seconds())
            self._timer = self.reactor.callLater(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.apply(e.Tick())

    def stop(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    # ------------------------------------------------------------------ records

    def record(self, interaction_id: str, fact: Fact | Callable[[], Fact]) -> None:
        """Write one record event now (``fact`` may be a function that builds it, so that a
        fact refused by its own validation is logged here instead of stopping routing)."""
        try:
            made = fact() if callable(fact) else fact
            self.records.submit(RecordEvent.of(interaction_id, self.wall(), made))
        except ValueError as exc:  # an EventError: our bug, but never stop routing for it
            log.error("records: cannot record an event for %s: %s", interaction_id, exc)

    def _record_event(self, event: e.Event) -> None:
        match event:
            case e.ContactArrived():
                self.record(event.contact_id, lambda: Queued(
                    event.queue, event.priority, dict(event.skills)))
            case e.ContactAbandoned():
                self.record(event.contact_id, lambda: Abandoned("caller_left_queue"))
            case e.OfferAccepted() | e.OfferRejected() | e.OfferTimedOut():
                outcome = OFFER_OUTCOME[type(event)]
                self.record(event.contact_id, lambda: OfferOutcome(event.agent_id, outcome))
            case _:
                pass

    def _record_command(self, command: c.Command) -> None:
        match command:
            case c.Offer():
                self.record(command.contact_id, lambda: Offered(command.agent_id))
            case c.CancelOffer():
                self.record(command.contact_id, lambda: OfferOutcome(command.agent_id,
                                                                     "cancelled"))
            case c.Connect():
                self.record(command.contact_id, lambda: Connected(command.agent_id))
            case _:
                pass


OFFER_OUTCOME: dict[type, str] = {e.OfferAccepted: "accepted", e.OfferRejected: "rejected",
                                  e.OfferTimedOut: "timeout"}
