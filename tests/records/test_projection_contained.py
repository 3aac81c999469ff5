"""Containment in the records: a chat the bot solved (exit ``bot``, no agent) is its own
outcome; a bot conversation handed to an agent is handled as any chat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cti.records.core.events import (
    Connected,
    Ended,
    Fact,
    InteractionStarted,
    IvrStep,
    Queued,
    SelfService,
)
from cti.records.core.projection import OUTCOMES, Projection, apply

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
STARTED = InteractionStarted("chat", {"chat": "v-1"})


def fold(*facts: Fact) -> Projection:
    p = Projection()
    for n, fact in enumerate(facts):
        p = apply(p, fact, T0 + timedelta(seconds=n))
    return p


def test_a_chat_the_bot_solved_is_contained_with_no_agent_and_no_wait() -> None:
    p = fold(STARTED, Ended("system", "bot_solved", "bot"))
    assert "contained" in OUTCOMES
    assert (p.outcome, p.exit, p.end_reason, p.agent, p.wait_s) == (
        "contained", "bot", "bot_solved", None, None)


def test_a_customer_ending_after_a_helpful_answer_is_contained() -> None:
    assert fold(STARTED, Ended("caller", "bot_solved", "bot")).outcome == "contained"


def test_a_bot_chat_handed_to_an_agent_is_handled_not_contained() -> None:
    p = fold(STARTED, Queued("service", 0), Connected("agent1001"), Ended("caller", "x"))
    assert p.outcome == "handled"


def test_a_chat_ended_before_any_agent_without_the_bot_exit_is_not_contained() -> None:
    assert fold(STARTED, Ended("caller", "ended_by_customer")).outcome == "self_served"


def test_a_touch_menu_question_the_bot_answered_is_contained_too() -> None:
    p = fold(InteractionStarted("web", {}), IvrStep("main"), SelfService("kb_answer", "refund"),
             Ended("caller", "bot_solved", "bot"))
    assert (p.outcome, p.ivr_path, p.self_service) == ("contained", "main",
                                                       "kb_answer:refund")
