"""Interaction events: append them, and project them onto their ``interactions`` rows.

Every state change of an interaction is a ``RecordEvent``. ``record_batch(session, events)``
inserts them into ``interaction_events`` and updates the interaction rows in the same
transaction, so live figures and history come from one stream; the batch is folded in memory
and each touched row written once (``record(session, event)`` is a batch of one). The event id
is chosen by the client: a retried write of the same event is recognised and changes nothing.

The projection itself is pure (``apply``: projection + event -> projection), so the row can
always be rebuilt from the events; an event older than the last one applied
(a replayed spill, a late writer) triggers such a rebuild, so the row never depends on the
order in which events were written. Time is never read here: ``at`` comes with the event.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from cti.records import customers
from cti.records.models import CHANNELS, Customer, Interaction, InteractionEvent

ENDED_BY = ("caller", "agent", "system")
OFFER_OUTCOMES = ("accepted", "rejected", "timeout", "cancelled")
# type -> data keys it must carry
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "interaction_started": ("channel",),  # + identities, did, flow
    "ivr_step": ("node",),  # + input (a description, never card digits)
    # a whole IVR segment at once: steps [[node, input], ...] (+ self_service [[action,
    # outcome], ...]); what the voice channel records when a flow ends, in one event
    "ivr": ("steps",),
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
        if self.type == "ivr":
            if not self.data["steps"]:
                raise EventError("ivr needs at least one step", missing=["steps"])
            for key in ("steps", "self_service"):
                items = self.data.get(key, [])
                if not isinstance(items, list) or not all(
                    isinstance(i, list | tuple) and len(i) == 2 for i in items
                ):
                    raise EventError(f"ivr {key} must be a list of pairs", key=key)

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
    if type_ == "ivr":
        path, served = p.ivr_path, p.self_service
        for node, _input in data["steps"]:
            path = _append(path, str(node), " > ")
        for action, outcome in data.get("self_service", []):
            served = _append(served, f"{action}:{outcome}", ", ")
        return rep(p, ivr_path=path, self_service=served)
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


_ROWS = Interaction.metadata.tables[Interaction.__tablename__]
_EVENTS = InteractionEvent.metadata.tables[InteractionEvent.__tablename__]
_STATE = (*FIELDS, "event_count", "last_event_at")  # what every row update writes
_ALL = (*_STATE, "customer_id")


@dataclass
class _Row:
    """One interaction touched by a batch, updated in memory and written once."""

    projection: Projection
    customer_id: int | None
    event_count: int
    last_event_at: datetime | None
    new: bool  # not stored yet: INSERT, not UPDATE
    customer_changed: bool = False
    events: list[RecordEvent] = field(default_factory=list)  # this batch's new events

    def columns(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {name: getattr(self.projection if name in FIELDS else self, name) for name in names}


def record(session: Session, event: RecordEvent) -> bool:
    """Append ``event`` and update its interaction row (in the caller's transaction).

    Returns False, changing nothing, if an event with this ``event_id`` is already stored.
    """
    return record_batch(session, [event])[0]


def record_batch(session: Session, events: Sequence[RecordEvent]) -> list[bool]:
    """Append ``events`` and update their interaction rows, in the caller's transaction.

    The statements do not grow with the batch: one SELECT for the event ids already stored,
    one for the rows of the interactions touched, one INSERT of the new rows, one of the new
    events, one executemany UPDATE of the existing rows (two if some rows got a customer);
    plus one SELECT of the owners of the batch's identities (a returning customer costs
    nothing more; a new or merged one goes through ``customers.identify``/``link``, after
    which the owners are read again if needed), and one SELECT of the stored
    events of the interactions that got an event older than their last applied one (they are
    rebuilt from all their events).
    Returns, per event, False if its ``event_id`` was already stored (or came earlier in the
    batch): such an event changes nothing.
    """
    stored = _stored_event_ids(session, {e.event_id for e in events})
    fresh: list[RecordEvent] = []
    applied: list[bool] = []
    for event in events:
        applied.append(event.event_id not in stored)
        if applied[-1]:
            stored.add(event.event_id)
            fresh.append(event)
    if not fresh:
        return applied
    rows = _load_rows(session, {e.interaction_id for e in fresh})
    identities = {e.event_id: customers.identities_from(e.data.get("identities"))
                  for e in fresh if e.data.get("identities")}
    owners = _Owners(session, [i for found in identities.values() for i in found])
    for event in fresh:
        row = rows.setdefault(event.interaction_id, _Row(Projection(), None, 0, None, new=True))
        row.events.append(event)
        _link_customer(session, row, event, identities.get(event.event_id, []), owners)
    late = [iid for iid, row in rows.items() if not _fold(row)]
    if len({e.interaction_id for e in fresh if e.data.get("identities")}) > 1:
        _follow_merges(session, rows)
    new_rows = [{"id": iid, **r.columns(_ALL)} for iid, r in rows.items() if r.new]
    if new_rows:
        session.execute(insert(_ROWS), new_rows)
    session.execute(insert(_EVENTS), [_event_values(e) for e in fresh])
    if late:
        _rebuild(session, {iid: rows[iid] for iid in late})
    _update_rows(session, {iid: row for iid, row in rows.items() if not row.new})
    return applied


def _event_values(event: RecordEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "interaction_id": event.interaction_id,
        "at": event.at,
        "type": event.type,
        "data": event.data,
    }


def _stored_event_ids(session: Session, event_ids: set[str]) -> set[str]:
    found = session.scalars(select(_EVENTS.c.event_id).where(_EVENTS.c.event_id.in_(event_ids)))
    return set(found)


def _load_rows(session: Session, interaction_ids: set[str]) -> dict[str, _Row]:
    found = session.execute(
        select(_ROWS.c.id, *(_ROWS.c[n] for n in _ALL)).where(_ROWS.c.id.in_(interaction_ids))
    ).mappings()
    return {
        m["id"]: _Row(
            Projection(**{name: m[name] for name in FIELDS}),
            m["customer_id"],
            m["event_count"] or 0,
            m["last_event_at"],
            new=False,
        )
        for m in found
    }


class _Owners:
    """The batch's identities -> their (unmerged) customers, read in one SELECT when first
    needed; read again after a slow-path identify/link, which may create or merge customers."""

    def __init__(self, session: Session, identities: list[customers.Identity]) -> None:
        self._session = session
        self._identities = identities
        self._known: dict[customers.Identity, int] | None = None

    def get(self, identity: customers.Identity) -> int | None:
        if self._known is None:
            self._known = customers.known_owners(self._session, self._identities)
        return self._known.get(identity)

    def stale(self) -> None:
        self._known = None


def _link_customer(session: Session, row: _Row, event: RecordEvent,
                   found: list[customers.Identity], owners: _Owners) -> None:
    if not found:
        return
    before = row.customer_id
    known = {owners.get(i) for i in found}
    if len(known) == 1 and None not in known and row.customer_id in (None, *known):
        # Every identity already belongs to one customer (a returning caller): nothing to add.
        row.customer_id = known.pop()
        row.customer_changed = row.customer_changed or row.customer_id != before
        return
    owners.stale()
    if row.customer_id is None:
        row.customer_id = customers.identify(session, found, event.at)
    else:
        for identity in found:
            row.customer_id = customers.link(session, row.customer_id, identity, event.at)
    row.customer_changed = row.customer_changed or row.customer_id != before


def _follow_merges(session: Session, rows: dict[str, _Row]) -> None:
    """A customer set for one row may since have been merged away by another row's event of
    this batch (``identify``/``link`` return the survivor, so a row's own events are safe)."""
    ids = {r.customer_id for r in rows.values() if r.customer_changed and r.customer_id}
    merged = set(
        session.scalars(
            select(Customer.id).where(Customer.id.in_(ids), Customer.merged_into_id.is_not(None))
        )
    )
    for row in rows.values():
        if row.customer_changed and row.customer_id in merged:
            row.customer_id = customers.resolve(session, row.customer_id)


def _fold(row: _Row) -> bool:
    """Apply the batch's events to the row in memory; False if they cannot simply be appended
    (an event older than one already applied to a stored row): the row must be rebuilt."""
    events = row.events
    in_order = all(a.at <= b.at for a, b in itertools.pairwise(events))
    if row.last_event_at is not None and events[0].at < row.last_event_at:
        in_order = False
    if not in_order and not row.new:
        return False
    if not in_order:  # all its events are in this batch: time order, then arrival order
        events = sorted(events, key=lambda e: e.at)
    p = row.projection
    for event in events:
        p = apply(p, event.type, event.at, event.data)
    row.projection = p
    row.event_count += len(events)
    row.last_event_at = events[-1].at
    return True


def _rebuild(session: Session, rows: dict[str, _Row]) -> None:
    """Recompute rows from all their stored events (this batch's included), in time order."""
    stored = session.execute(
        select(_EVENTS.c.interaction_id, _EVENTS.c.type, _EVENTS.c.at, _EVENTS.c.data)
        .where(_EVENTS.c.interaction_id.in_(rows))
        .order_by(_EVENTS.c.interaction_id, _EVENTS.c.at, _EVENTS.c.id)
    ).all()
    for iid, group in itertools.groupby(stored, key=lambda r: r.interaction_id):
        p, count, last = Projection(), 0, None
        for _, type_, at, data in group:
            p, count, last = apply(p, type_, at, data), count + 1, at
        row = rows[iid]
        row.projection, row.event_count, row.last_event_at = p, count, last


def _update_rows(session: Session, rows: dict[str, _Row]) -> None:
    """One executemany UPDATE per column set; ``customer_id`` only where this batch set it,
    so a merge made meanwhile by another transaction is not overwritten."""
    for names in (_STATE, _ALL):
        params = [
            {"b_id": iid, **{f"b_{k}": v for k, v in row.columns(names).items()}}
            for iid, row in rows.items()
            if row.customer_changed == ("customer_id" in names)
        ]
        if not params:
            continue
        stmt = (
            update(_ROWS)
            .where(_ROWS.c.id == bindparam("b_id"))
            .values({n: bindparam(f"b_{n}", type_=_ROWS.c[n].type) for n in names})
        )
        session.execute(stmt, params)
