"""Callback requests in the records database (table ``callback_requests``).

A request is stored before anyone is told "we will call you back" (``create``, idempotent on
its id: a resent request is the same request), its state and attempts are written as they
change (``update``), and after a restart ``waiting`` gives back the ones still to call, with
the place in line each keeps. Functions take a session factory and run one transaction each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from cti.records.db import SessionFactory
from cti.records.models import CallbackRequest

STATES = ("waiting", "done", "failed")


@dataclass(frozen=True)
class CallbackInfo:
    id: str
    number: str
    queue: str
    priority: int
    source: str  # voice | flow | itr | chat
    lang: str
    requested_at: datetime
    place_at: datetime  # when the customer first took their place in line
    skills: Mapping[str, int] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)
    state: str = "waiting"
    attempts: int = 0  # tries that reached the customer's line
    next_at: datetime | None = None  # the next try, when between tries
    outcome: str = ""


def _info(row: CallbackRequest) -> CallbackInfo:
    return CallbackInfo(row.id, row.number, row.queue, row.priority, row.source, row.lang,
                        row.requested_at, row.place_at,
                        {str(k): int(v) for k, v in (row.skills or {}).items()},
                        {str(k): str(v) for k, v in (row.attributes or {}).items()},
                        row.state, row.attempts, row.next_at, row.outcome)


def create(sf: SessionFactory, info: CallbackInfo) -> tuple[CallbackInfo, bool]:
    """Store a new request; ``(stored, created)``: an id already stored is not changed."""
    with sf.begin() as session:
        row = session.get(CallbackRequest, info.id)
        if row is not None:
            return _info(row), False
        session.add(CallbackRequest(
            id=info.id, number=info.number, queue=info.queue, priority=info.priority,
            skills=dict(info.skills), attributes=dict(info.attributes), source=info.source,
            lang=info.lang, requested_at=info.requested_at, place_at=info.place_at,
            state=info.state, attempts=info.attempts, next_at=info.next_at,
            outcome=info.outcome))
    return replace(info), True


def update(sf: SessionFactory, callback_id: str, **changes: Any) -> bool:
    """Write ``state``, ``attempts``, ``next_at`` and/or ``outcome`` of one request."""
    allowed = {"state", "attempts", "next_at", "outcome"}
    if not changes or set(changes) - allowed:
        raise ValueError(f"update takes {sorted(allowed)}")
    if "state" in changes and changes["state"] not in STATES:
        raise ValueError(f"state is one of {STATES}")
    with sf.begin() as session:
        row = session.get(CallbackRequest, callback_id)
        if row is None:
            return False
        for key, value in changes.items():
            setattr(row, key, value)
    return True


def get(sf: SessionFactory, callback_id: str) -> CallbackInfo | None:
    with sf() as session:
        row = session.get(CallbackRequest, callback_id)
        return _info(row) if row is not None else None


def waiting(sf: SessionFactory) -> list[CallbackInfo]:
    """Every request still to call, oldest place first."""
    with sf() as session:
        rows = session.scalars(select(CallbackRequest).where(CallbackRequest.state == "waiting")
                               .order_by(CallbackRequest.place_at, CallbackRequest.id))
        return [_info(r) for r in rows]
