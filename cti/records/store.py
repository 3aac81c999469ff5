"""The SQL side of the interaction events: append them, and project them onto their
``interactions`` rows.

``record_batch(session, events)`` inserts events into ``interaction_events`` and updates the
interaction rows in the same transaction, so live figures and history come from one stream; the
batch is folded in memory (``cti.records.core.projection.apply_event``) and each touched row
written once (``record(session, event)`` is a batch of one). The event id is chosen by the
client: a retried write of the same event is recognised and changes nothing.

The projection is pure, so the row can always be rebuilt from the events; an event older than
the last one applied (a replayed spill, a late writer) triggers such a rebuild, so the row never
depends on the order in which events were written. Time is never read here: ``at`` comes with
the event.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from cti.records import customers
from cti.records.core.events import EventError, RecordEvent, decode, identities_of
from cti.records.core.projection import FIELDS, Projection, apply, apply_event
from cti.records.models import Customer, Interaction, InteractionEvent

log = logging.getLogger(__name__)

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
        return {name: _fit(name, getattr(self.projection if name in FIELDS else self, name))
                for name in names}


# Column widths of the interaction row: a longer text (a caller's DID, a back-end's reason)
# is cut to fit, so PostgreSQL never refuses the row (SQLite would store it whole). The
# events keep the full value.
_WIDTHS: dict[str, int] = {c.name: getattr(c.type, "length", 0) for c in _ROWS.columns
                           if isinstance(getattr(c.type, "length", None), int)}


def _fit(name: str, value: Any) -> Any:
    width = _WIDTHS.get(name)
    if width is not None and isinstance(value, str) and len(value) > width:
        return value[: width - 1] + "…"
    return value


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
    identities = {
        e.event_id: customers.identities_from(dict(identities_of(e.fact)))
        for e in fresh
        if identities_of(e.fact)
    }
    owners = _Owners(session, [i for found in identities.values() for i in found])
    for event in fresh:
        row = rows.setdefault(event.interaction_id, _Row(Projection(), None, 0, None, new=True))
        row.events.append(event)
        _link_customer(session, row, event, identities.get(event.event_id, []), owners)
    late = [iid for iid, row in rows.items() if not _fold(row)]
    if len({e.interaction_id for e in fresh if e.event_id in identities}) > 1:
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


def _link_customer(
    session: Session,
    row: _Row,
    event: RecordEvent,
    found: list[customers.Identity],
    owners: _Owners,
) -> None:
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
        p = apply_event(p, event)
    row.projection = p
    row.event_count += len(events)
    row.last_event_at = events[-1].at
    return True


def _rebuild(session: Session, rows: dict[str, _Row]) -> None:
    """Recompute rows from all their stored events (this batch's included), in time order."""
    stored = session.execute(
        select(
            _EVENTS.c.interaction_id,
            _EVENTS.c.event_id,
            _EVENTS.c.type,
            _EVENTS.c.at,
            _EVENTS.c.data,
        )
        .where(_EVENTS.c.interaction_id.in_(rows))
        .order_by(_EVENTS.c.interaction_id, _EVENTS.c.at, _EVENTS.c.id)
    ).all()
    for iid, group in itertools.groupby(stored, key=lambda r: r.interaction_id):
        p, count, last = Projection(), 0, None
        for _, event_id, type_, at, data in group:
            try:
                p = apply(p, decode(type_, data), at)
            except EventError as exc:  # stored by another version: still counted, not applied
                log.warning(
                    "records: stored event %s (%s) skipped in a rebuild: %s [%s]",
                    event_id,
                    type_,
                    exc.message,
                    exc.code,
                )
            count, last = count + 1, at
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
