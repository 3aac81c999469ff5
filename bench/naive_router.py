"""Naive baseline router (Asterisk app_queue's approach): rescan every queue and member.

Same interface and rules as ``cti.routing.Engine`` for the events the benchmark drives
(no overflow rules, announcements or estimates, which only makes it cheaper). It keeps
queue members as static lists, callers in priority order, and after *every* event walks
every queue, every member and the waiting callers to find offers. Timers are found by
scanning every contact and agent.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping

from cti.routing.agents import Agent, AgentView
from cti.routing.commands import (
    AgentStateChanged,
    CancelOffer,
    Command,
    Connect,
    Offer,
    Rejected,
)
from cti.routing.config import SHARED_MEDIA, QueueConfig
from cti.routing.events import (
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


class _Caller:
    __slots__ = ("agent", "cid", "connected_at", "deadline", "key", "media", "queue",
                 "required", "shared", "state")

    def __init__(self, cid: str, media: str, queue: str, key: tuple[int, float, int],
                 required: frozenset[tuple[str, int]]) -> None:
        self.cid, self.media, self.queue, self.key = cid, media, queue, key
        self.required = required
        self.shared = media in SHARED_MEDIA
        self.state = "waiting"
        self.agent: str | None = None
        self.deadline = 0.0
        self.connected_at = 0.0


class NaiveRouter:
    def __init__(self, queues: Mapping[str, QueueConfig]) -> None:
        self._configs = dict(queues)
        self._members: dict[str, list[Agent]] = {q: [] for q in queues}
        self._waiting: dict[str, list[tuple[tuple[int, float, int], str]]] = {
            q: [] for q in queues}
        self._callers: dict[str, _Caller] = {}
        self._agents: dict[str, Agent] = {}
        self._seq = 0
        self._out: list[Command] = []

    def handle(self, event: Event, now: float) -> list[Command]:
        self._out = []
        before = {a.agent_id: (a.state(), a.reason) for a in self._agents.values()}
        self._apply(event, now)
        self._rescan(now)
        for agent in self._agents.values():
            after = (agent.state(), agent.reason)
            if before.get(agent.agent_id) != after:
                self._out.append(AgentStateChanged(agent.agent_id, *after))
        return self._out

    def _apply(self, event: Event, now: float) -> None:
        if isinstance(event, ContactArrived):
            config = self._configs[event.queue]
            required = dict(config.skills)
            for name, level in event.skills.items():
                required[name] = max(level, required.get(name, 0))
            self._seq += 1
            caller = _Caller(event.contact_id, event.media, event.queue,
                             (-event.priority, now, self._seq), frozenset(required.items()))
            self._callers[caller.cid] = caller
            bisect.insort(self._waiting[caller.queue], (caller.key, caller.cid))
        elif isinstance(event, AgentLoggedIn):
            self._seq += 1
            agent = Agent(event.agent_id, event.config, self._seq, now)
            agent.logged_in = True
            agent.reason = None if event.ready else "login"
            self._agents[agent.agent_id] = agent
            for name, config in self._configs.items():
                if agent.eligible(frozenset(config.skills.items()), False):
                    self._members[name].append(agent)
        elif isinstance(event, AgentReady | AgentNotReady | AgentLoggedOut | WrapUpEnded):
            self._agent_event(event, now)
        elif isinstance(event, OfferAccepted | OfferRejected | OfferTimedOut):
            self._answer(event, now)
        elif isinstance(event, ContactAbandoned | ContactEnded):
            self._end(event.contact_id, now)
        elif isinstance(event, Tick):
            self._tick(now)

    def _agent_event(self, event: AgentReady | AgentNotReady | AgentLoggedOut | WrapUpEnded,
                     now: float) -> None:
        agent = self._agents[event.agent_id]
        if isinstance(event, AgentReady) and agent.reason is not None:
            agent.reason = None
            agent.idle_since = now
        elif isinstance(event, AgentNotReady):
            agent.reason = event.reason
        elif isinstance(event, WrapUpEnded):
            for cid, (_, shared) in list(agent.wrap.items()):
                del agent.wrap[cid]
                agent.release(shared)
                agent.idle_since = now
        elif isinstance(event, AgentLoggedOut):
            agent.logged_in = False

    def _answer(self, event: OfferAccepted | OfferRejected | OfferTimedOut,
                now: float) -> None:
        caller = self._callers.get(event.contact_id)
        if caller is None or caller.state != "offered" or caller.agent != event.agent_id:
            self._out.append(Rejected(type(event).__name__, "not_offered", event.contact_id,
                                      event.agent_id))
            return
        agent = self._agents[event.agent_id]
        agent.offer = None
        if isinstance(event, OfferAccepted):
            caller.state = "connected"
            caller.connected_at = now
            agent.connected[caller.cid] = caller.shared
            self._out.append(Connect(caller.cid, agent.agent_id))
        else:
            self._requeue(caller, agent, "missed" if isinstance(event, OfferTimedOut)
                          else "rejected")

    def _requeue(self, caller: _Caller, agent: Agent, reason: str) -> None:
        agent.release(caller.shared)
        agent.reason = reason
        caller.state, caller.agent = "waiting", None
        bisect.insort(self._waiting[caller.queue], (caller.key, caller.cid))

    def _end(self, cid: str, now: float) -> None:
        caller = self._callers.pop(cid, None)
        if caller is None:
            self._out.append(Rejected("ContactEnded", "unknown_contact", cid))
            return
        if caller.state == "waiting":
            self._waiting[caller.queue].remove((caller.key, cid))
            return
        agent = self._agents[caller.agent or ""]
        if caller.state == "offered":
            agent.offer = None
            agent.release(caller.shared)
            self._out.append(CancelOffer(cid, agent.agent_id, "abandoned"))
            return
        del agent.connected[cid]
        wrap = self._configs[caller.queue].wrap_up_s
        agent.wrap[cid] = (now + wrap, caller.shared)

    def _tick(self, now: float) -> None:
        for caller in list(self._callers.values()):
            if caller.state == "offered" and caller.deadline <= now:
                agent = self._agents[caller.agent or ""]
                agent.offer = None
                self._out.append(CancelOffer(caller.cid, agent.agent_id, "ring_no_answer"))
                self._requeue(caller, agent, "missed")
        for agent in self._agents.values():
            for cid, (at, shared) in list(agent.wrap.items()):
                if at <= now:
                    del agent.wrap[cid]
                    agent.release(shared)
                    agent.idle_since = now

    def next_timer(self) -> float | None:
        times = [c.deadline for c in self._callers.values() if c.state == "offered"]
        times += [at for a in self._agents.values() for at, _ in a.wrap.values()]
        return min(times, default=None)

    # -- the rescan: every queue, every member, every waiting caller ---------------------------

    def _rescan(self, now: float) -> None:
        while True:
            best: tuple[tuple[int, float, int], _Caller, Agent] | None = None
            for queue, members in self._members.items():
                free = [m for m in members if m.can_take(False) or m.can_take(True)]
                if not free:
                    continue
                for key, cid in self._waiting[queue]:
                    if best is not None and key >= best[0]:
                        break
                    caller = self._callers[cid]
                    able = [m for m in free if m.can_take(caller.shared)
                            and m.eligible(caller.required, caller.shared)]
                    if able:
                        strategy = self._configs[queue].strategy
                        required = caller.required
                        agent = min(able, key=lambda m: m.strategy_key(strategy, required))
                        best = (key, caller, agent)
                        break
            if best is None:
                return
            self._offer(best[1], best[2], now)

    def _offer(self, caller: _Caller, agent: Agent, now: float) -> None:
        self._waiting[caller.queue].remove((caller.key, caller.cid))
        config = self._configs[caller.queue]
        caller.state, caller.agent = "offered", agent.agent_id
        caller.deadline = now + config.ring_timeout_s
        agent.offer = caller.cid
        agent.hold(caller.shared)
        self._seq += 1
        agent.last_offer = self._seq
        self._out.append(Offer(caller.cid, agent.agent_id, config.ring_timeout_s,
                               caller.media, caller.queue))  # type: ignore[arg-type]

    def agents(self) -> list[AgentView]:
        return [a.view() for a in self._agents.values()]

    def agent_state(self, agent_id: str) -> AgentView:
        return self._agents[agent_id].view()

    def waiting(self) -> int:
        return sum(len(w) for w in self._waiting.values())
