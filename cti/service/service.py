"""The CTI service: the one owner of the routing engine, on the reactor thread.

Channels (voice calls today; chats, web sessions and callbacks later) and the agent API turn
what happens into routing events and call ``apply``; the engine answers with commands, which
this service hands to the channel that holds the contact (``ContactHandle.deliver``) and to
whoever watches agents. Every event applied and every command that changes a contact's life
is also written to the records (through a non-blocking writer), so history and live figures
come from one stream. Timers: after each event the service arms one reactor timer for
``engine.next_timer()`` and feeds ``Tick`` when it is due.

Nothing here blocks: the engine is pure and fast, record writes go to a background thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cti.records.events import RecordEvent
from cti.routing import commands as c
from cti.routing import events as e
from cti.routing.engine import Engine

log = logging.getLogger(__name__)


class ContactHandle(Protocol):
    """A channel's side of one waiting contact (a voice call, a chat, ...)."""

    def deliver(self, command: c.Command) -> None: ...


class RecordSink(Protocol):
    def submit(self, event: RecordEvent) -> None: ...


AgentListener = Callable[[c.AgentStateChanged], None]


@dataclass
class CtiService:
    engine: Engine
    records: RecordSink
    reactor: Any  # IReactorTime: seconds() and callLater()
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    contacts: dict[str, ContactHandle] = field(default_factory=dict)
    agent_listeners: list[AgentListener] = field(default_factory=list)
    last_contact: dict[str, str] = field(default_factory=dict)  # agent -> last connected contact
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
        return commands

    def add_contact(self, handle: ContactHandle, event: e.ContactArrived) -> list[c.Command]:
        """A channel puts a contact in a queue; ``handle`` receives its commands."""
        self.contacts[event.contact_id] = handle
        return self.apply(event)

    def forget_contact(self, contact_id: str) -> None:
        self.contacts.pop(contact_id, None)

    # ------------------------------------------------------------------ commands out

    def _dispatch(self, command: c.Command) -> None:
        if isinstance(command, c.AgentStateChanged):
            for listener in list(self.agent_listeners):
                listener(command)
            return
        if isinstance(command, c.Rejected):
            log.info("routing: %s rejected (%s) contact=%s agent=%s", command.event,
                     command.reason, command.contact_id, command.agent_id)
            return
        self._record_command(command)
        if isinstance(command, c.Connect):
            self.last_contact[command.agent_id] = command.contact_id
        handle = self.contacts.get(command.contact_id)
        if handle is None:
            log.warning("routing: %s for contact %s, which no channel holds",
                        type(command).__name__, command.contact_id)
            return
        handle.deliver(command)
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

    def record(self, interaction_id: str, type_: str, **data: Any) -> None:
        try:
            self.records.submit(RecordEvent(interaction_id, self.wall(), type_, data))
        except ValueError as exc:  # an EventError: our bug, but never stop routing for it
            log.error("records: cannot record %s for %s: %s", type_, interaction_id, exc)

    def _record_event(self, event: e.Event) -> None:
        match event:
            case e.ContactArrived():
                self.record(event.contact_id, "queued", queue=event.queue,
                            priority=event.priority, skills=dict(event.skills))
            case e.ContactAbandoned():
                self.record(event.contact_id, "abandoned", reason="caller_left_queue")
            case e.OfferAccepted():
                self.record(event.contact_id, "offer_outcome", agent=event.agent_id,
                            outcome="accepted")
            case e.OfferRejected():
                self.record(event.contact_id, "offer_outcome", agent=event.agent_id,
                            outcome="rejected")
            case e.OfferTimedOut():
                self.record(event.contact_id, "offer_outcome", agent=event.agent_id,
                            outcome="timeout")
            case _:
                pass

    def _record_command(self, command: c.Command) -> None:
        match command:
            case c.Offer():
                self.record(command.contact_id, "offered", agent=command.agent_id)
            case c.CancelOffer():
                self.record(command.contact_id, "offer_outcome", agent=command.agent_id,
                            outcome="cancelled")
            case c.Connect():
                self.record(command.contact_id, "connected", agent=command.agent_id)
            case _:
                pass
