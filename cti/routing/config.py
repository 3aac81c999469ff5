"""Routing configuration: queues, overflow rules, agent capacity profiles.

A queue names the skills every contact in it needs (queue membership is a skill: a queue
"sales" usually requires ``{"sales": 1}``); a contact may ask for more. Configuration errors
are programming or deployment errors, so they raise :class:`ConfigError` at construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Media = Literal["voice", "chat", "web", "callback"]
ExitKind = Literal["callback_offer", "voicemail", "apology"]
Strategy = Literal["longest_idle", "least_occupied", "skill_level", "round_robin"]

MEDIA: frozenset[str] = frozenset({"voice", "chat", "web", "callback"})
#: Media that share an agent's chat budget; the others (voice, callback) take the whole agent.
SHARED_MEDIA: frozenset[str] = frozenset({"chat", "web"})
#: Media whose contacts wait until an agent serves them: no customer is on the line, so no
#: "no agents", "over the limit" or maximum-wait exit applies (a callback keeps its place).
WAITS_UNTIL_SERVED: frozenset[str] = frozenset({"callback"})
EXITS: frozenset[str] = frozenset({"callback_offer", "voicemail", "apology"})
STRATEGIES: frozenset[str] = frozenset(
    {"longest_idle", "least_occupied", "skill_level", "round_robin"})
MAX_PRIORITY = 10


class ConfigError(ValueError):
    """An invalid queue configuration. ``code`` is stable and machine readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class OverflowRule:
    """After ``after_s`` seconds in the queue, do exactly one thing.

    - ``widen_skills``: skill -> new (lower) required level; 0 drops the requirement;
    - ``to_queue``: move the contact (keeping its priority and original arrival time);
    - ``exit``: leave the queue through this exit (a maximum wait, so no wait is endless).
    """

    after_s: float
    widen_skills: Mapping[str, int] | None = None
    to_queue: str | None = None
    exit: ExitKind | None = None


@dataclass(frozen=True)
class QueueConfig:
    name: str
    skills: Mapping[str, int] = field(default_factory=dict)
    strategy: Strategy = "longest_idle"
    ring_timeout_s: float = 20.0
    wrap_up_s: float = 10.0
    max_waiting: int | None = None
    overflow: tuple[OverflowRule, ...] = ()
    no_agents_exit: ExitKind = "callback_offer"
    over_limit_exit: ExitKind = "apology"
    announce_every_s: float | None = None
    default_handle_s: float = 180.0


@dataclass(frozen=True)
class AgentConfig:
    """Capacity profile: a voice call takes the whole agent, a chat one of ``max_chats``."""

    skills: Mapping[str, int] = field(default_factory=dict)
    max_chats: int = 5
    chat_while_voice: bool = False


def validate_queues(queues: Mapping[str, QueueConfig]) -> None:
    for key, queue in queues.items():
        if key != queue.name:
            raise ConfigError("queue_name_mismatch", f"{key!r} holds queue {queue.name!r}")
        _validate_queue(queue, queues)


def _validate_queue(queue: QueueConfig, queues: Mapping[str, QueueConfig]) -> None:
    if queue.strategy not in STRATEGIES:
        raise ConfigError("unknown_strategy", f"{queue.name}: {queue.strategy!r}")
    if queue.ring_timeout_s <= 0 or queue.wrap_up_s < 0:
        raise ConfigError("bad_timeout", f"{queue.name}: ring or wrap-up timeout")
    if queue.max_waiting is not None and queue.max_waiting < 0:
        raise ConfigError("bad_limit", f"{queue.name}: max_waiting < 0")
    for exit_kind in (queue.no_agents_exit, queue.over_limit_exit):
        if exit_kind not in EXITS:
            raise ConfigError("unknown_exit", f"{queue.name}: {exit_kind!r}")
    for rule in queue.overflow:
        _validate_rule(queue.name, rule, queues)


def _validate_rule(name: str, rule: OverflowRule, queues: Mapping[str, QueueConfig]) -> None:
    actions = [a for a in (rule.widen_skills, rule.to_queue, rule.exit) if a is not None]
    if len(actions) != 1:
        raise ConfigError("bad_overflow_rule", f"{name}: exactly one action per rule")
    if rule.after_s < 0:
        raise ConfigError("bad_overflow_rule", f"{name}: after_s < 0")
    if rule.to_queue is not None and rule.to_queue not in queues:
        raise ConfigError("unknown_queue", f"{name}: overflow to {rule.to_queue!r}")
    if rule.exit is not None and rule.exit not in EXITS:
        raise ConfigError("unknown_exit", f"{name}: {rule.exit!r}")
