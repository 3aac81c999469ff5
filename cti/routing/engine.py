"""The routing engine: events in, commands out, time as a parameter. No I/O.

``Engine(queues).handle(event, now) -> list[Command]``; read-only views ``agent_state``,
``agents``, ``queue_stats``, ``contact``; ``next_timer()`` tells the caller when to send
``Tick()``. Impossible or late events (unknown ids, an abandon after connect, an answer to
an offer that was already cancelled) change nothing and return ``[Rejected(...)]``.
See ``events.py`` and ``commands.py`` for the vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import commands as c
from .agents import Agent, AgentView
from .commands import AgentStateChanged, Command, Connect, Rejected
from .config import MAX_PRIORITY, MEDIA
from .estimates import estimated_wait
from .events import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentReady,
    ContactAbandoned,
    ContactArrived,
    ContactEnded,
    Event,
    OfferAccepted,
    OfferRejected,
    OfferTimedOut,
    Tick,
    WrapUpEnded,
)
from .queues import CONNECTED, OFFERED, WAITING, Contact, ContactView, QueueStats
from .router import Router, required_skills
from .timers import ANNOUNCE, RING, RULE, WRAP, Timer

MISSED = "missed"
REJECTED = "rejected"


class Engine(Router):
    def handle(self, event: Event, now: float) -> list[Command]:
        self._out = []
        self._dirty = {}
        handler: Callable[[Any, float], None] = getattr(self, _HANDLERS[type(event)])
        handler(event, now)
        for agent_id, before in self._dirty.items():
            agent = self._agents[agent_id]
            after = (agent.state(), agent.reason)
            if after != before:
                self._out.append(AgentStateChanged(agent_id, *after))
        return self._out

    def _reject(self, event: Event, reason: str, contact_id: str | None = None,
                agent_id: str | None = None) -> None:
        self._out.append(Rejected(type(event).__name__, reason, contact_id, agent_id))

    # -- contacts ---------------------------------------------------------------------------

    def _on_arrived(self, event: ContactArrived, now: float) -> None:
        cid = event.contact_id
        if cid in self._contacts:
            return self._reject(event, c.DUPLICATE_CONTACT, cid)
        queue = self._queues.get(event.queue)
        if queue is None:
            return self._reject(event, c.UNKNOWN_QUEUE, cid)
        if event.media not in MEDIA or not 0 <= event.priority <= MAX_PRIORITY:
            return self._reject(event, c.BAD_CONTACT, cid)
        self._ended.pop(cid, None)
        contact = self._new_contact(cid, event.media, event.priority, event.skills, now)
        if event.enqueued_at is not None:  # keeps its place: never ahead of "now"
            contact.enqueued_at = min(float(event.enqueued_at), now)
        contact.attributes = dict(event.attributes)
        contact.customer = event.customer
        contact.queue = event.queue
        contact.required = required_skills(queue.config, event.skills)
        self._place(contact, now, new=True)
        if contact.state in (WAITING, OFFERED):
            self._schedule_rule(contact, now)
            self._schedule_announce(contact, now)
        return None

    def _on_abandoned(self, event: ContactAbandoned | ContactEnded, now: float) -> None:
        contact = self._contacts.get(event.contact_id)
        if contact is None:
            return self._reject(event, c.UNKNOWN_CONTACT, event.contact_id)
        if contact.state == CONNECTED:
            return self._reject(event, c.ALREADY_CONNECTED, contact.contact_id, contact.agent)
        agent = self._cancel_offer(contact, "abandoned", now) if contact.state == OFFERED \
            else None
        self._end(contact)
        if agent is not None:
            self._changed(agent, now)
        return None

    def _on_ended(self, event: ContactEnded, now: float) -> None:
        contact = self._contacts.get(event.contact_id)
        if contact is None or contact.state != CONNECTED:
            return self._on_abandoned(event, now)
        agent = self._agents[contact.agent or ""]
        self._touch(agent)
        del agent.connected[contact.contact_id]
        queue = self._queues[contact.queue]
        wrap_s = queue.config.wrap_up_s
        queue.handle_time[contact.shared].add(now - contact.connected_at + wrap_s)
        if wrap_s > 0:
            agent.wrap[contact.contact_id] = (now + wrap_s, contact.shared)
            self._timers.add(now + wrap_s, WRAP, agent.agent_id, contact.contact_id)
        else:
            self._release(agent, contact.contact_id, contact.shared, now)
        self._end(contact)
        self._changed(agent, now)
        return None

    # -- offers -----------------------------------------------------------------------------

    def _offered(self, event: OfferAccepted | OfferRejected | OfferTimedOut) -> Contact | None:
        contact = self._contacts.get(event.contact_id)
        if contact is None:
            self._reject(event, c.UNKNOWN_CONTACT, event.contact_id, event.agent_id)
        elif contact.state != OFFERED or contact.agent != event.agent_id:
            self._reject(event, c.NOT_OFFERED, event.contact_id, event.agent_id)
        else:
            return contact
        return None

    def _on_accepted(self, event: OfferAccepted, now: float) -> None:
        contact = self._offered(event)
        if contact is None:
            return
        agent = self._agents[event.agent_id]
        self._touch(agent)
        agent.offer = None
        agent.connected[contact.contact_id] = contact.shared
        contact.state = CONNECTED
        contact.connected_at = now
        self._out.append(Connect(contact.contact_id, agent.agent_id))
        self._changed(agent, now)

    def _on_rejected(self, event: OfferRejected, now: float) -> None:
        contact = self._offered(event)
        if contact is not None:
            self._no_answer(contact, REJECTED, now, cancel=False)

    def _on_timed_out(self, event: OfferTimedOut, now: float) -> None:
        contact = self._offered(event)
        if contact is not None:
            self._no_answer(contact, MISSED, now, cancel=False)

    def _no_answer(self, contact: Contact, reason: str, now: float, cancel: bool) -> None:
        """Ring-no-answer or decline: agent not ready, contact back at its original place."""
        agent = self._agents[contact.agent or ""]
        self._release(agent, contact.contact_id, contact.shared, now)
        if cancel:
            self._out.append(c.CancelOffer(contact.contact_id, agent.agent_id, "ring_no_answer"))
        self._set_reason(agent, reason, now)
        self._place(contact, now, new=False)

    # -- agents -----------------------------------------------------------------------------

    def _agent(self, event: AgentLoggedOut | AgentReady | AgentNotReady | WrapUpEnded
               ) -> Agent | None:
        agent = self._agents.get(event.agent_id)
        if agent is None:
            self._reject(event, c.UNKNOWN_AGENT, agent_id=event.agent_id)
        elif not agent.logged_in and not isinstance(event, WrapUpEnded):
            self._reject(event, c.LOGGED_OUT, agent_id=event.agent_id)
        else:
            return agent
        return None

    def _on_logged_in(self, event: AgentLoggedIn, now: float) -> None:
        agent = self._agents.get(event.agent_id)
        if agent is not None and agent.logged_in:
            return self._reject(event, c.ALREADY_LOGGED_IN, agent_id=event.agent_id)
        if agent is None:
            self._seq += 1
            agent = Agent(event.agent_id, event.config, self._seq, now)
            self._agents[event.agent_id] = agent
        self._touch(agent)
        agent.configure(event.config)
        agent.logged_in = True
        agent.reason = None if event.ready else "login"
        agent.idle_since = now
        agent.version += 1
        for group in self._groups.values():
            if agent.eligible(group.required, group.shared):
                self._attach(agent, group)
        self._changed(agent, now)
        return None

    def _on_logged_out(self, event: AgentLoggedOut, now: float) -> None:
        agent = self._agent(event)
        if agent is None:
            return
        self._touch(agent)
        offered = self._contacts[agent.offer] if agent.offer is not None else None
        if offered is not None:
            self._cancel_offer(offered, "agent_logged_out", now)
        emptied = []
        for group in agent.groups:
            group.logged_in -= 1
            if agent.staffed:
                group.staffed -= group.weight(agent)
            if group.logged_in == 0:
                emptied.append(group)
        agent.groups = []
        agent.logged_in = False
        agent.reason = None
        agent.version += 1
        for group in emptied:
            rules = len(self._queues[group.queue].config.overflow)
            for waiting in group.waiting(self._contacts):
                if waiting.rule_index >= rules:
                    self._exit(waiting, self._queues[group.queue].config.no_agents_exit,
                               "no_agents")
        if offered is not None:
            self._place(offered, now, new=False)

    def _on_ready(self, event: AgentReady, now: float) -> None:
        agent = self._agent(event)
        if agent is not None and agent.reason is not None:
            self._set_reason(agent, None, now)
            self._changed(agent, now)

    def _on_not_ready(self, event: AgentNotReady, now: float) -> None:
        agent = self._agent(event)
        if agent is not None:
            self._set_reason(agent, event.reason, now)

    def _on_wrap_up_ended(self, event: WrapUpEnded, now: float) -> None:
        agent = self._agent(event)
        if agent is None:
            return
        if not agent.wrap or (event.contact_id and event.contact_id not in agent.wrap):
            return self._reject(event, c.NO_WRAP_UP, event.contact_id or None, agent.agent_id)
        self._touch(agent)
        ending = [event.contact_id] if event.contact_id else list(agent.wrap)
        for contact_id in ending:
            shared = agent.wrap.pop(contact_id)[1]
            self._release(agent, contact_id, shared, now)
        self._changed(agent, now)
        return None

    # -- timers -----------------------------------------------------------------------------

    def _on_tick(self, event: Tick, now: float) -> None:
        timers = self._timers
        while (head := timers.peek()) is not None and head[0] <= now:
            timers.pop()
            if self._timer_live(head):
                self._fire(head, now)

    def _fire(self, timer: Timer, now: float) -> None:
        _, _, kind, key, contact_id, _ = timer
        if kind == WRAP:
            agent = self._agents[key]
            self._touch(agent)
            shared = agent.wrap.pop(contact_id)[1]
            self._release(agent, contact_id, shared, now)
            self._changed(agent, now)
            return
        contact = self._contacts[contact_id]
        if kind == RING:
            self._no_answer(contact, MISSED, now, cancel=True)
        elif contact.state == OFFERED:  # decide once the offer is settled
            self._timers.add(contact.offer_deadline, kind, key, contact_id, contact.rule_token)
        elif kind == RULE:
            self._apply_rule(contact, now)
        elif kind == ANNOUNCE:
            self._announce(contact, self._queues[contact.queue].position(contact))
            self._schedule_announce(contact, now)

    def next_timer(self) -> float | None:
        """When the caller should next send ``Tick()`` (None: nothing pending)."""
        timers = self._timers
        while (head := timers.peek()) is not None and not self._timer_live(head):
            timers.pop()
        return head[0] if head is not None else None

    # -- views ------------------------------------------------------------------------------

    def agent_state(self, agent_id: str) -> AgentView:
        """The agent's view; an agent never seen is reported logged out."""
        agent = self._agents.get(agent_id)
        if agent is None:
            return AgentView(agent_id, "logged_out", None, False, None, (), (), 0, 0, 0, 0.0)
        return agent.view()

    def agents(self) -> list[AgentView]:
        return [self._agents[a].view() for a in sorted(self._agents)]

    def contact(self, contact_id: str) -> ContactView | None:
        contact = self._contacts.get(contact_id)
        if contact is None:
            return self._ended.get(contact_id)
        position = None
        if contact.state == WAITING:
            position = self._queues[contact.queue].position(contact)
        return contact.view(position)

    def queue_stats(self, now: float) -> list[QueueStats]:
        stats = []
        for name, queue in self._queues.items():
            base = self._group(name, required_skills(queue.config, {}), False)
            waiting = len(queue.waiting)
            longest = max((now - w.enqueued_at for w in queue.waiting.values()), default=0.0)
            ewt = estimated_wait(waiting + 1, queue.handle_time[False].value, base.staffed)
            stats.append(QueueStats(name, waiting, longest, base.logged_in, base.staffed, ewt))
        return stats


_HANDLERS: dict[type, str] = {
    ContactArrived: "_on_arrived", ContactAbandoned: "_on_abandoned",
    ContactEnded: "_on_ended", AgentLoggedIn: "_on_logged_in",
    AgentLoggedOut: "_on_logged_out", AgentReady: "_on_ready", AgentNotReady: "_on_not_ready",
    OfferAccepted: "_on_accepted", OfferRejected: "_on_rejected",
    OfferTimedOut: "_on_timed_out", WrapUpEnded: "_on_wrap_up_ended", Tick: "_on_tick",
}
