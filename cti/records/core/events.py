"""The record events: the typed vocabulary (``facts``, re-exported here: import it from this
module) and ``RecordEvent``, the stored envelope of one fact.

    RecordEvent.of("call-1", at, Queued("support", priority=5))    # a new event
    RecordEvent("call-1", at, "queued", {"queue": "support"})      # as stored (still accepted)

The envelope adds two error codes to the facts': ``naive_event_time``, ``invalid_id``.
"""

from __future__ import annotations

import itertools
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cti.records.core.facts import (
    CHANNELS,
    ENDED_BY,
    FACTS,
    KINDS,
    OFFER_OUTCOMES,
    Abandoned,
    CallbackAttempt,
    Connected,
    Ended,
    Fact,
    InteractionStarted,
    IvrSegment,
    IvrStep,
    Offered,
    OfferOutcome,
    Queued,
    Recording,
    SelfService,
    WrapUp,
    decode,
    identities_of,
)
from cti.records.core.fields import EventError, set_field

__all__ = [
    "CHANNELS",
    "ENDED_BY",
    "FACTS",
    "KINDS",
    "OFFER_OUTCOMES",
    "Abandoned",
    "CallbackAttempt",
    "Connected",
    "Ended",
    "EventError",
    "Fact",
    "InteractionStarted",
    "IvrSegment",
    "IvrStep",
    "OfferOutcome",
    "Offered",
    "Queued",
    "RecordEvent",
    "Recording",
    "SelfService",
    "WrapUp",
    "decode",
    "identities_of",
    "new_event_id",
]


# -- the stored envelope -----------------------------------------------------------------------


# A random 64-bit prefix per process, then a counter: unique ids (as unique as uuid4's 122
# random bits for any realistic number of processes) without a system call per event, which
# cost about 30 us each on the reactor thread (three events per call).
_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count(1)


def new_event_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):016x}"


@dataclass(frozen=True)
class RecordEvent:
    """One fact about one interaction, as stored: ``type`` and ``data`` are the stored columns
    (kept as given, unknown keys included), ``fact`` the typed event they decode to; building
    an envelope decodes it, so an invalid one is refused here. ``event_id`` makes writes
    idempotent: keep it when retrying. Build new ones with ``RecordEvent.of(iid, at, fact)``.
    """

    interaction_id: str
    at: datetime
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=new_event_id)
    _fact: Fact = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check_envelope()
        set_field(self, "_fact", decode(self.type, self.data))

    def _check_envelope(self) -> None:
        if self.type not in KINDS:
            raise EventError(
                "unknown_event_type", f"unknown event type {self.type!r}", type=self.type
            )
        if self.at.tzinfo is None:
            raise EventError(
                "naive_event_time", "event time must be timezone-aware (UTC)", type=self.type
            )
        for name, value in (("interaction_id", self.interaction_id), ("event_id", self.event_id)):
            if not isinstance(value, str) or not value or len(value) > 64:
                raise EventError(
                    "invalid_id", f"{name} must be 1-64 characters", type=self.type, field=name
                )

    @classmethod
    def of(
        cls, interaction_id: str, at: datetime, fact: Fact, event_id: str | None = None
    ) -> RecordEvent:
        """A new event for ``fact``, which validated itself when it was made: its data is not
        decoded again (the envelope's own checks still run)."""
        event = cls.__new__(cls)
        set_field(event, "interaction_id", interaction_id)
        set_field(event, "at", at)
        set_field(event, "type", fact.KIND)
        set_field(event, "data", fact.to_data())
        set_field(event, "event_id", new_event_id() if event_id is None else event_id)
        set_field(event, "_fact", fact)
        event._check_envelope()
        return event

    @property
    def fact(self) -> Fact:
        return self._fact

    def to_json(self) -> str:
        return json.dumps(
            {
                "event_id": self.event_id,
                "interaction_id": self.interaction_id,
                "at": self.at.isoformat(),
                "type": self.type,
                "data": self.data,
            },
            default=str,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, line: str) -> RecordEvent:
        raw = json.loads(line)
        return cls(
            interaction_id=raw["interaction_id"],
            at=datetime.fromisoformat(raw["at"]),
            type=raw["type"],
            data=raw["data"],
            event_id=raw["event_id"],
        )
