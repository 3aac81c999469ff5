"""The record vocabulary: one frozen dataclass per kind of interaction event (a *fact*).

A fact validates itself when built (``EventError`` with a stable ``code``), turns into the JSON
object stored in ``interaction_events.data`` (``to_data``) and back (``from_data``: keys it
does not know are ignored and missing optional keys take their defaults, so rows written by
older versions still decode). ``KIND`` is the stored type string; ``decode(kind, data)`` picks
the class. Error codes: ``unknown_event_type``, ``missing_field``, ``invalid_field``,
``value_not_allowed``, ``malformed_ivr``; details never carry the offending value (it could be
anything a caller typed). Every text a fact keeps is ``storable`` (``fields``): no NUL or other
C0 control character but tab and newline, no lone surrogate; a required field left empty by
that is missing.

Import the vocabulary from ``cti.records.core.events``, which adds the stored envelope.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeAlias

from cti.records.core.fields import (
    EventError,
    Pairs,
    as_text,
    check_one_of,
    check_text,
    checked_identities,
    read_identities,
    read_pairs,
    set_field,
    storable,
)

CHANNELS = ("voice", "chat", "itr", "web", "callback")
ENDED_BY = ("caller", "agent", "system")
OFFER_OUTCOMES = ("accepted", "rejected", "timeout", "cancelled")


# -- the facts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InteractionStarted:
    """A contact began (a call reached the IVR, a chat opened, a callback was requested)."""

    KIND: ClassVar[str] = "interaction_started"
    channel: str
    identities: Mapping[str, str] = field(default_factory=dict)
    did: str = ""
    flow: str = ""

    def __post_init__(self) -> None:
        check_text(self, self.KIND, ("channel",), ("did", "flow"))
        check_one_of(self.KIND, "channel", self.channel, CHANNELS)
        set_field(self, "identities", checked_identities(self.KIND, self.identities))

    def to_data(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "identities": dict(self.identities),
            "did": self.did,
            "flow": self.flow,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> InteractionStarted:
        return cls(
            as_text(data.get("channel")),
            read_identities(data.get("identities")),
            as_text(data.get("did")),
            as_text(data.get("flow")),
        )


@dataclass(frozen=True)
class IvrStep:
    """One IVR node visited; ``input`` describes what the caller did (never card digits)."""

    KIND: ClassVar[str] = "ivr_step"
    node: str
    input: str = ""

    def __post_init__(self) -> None:
        check_text(self, self.KIND, ("node",), ("input",))

    def to_data(self) -> dict[str, Any]:
        return {"node": self.node, "input": self.input}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> IvrStep:
        return cls(as_text(data.get("node")), as_text(data.get("input")))


@dataclass(frozen=True)
class IvrSegment:
    """A whole IVR segment at once: ``steps`` ``(node, input)`` and ``self_service``
    ``(action, outcome)`` pairs, what the voice channel records when a flow ends."""

    KIND: ClassVar[str] = "ivr"
    steps: Pairs
    self_service: Pairs = ()

    def __post_init__(self) -> None:
        if not self.steps:
            raise EventError(
                "missing_field", "ivr needs at least one step", type=self.KIND, missing=["steps"]
            )
        set_field(self, "steps", read_pairs(self.KIND, "steps", self.steps))
        set_field(self, "self_service", read_pairs(self.KIND, "self_service", self.self_service))

    def to_data(self) -> dict[str, Any]:
        return {
            "steps": [list(s) for s in self.steps],
            "self_service": [list(s) for s in self.self_service],
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> IvrSegment:
        served = data.get("self_service")
        return cls(data.get("steps") or (), () if served is None else served)


@dataclass(frozen=True)
class SelfService:
    """A self-service action and its outcome; ``identities`` learnt by it (e.g. account)."""

    KIND: ClassVar[str] = "self_service"
    action: str
    outcome: str
    identities: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_text(self, self.KIND, ("action", "outcome"))
        set_field(self, "identities", checked_identities(self.KIND, self.identities))

    def to_data(self) -> dict[str, Any]:
        return {"action": self.action, "outcome": self.outcome, "identities": dict(self.identities)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SelfService:
        return cls(
            as_text(data.get("action")),
            as_text(data.get("outcome")),
            read_identities(data.get("identities")),
        )


@dataclass(frozen=True)
class Queued:
    """Put in a queue; ``priority`` ``None`` keeps the one known; ``skills``: skill -> level."""

    KIND: ClassVar[str] = "queued"
    queue: str
    priority: int | None = None
    skills: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_text(self, self.KIND, ("queue",))
        if self.priority is not None and not isinstance(self.priority, int):
            raise EventError(
                "invalid_field",
                "queued priority must be an integer",
                type=self.KIND,
                field="priority",
            )
        if not isinstance(self.skills, Mapping) or not all(
            isinstance(v, int) for v in self.skills.values()
        ):
            raise EventError(
                "invalid_field",
                "queued skills must map names to levels",
                type=self.KIND,
                field="skills",
            )
        set_field(self, "skills", {storable(str(k)): v for k, v in self.skills.items()})

    def to_data(self) -> dict[str, Any]:
        return {"queue": self.queue, "priority": self.priority, "skills": dict(self.skills)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Queued:
        raw, priority = data.get("priority"), None
        if raw is not None:
            try:
                priority = int(raw)
            except (TypeError, ValueError):
                raise EventError(
                    "invalid_field",
                    "queued priority must be an integer",
                    type=cls.KIND,
                    field="priority",
                ) from None
        skills: dict[str, int] = {}
        found = data.get("skills")
        for name, level in found.items() if isinstance(found, Mapping) else ():
            try:
                skills[str(name)] = int(level)
            except (TypeError, ValueError):
                continue  # unreadable level in an old row: skills never reach the projection
        return cls(as_text(data.get("queue")), priority, skills)


@dataclass(frozen=True)
class _AgentFact:
    """A fact that names only the agent it is about (offered, connected)."""

    KIND: ClassVar[str] = ""
    agent: str

    def __post_init__(self) -> None:
        check_text(self, self.KIND, ("agent",))

    def to_data(self) -> dict[str, Any]:
        return {"agent": self.agent}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Self:
        return cls(as_text(data.get("agent")))


@dataclass(frozen=True)
class Offered(_AgentFact):
    KIND: ClassVar[str] = "offered"


@dataclass(frozen=True)
class OfferOutcome:
    """What became of an offer: accepted, rejected, timeout or cancelled."""

    KIND: ClassVar[str] = "offer_outcome"
    agent: str
    outcome: str

    def __post_init__(self) -> None:
        check_text(self, self.KIND, ("agent", "outcome"))
        check_one_of(self.KIND, "outcome", self.outcome, OFFER_OUTCOMES)

    def to_data(self) -> dict[str, Any]:
        return {"agent": self.agent, "outcome": self.outcome}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> OfferOutcome:
        return cls(as_text(data.get("agent")), as_text(data.get("outcome")))


@dataclass(frozen=True)
class Connected(_AgentFact):
    KIND: ClassVar[str] = "connected"


@dataclass(frozen=True)
class Recording:
    KIND: ClassVar[str] = "recording"
    path: str

    def __post_init__(self) -> None:
        check_text(self, self.KIND, ("path",))

    def to_data(self) -> dict[str, Any]:
        return {"path": self.path}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Recording:
        return cls(as_text(data.get("path")))


@dataclass(frozen=True)
class Ended:
    """The contact ended, ``by`` the caller, the agent or the system; ``exit`` how it left
    the IVR when it never reached an agent (hangup, callback, voicemail ...)."""

    KIND: ClassVar[str] = "ended"
    by: str
    reason: str = ""
    exit: str = ""

    def __post_init__(self) -> None:
        check_text(self, self.KIND, ("by",), ("reason", "exit"))
        check_one_of(self.KIND, "by", self.by, ENDED_BY)

    def to_data(self) -> dict[str, Any]:
        return {"by": self.by, "reason": self.reason, "exit": self.exit}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Ended:
        return cls(as_text(data.get("by")), as_text(data.get("reason")), as_text(data.get("exit")))


@dataclass(frozen=True)
class WrapUp:
    KIND: ClassVar[str] = "wrap_up"
    agent: str
    code: str
    notes: str = ""

    def __post_init__(self) -> None:
        check_text(self, self.KIND, ("agent", "code"), ("notes",))

    def to_data(self) -> dict[str, Any]:
        return {"agent": self.agent, "code": self.code, "notes": self.notes}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> WrapUp:
        return cls(
            as_text(data.get("agent")), as_text(data.get("code")), as_text(data.get("notes"))
        )


@dataclass(frozen=True)
class Abandoned:
    """The caller gave up while waiting."""

    KIND: ClassVar[str] = "abandoned"
    reason: str = ""

    def __post_init__(self) -> None:
        check_text(self, self.KIND, (), ("reason",))

    def to_data(self) -> dict[str, Any]:
        return {"reason": self.reason}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Abandoned:
        return cls(as_text(data.get("reason")))


CALLBACK_RESULTS = ("answered", "no_answer", "busy", "failed", "agent_no_answer")


@dataclass(frozen=True)
class CallbackAttempt:
    """One try at a callback: ``agent`` was rung (and, once answered, the customer);
    ``result`` answered, no_answer / busy / failed (the customer's line), agent_no_answer
    (the agent's phone did not take it: not counted against the customer's attempts);
    ``cause`` is what Asterisk said (DIALSTATUS or the originate reason)."""

    KIND: ClassVar[str] = "callback_attempt"
    attempt: int
    agent: str
    result: str
    cause: str = ""

    def __post_init__(self) -> None:
        check_text(self, self.KIND, ("agent", "result"), ("cause",))
        check_one_of(self.KIND, "result", self.result, CALLBACK_RESULTS)
        if not isinstance(self.attempt, int) or isinstance(self.attempt, bool) or \
                self.attempt < 1:
            raise EventError("invalid_field", "callback attempt is a number from 1",
                             type=self.KIND, field="attempt")

    def to_data(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "agent": self.agent, "result": self.result,
                "cause": self.cause}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> CallbackAttempt:
        raw = data.get("attempt")
        return cls(raw if isinstance(raw, int) and not isinstance(raw, bool) else 1,
                   as_text(data.get("agent")), as_text(data.get("result")),
                   as_text(data.get("cause")))


Fact: TypeAlias = (
    InteractionStarted
    | IvrStep
    | IvrSegment
    | SelfService
    | Queued
    | Offered
    | OfferOutcome
    | Connected
    | Recording
    | Ended
    | WrapUp
    | Abandoned
    | CallbackAttempt
)
FACTS: tuple[type[Fact], ...] = (
    InteractionStarted, IvrStep, IvrSegment, SelfService, Queued, Offered, OfferOutcome,
    Connected, Recording, Ended, WrapUp, Abandoned, CallbackAttempt,
)  # fmt: skip
KINDS: Mapping[str, type[Fact]] = {f.KIND: f for f in FACTS}


def decode(kind: str, data: Mapping[str, Any] | None) -> Fact:
    """The fact stored as ``kind`` with ``data``; ``EventError`` if it is not a valid one."""
    cls = KINDS.get(kind)
    if cls is None:
        raise EventError("unknown_event_type", f"unknown event type {kind!r}", type=kind)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise EventError("invalid_field", f"{kind} data must be an object", type=kind, field="data")
    return cls.from_data(data)


def identities_of(fact: Fact) -> Mapping[str, str]:
    """The customer identities a fact reveals (the caller's number, an account learnt)."""
    if isinstance(fact, InteractionStarted | SelfService):
        return fact.identities
    return {}
