"""Reading the records: a customer's history, an interaction's timeline, live figures.

All three read the event-derived ``interactions`` rows (or the events themselves) and return
plain dataclasses. ``customer_history`` pages newest first on ``(started_at, id)`` through the
``ix_interactions_customer_started`` index, so it stays fast with millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cti.records.customers import resolve
from cti.records.models import Interaction, InteractionEvent


@dataclass(frozen=True)
class InteractionSummary:
    id: str
    customer_id: int | None
    channel: str | None
    started_at: datetime | None
    queued_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_s: float | None
    talk_s: float | None
    queue: str | None
    agent: str | None
    offers: int
    outcome: str
    exit: str | None
    ended_by: str | None
    end_reason: str | None
    wrap_up_code: str | None
    recording: str | None
    ivr_path: tuple[str, ...]
    self_service: tuple[str, ...]
    wrap_up_notes: str | None = None


@dataclass(frozen=True)
class EventView:
    event_id: str
    at: datetime
    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class LiveFigures:
    since: datetime
    total: int
    by_outcome: dict[str, int]
    by_channel: dict[str, int]
    answered: int
    avg_wait_s: float | None  # of answered interactions
    max_wait_s: float | None  # of every interaction that waited
    avg_talk_s: float | None


_SUMMARY_COLUMNS = (
    Interaction.id,
    Interaction.customer_id,
    Interaction.channel,
    Interaction.started_at,
    Interaction.queued_at,
    Interaction.answered_at,
    Interaction.ended_at,
    Interaction.wait_s,
    Interaction.talk_s,
    Interaction.queue,
    Interaction.agent,
    Interaction.offers,
    Interaction.outcome,
    Interaction.exit,
    Interaction.ended_by,
    Interaction.end_reason,
    Interaction.wrap_up_code,
    Interaction.recording,
    Interaction.ivr_path,
    Interaction.self_service,
    Interaction.wrap_up_notes,
)


def _split(text: str | None, sep: str) -> tuple[str, ...]:
    return tuple(text.split(sep)) if text else ()


def _summary(row: Any) -> InteractionSummary:
    values = dict(row._mapping)
    values["ivr_path"] = _split(values["ivr_path"], " > ")
    values["self_service"] = _split(values["self_service"], ", ")
    return InteractionSummary(**values)


def customer_history(
    session: Session,
    customer_id: int,
    limit: int = 50,
    before: tuple[datetime, str] | datetime | None = None,
) -> list[InteractionSummary]:
    """The customer's interactions, newest first. ``before`` pages on: pass the last
    summary's ``(started_at, id)`` (or just a time) to get the next, older page."""
    customer_id = resolve(session, customer_id)
    stmt = select(*_SUMMARY_COLUMNS).where(
        Interaction.customer_id == customer_id, Interaction.started_at.is_not(None)
    )
    if isinstance(before, tuple):
        at, last_id = before
        stmt = stmt.where(
            or_(
                Interaction.started_at < at,
                (Interaction.started_at == at) & (Interaction.id < last_id),
            )
        )
    elif before is not None:
        stmt = stmt.where(Interaction.started_at < before)
    stmt = stmt.order_by(Interaction.started_at.desc(), Interaction.id.desc()).limit(limit)
    return [_summary(row) for row in session.execute(stmt)]


def get_interaction(session: Session, interaction_id: str) -> InteractionSummary | None:
    row = session.execute(
        select(*_SUMMARY_COLUMNS).where(Interaction.id == interaction_id)
    ).one_or_none()
    return None if row is None else _summary(row)


def interaction_timeline(session: Session, interaction_id: str) -> list[EventView]:
    """Every event of one interaction, in time order."""
    rows = session.execute(
        select(
            InteractionEvent.event_id,
            InteractionEvent.at,
            InteractionEvent.type,
            InteractionEvent.data,
        )
        .where(InteractionEvent.interaction_id == interaction_id)
        .order_by(InteractionEvent.at, InteractionEvent.id)
    )
    return [EventView(*row) for row in rows]


def live_figures(session: Session, since: datetime) -> LiveFigures:
    """Counts and averages over interactions started at or after ``since``."""
    recent = Interaction.started_at >= since
    by_outcome = {
        outcome: int(n)
        for outcome, n in session.execute(
            select(Interaction.outcome, func.count()).where(recent).group_by(Interaction.outcome)
        )
    }
    by_channel = {
        str(channel): int(n)
        for channel, n in session.execute(
            select(Interaction.channel, func.count()).where(recent).group_by(Interaction.channel)
        )
    }
    answered, avg_wait, avg_talk = session.execute(
        select(func.count(), func.avg(Interaction.wait_s), func.avg(Interaction.talk_s)).where(
            recent, Interaction.answered_at.is_not(None)
        )
    ).one()
    max_wait = session.scalar(select(func.max(Interaction.wait_s)).where(recent))

    def _round(value: Any) -> float | None:
        return None if value is None else round(float(value), 3)

    return LiveFigures(
        since=since,
        total=sum(by_outcome.values()),
        by_outcome=by_outcome,
        by_channel=by_channel,
        answered=int(answered),
        avg_wait_s=_round(avg_wait),
        max_wait_s=_round(max_wait),
        avg_talk_s=_round(avg_talk),
    )


def open_interactions(session: Session, channel: str | None = None) -> list[str]:
    """Ids of interactions that started and never ended (e.g. calls cut by a CTI restart)."""
    from cti.records.models import Interaction

    query = select(Interaction.id).where(
        Interaction.ended_at.is_(None), Interaction.started_at.is_not(None)
    )
    if channel is not None:
        query = query.where(Interaction.channel == channel)
    return list(session.scalars(query.order_by(Interaction.started_at)))
