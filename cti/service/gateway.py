"""The gateway: the only door into live CTI state for everything outside the service.

The agent API, the agent-session store and the AMI bridge today; the agent desktop, the
supervisor console and the chat channel's WebSockets next. None of them reads the engine.

- **Snapshot**: agents, queues and live contacts as plain frozen views, with ``seq``, the
  number of the last change they include.
- **Change stream**: ``subscribe(listener)``; after every event the service applies, each
  listener gets the ``Change`` items of what it touched (an agent, a contact, a queue), each
  numbered ``seq + 1, seq + 2, ...``. A client that took a snapshot at ``seq`` and then
  applies every change with a higher number sees the live state, in order. Views are only
  computed while someone listens: the voice hot path pays nothing for an empty stream.
- **Commands in**: ``command(event)`` applies a routing event (log in, ready, wrap-up ...)
  and returns the engine's commands; ``record(...)`` writes a record event.

Every method runs on the reactor thread, the one thread that owns the engine. From a WSGI
thread (Flask pages), call through ``from_thread(fn, *args)``, which is Twisted's
``blockingCallFromThread``: the thread waits, the reactor runs ``fn``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from twisted.internet.threads import blockingCallFromThread

from cti.records.core.events import Fact
from cti.routing import commands as c
from cti.routing import events as e
from cti.routing.agents import AgentView
from cti.routing.queues import ContactView, QueueStats
from cti.service.service import CtiService

T = TypeVar("T")
ChangeKind = Literal["agent", "contact", "queue"]


@dataclass(frozen=True)
class Snapshot:
    seq: int
    agents: tuple[AgentView, ...]
    queues: tuple[QueueStats, ...]
    contacts: tuple[ContactView, ...]


@dataclass(frozen=True)
class Change:
    """One thing that changed: ``view`` is its new state (None: a contact that is gone)."""

    seq: int
    kind: ChangeKind
    key: str  # agent id, contact id or queue name
    view: AgentView | ContactView | QueueStats | None


Listener = Callable[[Change], None]


class Gateway:
    def __init__(self, service: CtiService, reactor: Any) -> None:
        self._service = service
        self._reactor = reactor
        self._listeners: list[Listener] = []
        self.seq = 0
        service.listeners.append(self._applied)

    # ------------------------------------------------------------------ reads

    def snapshot(self) -> Snapshot:
        svc = self._service
        return Snapshot(self.seq, tuple(svc.agents()), tuple(svc.queues()),
                        tuple(svc.contacts()))

    def agent(self, agent_id: str) -> AgentView:
        return self._service.agent(agent_id)

    def agents(self) -> list[AgentView]:
        return self._service.agents()

    def queues(self) -> list[QueueStats]:
        return self._service.queues()

    def contact(self, contact_id: str) -> ContactView | None:
        return self._service.contact(contact_id)

    def last_contact(self, agent_id: str) -> str | None:
        return self._service.last_contact(agent_id)

    def seconds(self) -> float:
        """The reactor's clock (for timers that outside parts arm, e.g. a debounced save)."""
        return float(self._reactor.seconds())

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> Any:
        return self._reactor.callLater(delay_s, fn)

    # ------------------------------------------------------------------ commands

    def command(self, event: e.Event) -> list[c.Command]:
        return self._service.apply(event)

    def record(self, interaction_id: str, fact: Fact | Callable[[], Fact]) -> None:
        self._service.record(interaction_id, fact)

    # ------------------------------------------------------------------ the change stream

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Get every later change; returns the function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _applied(self, event: e.Event, commands: list[c.Command]) -> None:
        if not self._listeners:
            return
        agents, contacts = touched(event, commands)
        if not agents and not contacts:
            return
        svc = self._service
        changes: list[tuple[ChangeKind, str, Any]] = []
        changes += [("agent", a, svc.agent(a)) for a in agents]
        queues: dict[str, None] = {}
        for cid in contacts:
            view = svc.contact(cid)
            changes.append(("contact", cid, view))
            if view is not None:
                queues[view.queue] = None
        if queues:
            changes += [("queue", q.name, q) for q in svc.queues() if q.name in queues]
        for kind, key, view in changes:
            self.seq += 1
            change = Change(self.seq, kind, key, view)
            for listener in list(self._listeners):
                listener(change)

    # ------------------------------------------------------------------ other threads

    def from_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the reactor thread and wait for its result (WSGI threads)."""
        result: T = blockingCallFromThread(self._reactor, fn, *args)
        return result


def touched(event: e.Event, commands: list[c.Command]) -> tuple[list[str], list[str]]:
    """The agents and contacts an event and its commands are about, in first-seen order."""
    agents: dict[str, None] = {}
    contacts: dict[str, None] = {}
    for item in (event, *commands):
        agent = getattr(item, "agent_id", None)
        contact = getattr(item, "contact_id", None)
        if isinstance(agent, str) and agent:
            agents[agent] = None
        if isinstance(contact, str) and contact:
            contacts[contact] = None
    return list(agents), list(contacts)
