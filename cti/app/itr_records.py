"""Touch-menu (ITR) sessions in the records: one interaction of channel ``itr`` per session
that finishes, so the customer's history (and the agent's screen pop) shows them beside
calls and chats. The caller's number, when the session came from a call's link, makes it
the same customer; the path is the nodes visited; an exit (queue, callback) is kept.

Called from the ITR's WSGI threads; the writer's ``submit`` is thread-safe and never blocks.
Event ids derive from the session key, so a replayed last step writes nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from cti.records.core.events import (
    Ended,
    Fact,
    InteractionStarted,
    IvrSegment,
    RecordEvent,
    SelfService,
)
from ivr_flows.core.effects import State
from ivr_flows.core.model import Flow

log = logging.getLogger(__name__)


class LateSink:
    """The records writer, known only once the CTI starts (after the ITR app is built)."""

    def __init__(self) -> None:
        self.submit: Callable[[RecordEvent], None] | None = None


def itr_recorder(sink: LateSink, wall: Callable[[], datetime] = lambda: datetime.now(UTC)
                 ) -> Callable[[Flow, State, str], None]:
    def done(flow: Flow, state: State, key: str) -> None:
        if sink.submit is None:
            return
        iid = f"itr-{key}"
        caller = state.vars.get("caller", "")
        identities = {"phone": caller} if caller else {}
        ex = state.exit
        at = wall()
        facts: tuple[Fact, ...] = (
            InteractionStarted("itr", identities, "", flow.name),
            IvrSegment(tuple((node, "") for node in (*state.history, state.node))),
            Ended("caller", "itr_finished" if ex is None else f"itr_{ex.kind}",
                  "" if ex is None else ex.kind),
        )
        try:
            for n, fact in enumerate(facts):
                sink.submit(RecordEvent(iid, at, fact.KIND, fact.to_data(), f"{iid}-{n}"))
        except ValueError as exc:  # an EventError: our bug; the page is answered anyway
            log.error("records: cannot record ITR session %s: %s", iid, exc)

    return done


def itr_contained(sink: LateSink, wall: Callable[[], datetime] = lambda: datetime.now(UTC)
                  ) -> Callable[[Flow, State, str, str], None]:
    """A touch-menu session that a knowledge-base answer solved ("that helped"): recorded
    with the answer's key as its self-service result and the exit ``bot`` (contained)."""
    def contained(flow: Flow, state: State, key: str, answer: str) -> None:
        if sink.submit is None:
            return
        iid = f"itr-{key}"
        caller = state.vars.get("caller", "")
        facts: tuple[Fact, ...] = (
            InteractionStarted("itr", {"phone": caller} if caller else {}, "", flow.name),
            IvrSegment(tuple((node, "") for node in (*state.history, state.node)),
                       (("kb_answer", answer),)),
            SelfService("kb_answer", answer),
            Ended("caller", "bot_solved", "bot"),
        )
        at = wall()
        try:
            for n, fact in enumerate(facts):
                sink.submit(RecordEvent(iid, at, fact.KIND, fact.to_data(), f"{iid}-{n}"))
        except ValueError as exc:
            log.error("records: cannot record ITR session %s: %s", iid, exc)

    return contained
