"""Contacts, queues and the contact groups that index them.

A *group* gathers the waiting contacts of one queue that need the same skills and the same
kind of capacity (exclusive: voice/callback; shared: chat/web). It keeps two lazy heaps:

- waiting contacts keyed by ``(-priority, enqueued_at, seq)`` (fair order: priority first,
  then the longest waiting, whatever the media);
- available eligible agents keyed by the queue's strategy.

Entries carry the version of their contact/agent at push time; an entry whose version is
stale is dropped when it reaches the top, so no decision scans the whole queue or pool.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import QueueConfig
from .estimates import HandleTime

if TYPE_CHECKING:
    from .agents import Agent

WAITING = "waiting"
OFFERED = "offered"
CONNECTED = "connected"
ENDED = "ended"

Required = frozenset[tuple[str, int]]
ContactEntry = tuple[int, float, int, int, str]
AgentEntry = tuple[tuple[float, float, int], int, str]


@dataclass(frozen=True)
class ContactView:
    contact_id: str
    queue: str
    media: str
    priority: int
    state: str  # waiting | offered | connected | ended
    position: int | None  # 1-based, among the waiting contacts of its queue
    agent: str | None
    required: tuple[tuple[str, int], ...]
    customer: str = ""  # as the channel named them (a caller's number, a chat's name)
    attributes: tuple[tuple[str, str], ...] = ()  # the flow's queue attributes
    enqueued_at: float = 0.0  # engine clock: first put in line (kept through re-queues)


@dataclass(frozen=True)
class QueueStats:
    name: str
    waiting: int
    longest_wait_s: float
    agents_logged_in: int
    agents_ready: int
    ewt_s: float | None


class Contact:
    __slots__ = ("agent", "attributes", "connected_at", "contact_id", "customer", "enqueued_at",
                 "entered_at",
                 "group", "media", "offer_deadline", "priority", "queue", "required",
                 "rule_index", "rule_token", "seq", "shared", "skills", "state", "version")

    def __init__(self, contact_id: str, media: str, shared: bool, priority: int,
                 skills: dict[str, int], now: float, seq: int) -> None:
        self.contact_id = contact_id
        self.media = media
        self.shared = shared
        self.priority = priority
        self.skills = skills
        self.attributes: dict[str, str] = {}
        self.customer = ""
        self.enqueued_at = now  # kept through re-queues and overflow moves
        self.entered_at = now  # entry into the current queue (overflow timers)
        self.seq = seq
        self.queue = ""
        self.required: dict[str, int] = {}
        self.group: Group | None = None
        self.state = WAITING
        self.agent: str | None = None
        self.version = 0
        self.rule_index = 0
        self.rule_token = 0
        self.offer_deadline = 0.0
        self.connected_at = 0.0

    def order(self) -> tuple[int, float, int]:
        return (-self.priority, self.enqueued_at, self.seq)

    def view(self, position: int | None) -> ContactView:
        return ContactView(self.contact_id, self.queue, self.media, self.priority, self.state,
                           position, self.agent, tuple(sorted(self.required.items())),
                           self.customer, tuple(sorted(self.attributes.items())),
                           self.enqueued_at)


class Group:
    __slots__ = ("agents", "contacts", "logged_in", "queue", "required", "shared", "staffed",
                 "strategy")

    def __init__(self, queue: str, required: Required, shared: bool, strategy: str) -> None:
        self.queue = queue
        self.required = required
        self.shared = shared
        self.strategy = strategy
        self.contacts: list[ContactEntry] = []
        self.agents: list[AgentEntry] = []
        self.logged_in = 0  # eligible agents logged in
        self.staffed = 0  # eligible capacity of logged-in, not "not ready" agents

    def weight(self, agent: Agent) -> int:
        return agent.max_chats if self.shared else 1

    def push_contact(self, contact: Contact) -> None:
        contact.version += 1
        heapq.heappush(self.contacts, (-contact.priority, contact.enqueued_at, contact.seq,
                                       contact.version, contact.contact_id))

    def head_contact(self, contacts: dict[str, Contact]) -> Contact | None:
        heap = self.contacts
        while heap:
            entry = heap[0]
            contact = contacts.get(entry[4])
            if (contact is not None and contact.version == entry[3]
                    and contact.state == WAITING and contact.group is self):
                return contact
            heapq.heappop(heap)
        return None

    def waiting(self, contacts: dict[str, Contact]) -> list[Contact]:
        found = (contacts.get(entry[4]) for entry in self.contacts)
        return [c for c in found if c is not None and c.state == WAITING and c.group is self]

    def push_agent(self, agent: Agent, agents: dict[str, Agent]) -> None:
        key = agent.strategy_key(self.strategy, self.required)
        heapq.heappush(self.agents, (key, agent.version, agent.agent_id))
        if len(self.agents) > 2 * self.logged_in + 64:
            self.agents = [e for e in self.agents
                           if (a := agents.get(e[2])) is not None and a.version == e[1]]
            heapq.heapify(self.agents)

    def best_agent(self, agents: dict[str, Agent]) -> Agent | None:
        heap = self.agents
        while heap:
            entry = heap[0]
            agent = agents.get(entry[2])
            if agent is not None and agent.version == entry[1] and agent.can_take(self.shared):
                return agent
            heapq.heappop(heap)
        return None


class QueueState:
    __slots__ = ("config", "handle_time", "priority_counts", "waiting")

    def __init__(self, config: QueueConfig) -> None:
        self.config = config
        self.waiting: dict[str, Contact] = {}
        self.priority_counts = [0] * 11
        self.handle_time = {False: HandleTime(config.default_handle_s),
                            True: HandleTime(config.default_handle_s)}

    def add(self, contact: Contact) -> None:
        self.waiting[contact.contact_id] = contact
        self.priority_counts[contact.priority] += 1

    def remove(self, contact: Contact) -> None:
        if self.waiting.pop(contact.contact_id, None) is not None:
            self.priority_counts[contact.priority] -= 1

    def position(self, contact: Contact) -> int:
        order = contact.order()
        return 1 + sum(1 for other in self.waiting.values() if other.order() < order)

    def ahead_of_newcomer(self, priority: int) -> int:
        return sum(self.priority_counts[priority:])
