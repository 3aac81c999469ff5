"""The projection: the event-derived columns of an ``interactions`` row, folded from facts.

``apply(projection, fact, at)`` is pure, so a row can always be rebuilt from its events, and
the live wallboard and the history read the same fold. Time is never read here: ``at`` comes
with the event.

Outcomes: ``in_progress`` (started), ``queued``, ``answered`` (with an agent), and once
ended: ``handled`` (answered), ``abandoned`` (the caller left the queue), ``unanswered`` (the
system ended it in the queue); for a call or a touch session that never queued,
``self_served`` (the flow finished after a self-service result), ``ivr_ended`` (the flow
finished without one) or ``ivr_hangup`` (the caller hung up in the voice menu: the last node
of ``ivr_path`` is where; rows written before this distinction keep ``self_served``), other
channels' sessions that end unqueued being ``self_served`` as before;
``redirected`` (the IVR sent it elsewhere: callback, voicemail ...) or, for a callback,
``callback_failed`` (every attempt allowed was made and none reached the customer). A
callback is ``handled`` once an attempt reached the customer (``callback_attempt`` answered).
``contained``: solved by the bot, no agent: it ended with exit ``bot`` (a bot-first chat,
``cti/channels/chat/bot.py``; a touch-menu question answered, ``cti/app/itr_records.py``);
a bot conversation handed to the queue ends as any other contact.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import assert_never

from cti.records.core.events import (
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
    RecordEvent,
    Recording,
    SelfService,
    WrapUp,
)

MAX_IVR_STEPS = 100
OUTCOMES = ("in_progress", "queued", "answered", "handled", "abandoned", "unanswered",
            "self_served", "redirected", "callback_failed", "contained", "ivr_hangup",
            "ivr_ended")  # fmt: skip
IVR_CHANNELS = ("voice", "itr")  # where self-service, a hang-up in the menu and the rest differ
CALLBACK_FAILED = "callback_failed"  # the exit of a callback that ran out of attempts
BOT_EXIT = "bot"  # the exit of a chat the bot solved (cti/channels/chat/bot.py)


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


def _ivr_end(p: Projection, by: str) -> str:
    """A call or touch session that ended in the menu, never queued: ``self_served`` only
    when the flow finished after a self-service result; a caller who hung up on the voice
    menu is ``ivr_hangup`` (where: the last node of ``ivr_path``); a flow that finished
    without any self-service result is ``ivr_ended``."""
    if p.channel == "voice" and by == "caller":
        return "ivr_hangup"
    return "self_served" if p.self_service else "ivr_ended"


def _end(
    p: Projection, at: datetime, *, by: str, reason: str, exit_: str, abandoned: bool
) -> Projection:
    """Ended or abandoned: the outcome, and the wait and talk times up to the first end."""
    ended_at = p.ended_at or at
    if exit_ == CALLBACK_FAILED:
        outcome = CALLBACK_FAILED
    elif p.answered_at is not None and not abandoned:
        outcome = "handled"
    elif abandoned or p.outcome == "abandoned":
        outcome = "abandoned"
    elif exit_ == BOT_EXIT:
        outcome = "contained"
    elif p.queued_at is not None:
        outcome = "abandoned" if by == "caller" else "unanswered"
    elif exit_ not in ("", "hangup"):
        outcome = "redirected"
    elif p.channel in IVR_CHANNELS:
        outcome = _ivr_end(p, by)
    else:
        outcome = "self_served"
    wait = p.wait_s if p.answered_at is not None else _seconds(p.queued_at, ended_at)
    return dataclasses.replace(
        p,
        ended_at=ended_at,
        outcome=outcome,
        wait_s=wait,
        talk_s=_seconds(p.answered_at, ended_at),
        ended_by=p.ended_by or by or ("caller" if abandoned else None),
        end_reason=p.end_reason or reason or ("abandoned" if abandoned else None),
        exit=p.exit or exit_ or None,
    )


def apply(p: Projection, fact: Fact, at: datetime) -> Projection:
    """The projection after one fact that happened at ``at`` (pure)."""
    rep = dataclasses.replace
    match fact:
        case InteractionStarted():
            return rep(
                p,
                channel=fact.channel,
                did=fact.did or p.did,
                flow=fact.flow or p.flow,
                started_at=min(p.started_at, at) if p.started_at else at,
            )
        case IvrStep():
            return rep(p, ivr_path=_append(p.ivr_path, fact.node, " > "))
        case SelfService():
            item = f"{fact.action}:{fact.outcome}"
            return rep(p, self_service=_append(p.self_service, item, ", "))
        case IvrSegment():
            path, served = p.ivr_path, p.self_service
            for node, _input in fact.steps:
                path = _append(path, node, " > ")
            for action, outcome in fact.self_service:
                served = _append(served, f"{action}:{outcome}", ", ")
            return rep(p, ivr_path=path, self_service=served)
        case Queued():
            return rep(
                p,
                queued_at=p.queued_at or at,
                queue=fact.queue,
                priority=fact.priority if fact.priority is not None else p.priority,
                outcome="queued" if p.answered_at is None and p.ended_at is None else p.outcome,
            )
        case Offered():
            return rep(p, offers=p.offers + 1)
        case OfferOutcome():
            return p  # kept in the timeline only
        case Connected():
            answered = p.answered_at or at
            return rep(
                p,
                answered_at=answered,
                agent=fact.agent,
                wait_s=_seconds(p.queued_at, answered),
                outcome="answered" if p.ended_at is None else p.outcome,
            )
        case Recording():
            return rep(p, recording=fact.path)
        case Ended():
            return _end(p, at, by=fact.by, reason=fact.reason, exit_=fact.exit, abandoned=False)
        case Abandoned():
            return _end(p, at, by="", reason=fact.reason, exit_="", abandoned=True)
        case WrapUp():
            return rep(p, wrap_up_code=fact.code, wrap_up_notes=fact.notes or None)
        case CallbackAttempt():
            return p  # kept in the timeline only (the agent's connect is the answer time)
        case _:
            assert_never(fact)


def apply_event(p: Projection, event: RecordEvent) -> Projection:
    """The projection after one stored event (the store's fold)."""
    return apply(p, event.fact, event.at)
