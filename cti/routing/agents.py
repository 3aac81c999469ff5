"""Agent state and capacity budget.

An agent *holds* contacts: the one offered to it (at most one at a time), the connected
ones and the ones in wrap-up. Each held contact costs capacity: an exclusive one (voice,
callback) takes the whole agent, a shared one (chat, web) one of ``max_chats`` slots.
Mixing both is allowed only with ``chat_while_voice``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import AgentConfig

if TYPE_CHECKING:
    from .queues import Group

LOGGED_OUT = "logged_out"
READY = "ready"
NOT_READY = "not_ready"
OFFERED = "offered"
BUSY = "busy"
WRAP_UP = "wrap_up"


@dataclass(frozen=True)
class AgentView:
    agent_id: str
    state: str  # logged_out | ready | not_ready | offered | busy | wrap_up
    reason: str | None  # not-ready reason code, if any
    available: bool  # could take one more contact of some media now
    offered: str | None
    connected: tuple[str, ...]
    wrap_up: tuple[str, ...]
    voice_load: int
    chat_load: int
    max_chats: int
    idle_since: float


class Agent:
    """Mutable agent record, owned by the engine."""

    __slots__ = ("agent_id", "chat_while_voice", "connected", "exclusive", "groups",
                 "idle_since", "last_offer", "logged_in", "max_chats", "offer", "order",
                 "reason", "shared", "skills", "version", "wrap")

    def __init__(self, agent_id: str, config: AgentConfig, order: int, now: float) -> None:
        self.agent_id = agent_id
        self.order = order
        self.logged_in = False
        self.reason: str | None = None
        self.offer: str | None = None
        self.connected: dict[str, bool] = {}  # contact id -> shared
        self.wrap: dict[str, tuple[float, bool]] = {}  # contact id -> (deadline, shared)
        self.exclusive = 0
        self.shared = 0
        self.idle_since = now
        self.last_offer = 0
        self.version = 0
        self.groups: list[Group] = []
        self.configure(config)

    def configure(self, config: AgentConfig) -> None:
        self.skills = dict(config.skills)
        self.max_chats = config.max_chats
        self.chat_while_voice = config.chat_while_voice

    @property
    def staffed(self) -> bool:
        return self.logged_in and self.reason is None

    def can_take(self, shared: bool) -> bool:
        if not self.logged_in or self.reason is not None or self.offer is not None:
            return False
        return self.fits(shared)

    def fits(self, shared: bool) -> bool:
        """Capacity alone: would one more contact of this kind stay within the budget?"""
        if shared:
            return self.shared < self.max_chats and (not self.exclusive or self.chat_while_voice)
        return not self.exclusive and (not self.shared or self.chat_while_voice)

    def hold(self, shared: bool) -> None:
        if shared:
            self.shared += 1
        else:
            self.exclusive += 1

    def release(self, shared: bool) -> None:
        if shared:
            self.shared -= 1
        else:
            self.exclusive -= 1

    def eligible(self, required: frozenset[tuple[str, int]], shared: bool) -> bool:
        if shared and self.max_chats <= 0:
            return False
        skills = self.skills
        return all(skills.get(name, 0) >= level for name, level in required)

    def state(self) -> str:
        if not self.logged_in:
            return LOGGED_OUT
        if self.offer is not None:
            return OFFERED
        if self.connected:
            return BUSY
        if self.wrap:
            return WRAP_UP
        return NOT_READY if self.reason is not None else READY

    def view(self) -> AgentView:
        return AgentView(
            agent_id=self.agent_id, state=self.state(), reason=self.reason,
            available=self.can_take(False) or self.can_take(True), offered=self.offer,
            connected=tuple(self.connected), wrap_up=tuple(self.wrap),
            voice_load=self.exclusive, chat_load=self.shared, max_chats=self.max_chats,
            idle_since=self.idle_since)

    def strategy_key(self, strategy: str, required: frozenset[tuple[str, int]]) -> tuple[
            float, float, int]:
        """Smaller is better. Ties go to the agent that logged in first."""
        if strategy == "least_occupied":
            load = self.exclusive + self.shared / max(self.max_chats, 1)
            return (load, self.idle_since, self.order)
        if strategy == "skill_level":
            level = sum(self.skills.get(name, 0) for name, _ in required)
            return (-level, self.idle_since, self.order)
        if strategy == "round_robin":
            return (self.last_offer, 0.0, self.order)
        return (self.idle_since, 0.0, self.order)
