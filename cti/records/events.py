"""Interaction events: append one, and project it onto its ``interactions`` row.

Every state change of an interaction is a ``RecordEvent``. ``record(session, event)`` inserts
it into ``interaction_events`` and updates the interaction row in the same transaction, so
live figures and history come from one stream. The event id is chosen by the client: a retried
write of the same event is recognised and changes nothing.

The projection itself is pure (``apply``: projection + event -> projection), so the row can
always be rebuilt from the events (``rebuild``); an event older than the last one applied
(a replayed spill, a late writer) triggers such a rebuild, so the row never depends on the
order in which events were written. Time is never read here: ``at`` comes with the event.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cti.records import customers
from cti.records.customers import insert_ignoring
from cti.records.models import CHANNELS, Interaction, InteractionEvent

ENDED_BY = ("caller", "agent", "system")
OFFER_OUTCOMES = ("accepted", "rejected", "timeout", "cancelled")
# type -> data keys it must carry
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "interaction_started": ("channel",),  # + identities, did, flow
    "ivr_step": ("node",),  # + input (a description, never card digits)
    "self_service": ("action", "outcome"),  # + identities learnt (e.g. account)
    "queued": ("queue",),  # + priority, skills
    "offered": ("agent",),
    "offer_outcome": ("agent", "outcome"),
    "connected": ("agent",),
    "recording": ("path",),
    "ended": ("by",),  # + reason, exit
    "wrap_up": ("agent", "code"),  # + notes
    "abandoned": (),  # + reason
}
MAX_IVR_STEPS = 100


class EventError(ValueError):
    """An event that cannot be recorded; ``code`` is stable, ``details`` machine-readable."""

    code = "invalid_event"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class RecordEvent:
    """One state change. ``event_id`` makes writes idempotent: keep it when retrying."""

    interaction_id: str
    at: datetime
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=new_event_id)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise EventError(f"unknown event type {self.type!r}", type=self.type)
        if self.at.tzinfo is None:
            raise EventError("event time must be timezone-aware (UTC)", type=self.type)
        for name, value in (("interaction_id", self.interaction_id), ("event_id", self.event_id)):
            if not value or len(value) > 64:
                raise EventError(f"{name} must be 1-64 characters", type=self.type)
        missing = [k for k in EVENT_TYPES[self.type] if self.data.get(k) in (None, "")]
        if missing:
            raise EventError(f"{self.type} needs {', '.join(missing)}", missing=missing)
        checks = {
            "interaction_started": ("channel", CHANNELS),
            "ended": ("by", ENDED_BY),
            "offer_outcome": ("outcome", OFFER_OUTCOMES),
        }
        if self.type in checks:
            key, allowed = checks[self.type]
            if self.data[key] not in allowed:
                raise EventError(f"{key} must be one of {', '.join(allowed)}", **{key: "?"})

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


@dataclass(frozen=True)
class Projection:
    """The event-derived columns of an interaction row."""

    channel: str | None = None
    did: str | None = None
    flow: str | None = None
    started_at: datetime | None = None
    queued_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_s: float | None = None
    talk_s: float | None = None
    queue: str | None = None
    priority: int | None = None
    agent: str | None = None
    offers: int = 0
    outcome: str = "in_progress"
    exit: str | None = None
    ended_by: str | None = None
    end_reason: str | None = None
    wrap_up_code: str | None = None
    wrap_up_notes: str | None = None
    recording: str | None = None
    ivr_path: str = ""
    self_service: str = ""


FIELDS = tuple(f.name for f in dataclasses.fields(Projection))


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def _append(summary: str, item: str, sep: str, limit: int = MAX_IVR_STEPS) -> str:
    parts = summary.split(sep) if summary else []
    if len(parts) >= limit:
        return summary
    return sep.join([*parts, item])


def _opt(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value in (None, "") else str(value)


def _end(p: Projection, at: datetime, data: dict[str, Any], *, abandoned: bool) -> Projection:
    ended_at = p.ended_at or at
    if p.answered_at is not None and not abandoned:
        outcome = "handled"
    elif abandoned or p.outcome == "abandoned":
        outcome = "abandoned"
    elif p.queued_at is not None:
        outcome = "abandoned" if data.get("by") == "caller" else "unanswered"
    else:
        exit_ = _opt(data, "exit")
        outcome = "self_served" if exit_ in (None, "hangup") else "redirected"
    wait = p.wait_s if p.answered_at is not None else _seconds(p.queued_at, ended_at)
    return dataclasses.replace(
        p,
        ended_at=ended_at,
        outcome=outcome,
        wait_s=wait,
        talk_s=_seconds(p.answered_at, ended_at),
        ended_by=p.ended_by or _opt(data, "by") or ("caller" if abandoned else None),
        end_reason=p.end_reason or _opt(data, "reason") or ("abandoned" if abandoned else None),
        exit=p.exit or _opt(data, "exit"),
    )


def apply(p: Projection, type_: str, at: datetime, data: dict[str, Any]) -> Projection:
    """The projection after one event (pure)."""
    rep = dataclasses.replace
    if type_ == "interaction_started":
        return rep(
            p,
            channel=str(data["channel"]),
            did=_opt(data, "did") or p.did,
            flow=_opt(data, "flow") or p.flow,
            started_at=min(p.started_at, at) if p.started_at else at,
        )
    if type_ == "ivr_step":
        return rep(p, ivr_path=_append(p.ivr_path, str(data["node"]), " > "))
    if type_ == "self_service":
        item = f"{data['action']}:{data['outcome']}"
        return rep(p, self_service=_append(p.self_service, item, ", "))
    if type_ == "queued":
        priority = data.get("priority")
        return rep(
            p,
            queued_at=p.queued_at or at,
            queue=str(data["queue"]),
            priority=int(priority) if priority is not None else p.priority,
            outcome="queued" if p.answered_at is None and p.ended_at is None else p.outcome,
        )
    if type_ == "offered":
        return rep(p, offers=p.offers + 1)
    if type_ == "connected":
        answered = p.answered_at or at
        return rep(
            p,
            answered_at=answered,
            agent=str(data["agent"]),
            wait_s=_seconds(p.queued_at, answered),
            outcome="answered" if p.ended_at is None else p.outcome,
        )
    if type_ == "recording":
        return rep(p, recording=str(data["path"]))
    if type_ == "ended":
        return _end(p, at, data, abandoned=False)
    if type_ == "abandoned":
        return _end(p, at, data, abandoned=True)
    if type_ == "wrap_up":
        return rep(p, wrap_up_code=str(data["code"]), wrap_up_notes=_opt(data, "notes"))
    return p  # offer_outcome: kept in the timeline only


def _projection_of(row: Interaction) -> Projection:
    return Projection(**{name: getattr(row, name) for name in FIELDS})


def _store(row: Interaction, p: Projection) -> None:
    for name in FIELDS:
        if getattr(row, name) != getattr(p, name):
            setattr(row, name, getattr(p, name))


def _interaction_row(session: Session, interaction_id: str) -> Interaction:
    row = session.get(Interaction, interaction_id)
    if row is not None:
        return row
    stmt = insert_ignoring(session, Interaction.__table__).values(
        id=interaction_id,
        outcome="in_progress",
        offers=0,
        ivr_path="",
        self_service="",
        event_count=0,
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
    row = session.get(Interaction, interaction_id)
    assert row is not None
    return row


def _link_customer(session: Session, row: Interaction, event: RecordEvent) -> None:
    found = customers.identities_from(event.data.get("identities"))
    if not found:
        return
    if row.customer_id is None:
        row.customer_id = customers.identify(session, found, event.at)
        return
    for identity in found:
        row.customer_id = customers.link(session, row.customer_id, identity, event.at)


def record(session: Session, event: RecordEvent) -> bool:
    """Append ``event`` and update its interaction row (in the caller's transaction).

    Returns False, changing nothing, if an event with this ``event_id`` is already stored.
    Row changes are flushed with the transaction (or the next explicit flush), so a batch of
    events on one interaction costs one UPDATE, not one per event.
    """
    with session.no_autoflush:
        return _record(session, event)


def _record(session: Session, event: RecordEvent) -> bool:
    row = _interaction_row(session, event.interaction_id)
    stmt = insert_ignoring(session, InteractionEvent.__table__).values(
        event_id=event.event_id,
        interaction_id=event.interaction_id,
        at=event.at,
        type=event.type,
        data=event.data,
    )
    stmt = stmt.on_conflict_do_nothing(index_elements=["event_id"]).returning(
        InteractionEvent.__table__.c.id
    )
    if session.execute(stmt).first() is None:  # already stored: a retried write
        return False
    _link_customer(session, row, event)
    if row.last_event_at is None or event.at >= row.last_event_at:
        _store(row, apply(_projection_of(row), event.type, event.at, event.data))
        row.last_event_at = event.at
        row.event_count = (row.event_count or 0) + 1
    else:
        rebuild(session, row)
    return True


def rebuild(session: Session, row: Interaction) -> None:
    """Recompute an interaction row from all its stored events, in time order."""
    session.flush()
    events = session.execute(
        select(InteractionEvent.type, InteractionEvent.at, InteractionEvent.data)
        .where(InteractionEvent.interaction_id == row.id)
        .order_by(InteractionEvent.at, InteractionEvent.id)
    ).all()
    p = Projection()
    for type_, at, data in events:
        p = apply(p, type_, at, data)
    _store(row, p)
    row.event_count = len(events)
    row.last_event_at = events[-1].at if events else None
