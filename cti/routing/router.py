"""The routing core: state, indexes and the primitive moves every event handler uses.

Invariant kept after every event: no waiting contact can be offered to an available agent
(a free agent with capacity for its media and the skills it needs). So an event only has to
look at what it changed: a contact that starts waiting looks for the best agent in its
group's agent heap; an agent that frees capacity looks at the head contact of each group it
is eligible for. Nothing scans the whole pool or every queue.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from .agents import Agent
from .commands import Announce, CancelOffer, Command, ExitContact, Offer, Overflow
from .config import SHARED_MEDIA, WAITS_UNTIL_SERVED, QueueConfig, validate_queues
from .estimates import estimated_wait
from .queues import ENDED, OFFERED, WAITING, Contact, ContactView, Group, QueueState, Required
from .timers import ANNOUNCE, RING, RULE, WRAP, Timer, Timers

ENDED_KEPT = 10_000  # ended contacts still answerable by contact()


def required_skills(queue: QueueConfig, extra: Mapping[str, int]) -> dict[str, int]:
    required = {name: level for name, level in queue.skills.items() if level > 0}
    for name, level in extra.items():
        if level > 0:
            required[name] = max(level, required.get(name, 0))
    return required


class Router:
    def __init__(self, queues: Mapping[str, QueueConfig]) -> None:
        validate_queues(queues)
        self._queues = {name: QueueState(config) for name, config in queues.items()}
        self._contacts: dict[str, Contact] = {}
        self._ended: OrderedDict[str, ContactView] = OrderedDict()
        self._agents: dict[str, Agent] = {}
        self._groups: dict[tuple[str, Required, bool], Group] = {}
        self._timers = Timers()
        self._out: list[Command] = []
        self._dirty: dict[str, tuple[str, str | None]] = {}
        self._seq = 0
        for name, config in queues.items():
            for shared in (False, True):
                self._group(name, required_skills(config, {}), shared)

    # -- indexes ------------------------------------------------------------------------

    def _group(self, queue: str, required: Mapping[str, int], shared: bool) -> Group:
        key = (queue, frozenset(required.items()), shared)
        group = self._groups.get(key)
        if group is None:
            group = Group(queue, key[1], shared, self._queues[queue].config.strategy)
            self._groups[key] = group
            for agent in self._agents.values():
                if agent.logged_in and agent.eligible(group.required, shared):
                    self._attach(agent, group)
        return group

    def _attach(self, agent: Agent, group: Group) -> None:
        agent.groups.append(group)
        group.logged_in += 1
        if agent.staffed:
            group.staffed += group.weight(agent)
        if agent.can_take(group.shared):
            group.push_agent(agent, self._agents)

    def _publish(self, agent: Agent) -> None:
        """Push the agent into the agent heap of every group it can serve right now."""
        for group in agent.groups:
            if agent.can_take(group.shared):
                group.push_agent(agent, self._agents)

    # -- agents ---------------------------------------------------------------------------

    def _touch(self, agent: Agent) -> None:
        if agent.agent_id not in self._dirty:
            self._dirty[agent.agent_id] = (agent.state(), agent.reason)

    def _set_reason(self, agent: Agent, reason: str | None, now: float) -> None:
        self._touch(agent)
        was = agent.staffed
        if reason is None and agent.reason is not None:
            agent.idle_since = now
        agent.reason = reason
        if agent.staffed != was:
            sign = 1 if agent.staffed else -1
            for group in agent.groups:
                group.staffed += sign * group.weight(agent)
        agent.version += 1

    def _changed(self, agent: Agent, now: float) -> None:
        """The agent's capacity or availability changed: find it work, or advertise it."""
        agent.version += 1
        if not (agent.can_take(False) or agent.can_take(True)):
            return
        if not self._match_agent(agent, now):
            self._publish(agent)

    def _match_agent(self, agent: Agent, now: float) -> bool:
        best: Contact | None = None
        contacts = self._contacts
        for group in agent.groups:
            if not agent.can_take(group.shared):
                continue
            head = group.head_contact(contacts)
            if head is not None and (best is None or head.order() < best.order()):
                best = head
        if best is None:
            return False
        self._offer(best, agent, now)
        return True

    def _release(self, agent: Agent, contact_id: str, shared: bool, now: float) -> None:
        self._touch(agent)
        agent.release(shared)
        if agent.offer == contact_id:
            agent.offer = None
        else:
            agent.idle_since = now

    # -- contacts -------------------------------------------------------------------------

    def _offer(self, contact: Contact, agent: Agent, now: float) -> None:
        self._touch(agent)
        queue = self._queues[contact.queue]
        queue.remove(contact)
        contact.state = OFFERED
        contact.agent = agent.agent_id
        contact.version += 1
        contact.offer_deadline = now + queue.config.ring_timeout_s
        agent.offer = contact.contact_id
        agent.hold(contact.shared)
        self._seq += 1
        agent.last_offer = self._seq
        agent.version += 1
        self._timers.add(contact.offer_deadline, RING, agent.agent_id, contact.contact_id,
                         contact.version)
        self._out.append(Offer(contact.contact_id, agent.agent_id, queue.config.ring_timeout_s,
                               contact.media, contact.queue))  # type: ignore[arg-type]

    def _new_contact(self, contact_id: str, media: str, priority: int,
                     skills: Mapping[str, int], now: float) -> Contact:
        self._seq += 1
        contact = Contact(contact_id, media, media in SHARED_MEDIA, priority, dict(skills),
                          now, self._seq)
        self._contacts[contact_id] = contact
        return contact

    def _place(self, contact: Contact, now: float, new: bool) -> None:
        """Put a contact (new, re-queued or moved) in its queue: offer it, or let it wait."""
        queue = self._queues[contact.queue]
        group = self._group(contact.queue, contact.required, contact.shared)
        contact.group = group
        contact.state = WAITING
        contact.agent = None
        agent = group.best_agent(self._agents)
        if agent is not None:
            self._offer(contact, agent, now)
            return
        config = queue.config
        keeps = contact.media in WAITS_UNTIL_SERVED  # a callback never leaves by an exit
        if not keeps and group.logged_in == 0 and not _may_find_agents(config,
                                                                       contact.rule_index):
            self._exit(contact, config.no_agents_exit, "no_agents")
            return
        if new and not keeps and config.max_waiting is not None and \
                len(queue.waiting) >= config.max_waiting:
            self._exit(contact, config.over_limit_exit, "over_limit")
            return
        if new:
            self._announce(contact, queue.ahead_of_newcomer(contact.priority) + 1)
        queue.add(contact)
        group.push_contact(contact)

    def _announce(self, contact: Contact, position: int) -> None:
        queue = self._queues[contact.queue]
        group = contact.group
        staffed = group.staffed if group is not None else 0
        ewt = estimated_wait(position, queue.handle_time[contact.shared].value, staffed)
        self._out.append(Announce(contact.contact_id, position, ewt))

    def _end(self, contact: Contact) -> None:
        self._queues[contact.queue].remove(contact)
        contact.state = ENDED
        contact.group = None
        del self._contacts[contact.contact_id]
        self._ended[contact.contact_id] = contact.view(None)
        if len(self._ended) > ENDED_KEPT:
            self._ended.popitem(last=False)

    def _exit(self, contact: Contact, exit_kind: str, reason: str) -> None:
        self._end(contact)
        self._out.append(ExitContact(contact.contact_id, exit_kind, reason))  # type: ignore[arg-type]

    def _cancel_offer(self, contact: Contact, reason: str, now: float) -> Agent:
        agent = self._agents[contact.agent or ""]
        self._release(agent, contact.contact_id, contact.shared, now)
        agent.version += 1
        self._out.append(CancelOffer(contact.contact_id, agent.agent_id, reason))
        return agent

    # -- overflow rules and timers ----------------------------------------------------------

    def _schedule_rule(self, contact: Contact, now: float) -> None:
        config = self._queues[contact.queue].config
        rules = config.overflow
        while contact.media in WAITS_UNTIL_SERVED and contact.rule_index < len(rules) and \
                rules[contact.rule_index].exit is not None:
            contact.rule_index += 1  # a maximum wait is for callers on the line
        if contact.rule_index < len(config.overflow):
            at = max(now, contact.entered_at + config.overflow[contact.rule_index].after_s)
            self._timers.add(at, RULE, contact.queue, contact.contact_id, contact.rule_token)

    def _schedule_announce(self, contact: Contact, now: float) -> None:
        config = self._queues[contact.queue].config
        if config.announce_every_s and contact.state in (WAITING, OFFERED):
            self._timers.add(now + config.announce_every_s, ANNOUNCE, contact.queue,
                             contact.contact_id, contact.rule_token)

    def _apply_rule(self, contact: Contact, now: float) -> None:
        queue = self._queues[contact.queue]
        rule = queue.config.overflow[contact.rule_index]
        contact.rule_index += 1
        queue.remove(contact)
        if rule.exit is not None:
            self._exit(contact, rule.exit, "max_wait")
            return
        from_queue = contact.queue
        if rule.to_queue is not None:
            contact.queue = rule.to_queue
            contact.entered_at = now
            contact.rule_index = 0
            contact.rule_token += 1
            contact.required = required_skills(self._queues[rule.to_queue].config,
                                               contact.skills)
        else:
            for name, level in (rule.widen_skills or {}).items():
                if name in contact.required:
                    if level <= 0:
                        del contact.required[name]
                    else:
                        contact.required[name] = min(level, contact.required[name])
        self._out.append(Overflow(contact.contact_id, from_queue, contact.queue,
                                  dict(contact.required)))
        self._place(contact, now, new=False)
        if contact.state != ENDED:
            self._schedule_rule(contact, now)
            if rule.to_queue is not None:
                self._schedule_announce(contact, now)

    def _timer_live(self, timer: Timer) -> bool:
        at, _, kind, key, contact_id, token = timer
        if kind == WRAP:
            agent = self._agents.get(key)
            return agent is not None and agent.wrap.get(contact_id, (None,))[0] == at
        contact = self._contacts.get(contact_id)
        if contact is None:
            return False
        if kind == RING:
            return contact.state == OFFERED and contact.version == token
        return contact.rule_token == token and contact.state in (WAITING, OFFERED)


def _may_find_agents(config: QueueConfig, rule_index: int) -> bool:
    """Could a rule still to come bring agents (widen the skills, move the contact)? A
    pending max-wait exit cannot: with nobody logged in the caller takes the exit now."""
    return any(rule.exit is None for rule in config.overflow[rule_index:])
