"""The projection, pure: typed facts folded into an interaction row's columns, no database.

The property test checks invariants after every fact of random timelines, and that folding
the stored JSON of the facts gives the same row as folding the facts themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cti.records.core.events import (
    Abandoned,
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
    decode,
)
from cti.records.core.projection import MAX_IVR_STEPS, OUTCOMES, Projection, apply, apply_event

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def fold(*timeline: tuple[float, Fact], start: Projection | None = None) -> Projection:
    p = start or Projection()
    for seconds, fact in timeline:
        p = apply(p, fact, T0 + timedelta(seconds=seconds))
    return p


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


STARTED = (0.0, InteractionStarted("voice", {"phone": "139"}, did="400", flow="demo"))


def test_a_started_interaction_is_in_progress_with_its_channel_did_and_flow() -> None:
    p = fold(STARTED)
    assert (p.outcome, p.channel, p.did, p.flow, p.started_at) == (
        "in_progress",
        "voice",
        "400",
        "demo",
        at(0),
    )


def test_a_call_answered_then_ended_by_the_agent_is_handled() -> None:
    p = fold(
        STARTED,
        (10, Queued("support", 5)),
        (12, Offered("1001")),
        (17.5, Connected("1001")),
        (77.5, Ended("agent", "resolved")),
    )
    assert p.outcome == "handled" and p.ended_by == "agent" and p.end_reason == "resolved"
    assert (p.wait_s, p.talk_s, p.agent, p.queue, p.priority) == (7.5, 60.0, "1001", "support", 5)


def test_a_queued_call_is_queued_then_answered_while_talking() -> None:
    queued = fold(STARTED, (3, Queued("sales")))
    assert queued.outcome == "queued" and queued.queued_at == at(3) and queued.priority is None
    assert fold((5, Connected("1002")), start=queued).outcome == "answered"


def test_a_caller_who_hangs_up_in_the_queue_is_abandoned() -> None:
    p = fold(STARTED, (3, Queued("sales")), (20, Ended("caller", "hangup")))
    assert p.outcome == "abandoned" and p.wait_s == 17.0 and p.talk_s is None


def test_an_abandon_wins_over_the_end_that_follows_it() -> None:
    p = fold(
        STARTED,
        (3, Queued("sales")),
        (20, Abandoned("caller hung up in queue")),
        (21, Ended("system", "hangup")),
    )
    assert p.outcome == "abandoned" and p.ended_at == at(20) and p.wait_s == 17.0
    assert p.ended_by == "caller" and p.end_reason == "caller hung up in queue"


def test_an_abandon_without_a_reason_says_abandoned() -> None:
    p = fold(STARTED, (3, Queued("q")), (9, Abandoned()))
    assert (p.outcome, p.ended_by, p.end_reason) == ("abandoned", "caller", "abandoned")


def test_a_call_the_system_ends_in_the_queue_is_unanswered_with_its_exit() -> None:
    p = fold(STARTED, (1, Queued("support")), (61, Ended("system", "long wait", "callback")))
    assert p.outcome == "unanswered" and p.exit == "callback" and p.wait_s == 60.0


def test_a_flow_that_finishes_after_a_self_service_result_is_self_served() -> None:
    for exit_ in ("", "hangup"):
        p = fold(STARTED, (4, SelfService("delivery", "ok")), (9, Ended("system", "done", exit_)))
        assert p.outcome == "self_served" and p.wait_s is None and p.self_service == "delivery:ok"


def test_a_caller_who_hangs_up_in_the_menu_is_an_ivr_hangup_at_its_node_not_self_served() -> None:
    for before in ((), ((4, SelfService("delivery", "ok")),)):  # even after a result
        p = fold(STARTED, (2, IvrStep("main", "key 1")), (3, IvrStep("order_collect")), *before,
                 (9, Ended("caller", "caller_hangup")))
        assert p.outcome == "ivr_hangup" and p.ivr_path.split(" > ")[-1] == "order_collect"


def test_a_flow_that_finishes_without_any_self_service_is_ivr_ended() -> None:
    p = fold(STARTED, (2, IvrStep("closed_menu", "key 9")), (9, Ended("system", "exit", "hangup")))
    assert p.outcome == "ivr_ended"


def test_a_touch_session_is_self_served_only_with_a_result() -> None:
    itr = (0.0, InteractionStarted("itr", {}, flow="demo"))
    assert fold(itr, (4, SelfService("delivery", "ok")),
                (9, Ended("caller", "itr_finished"))).outcome == "self_served"
    assert fold(itr, (9, Ended("caller", "itr_finished"))).outcome == "ivr_ended"


def test_an_ivr_that_sends_the_caller_elsewhere_is_redirected() -> None:
    p = fold(STARTED, (9, Ended("system", "closed", "voicemail")))
    assert p.outcome == "redirected" and p.exit == "voicemail"


def test_the_first_end_is_the_one_that_counts() -> None:
    p = fold(
        STARTED,
        (2, Connected("a")),
        (10, Ended("agent", "done")),
        (30, Ended("caller", "hangup", "x")),
    )
    assert (p.ended_at, p.ended_by, p.end_reason, p.talk_s, p.exit) == (
        at(10),
        "agent",
        "done",
        8.0,
        "x",
    )


def test_an_abandon_and_an_end_of_an_answered_call_each_decide_its_outcome() -> None:
    """Today's rule, kept: the outcome follows the latest of them (the engine only abandons
    waiting contacts, so this takes late or odd events)."""
    talked = fold(STARTED, (1, Connected("a")), (5, Ended("agent")))
    assert fold((6, Abandoned()), start=talked).outcome == "abandoned"
    assert fold((6, Abandoned()), (7, Ended("caller")), start=talked).outcome == "handled"


def test_a_queued_event_after_the_end_does_not_reopen_the_call() -> None:
    p = fold(STARTED, (5, Ended("caller")), (6, Queued("late", 2)))
    assert p.outcome == "ivr_hangup" and p.queue == "late" and p.priority == 2


def test_a_priority_left_out_keeps_the_one_known() -> None:
    assert fold((1, Queued("a", 3)), (2, Queued("b"))).priority == 3


def test_offers_are_counted_and_their_outcomes_change_nothing() -> None:
    p = fold(STARTED, (1, Offered("a")), (2, OfferOutcome("a", "timeout")), (3, Offered("b")))
    assert p.offers == 2
    assert fold((4, OfferOutcome("b", "accepted")), start=p) == p


def test_the_earliest_start_wins_and_a_later_one_keeps_the_did_and_flow() -> None:
    p = fold(
        (5, InteractionStarted("voice", did="400", flow="f")), (2, InteractionStarted("voice"))
    )
    assert (p.started_at, p.did, p.flow) == (at(2), "400", "f")


def test_recording_and_wrap_up_are_kept_and_empty_notes_are_none() -> None:
    p = fold((1, Recording("/rec/1.wav")), (2, WrapUp("a", "info")))
    assert (p.recording, p.wrap_up_code, p.wrap_up_notes) == ("/rec/1.wav", "info", None)
    assert fold((3, WrapUp("a", "sale", "big one")), start=p).wrap_up_notes == "big one"


def test_an_ivr_segment_projects_like_its_steps_one_by_one() -> None:
    steps = (("welcome", "start"), ("main", "key 2"), ("order_lookup", "result ok"))
    one_by_one = fold(
        *((i, IvrStep(node, inp)) for i, (node, inp) in enumerate(steps)),
        (3, SelfService("order_lookup", "ok")),
    )
    bundled = fold((3, IvrSegment(steps, (("order_lookup", "ok"),))))
    assert bundled == one_by_one and bundled.ivr_path == "welcome > main > order_lookup"


def test_the_ivr_path_stops_growing_at_its_cap() -> None:
    p = fold(*((i, IvrStep(f"n{i}")) for i in range(MAX_IVR_STEPS + 5)))
    assert p.ivr_path.split(" > ") == [f"n{i}" for i in range(MAX_IVR_STEPS)]


def test_apply_event_folds_the_envelope_fact() -> None:
    event = RecordEvent("c", at(4), "connected", {"agent": "1001"})
    assert apply_event(Projection(), event) == apply(Projection(), Connected("1001"), at(4))


# -- properties --------------------------------------------------------------------------------

text = st.sampled_from(["a", "b", "1001", "main"])
facts: st.SearchStrategy[Fact] = st.one_of(
    st.builds(
        InteractionStarted,
        st.sampled_from(["voice", "chat", "callback"]),
        did=st.sampled_from(["", "400"]),
        flow=st.sampled_from(["", "f"]),
    ),
    st.builds(IvrStep, text, text),
    st.builds(
        IvrSegment,
        st.lists(st.tuples(text, text), min_size=1, max_size=3).map(tuple),
        st.lists(st.tuples(text, text), max_size=2).map(tuple),
    ),
    st.builds(SelfService, text, st.sampled_from(["ok", "failed"])),
    st.builds(Queued, text, st.none() | st.integers(0, 9)),
    st.builds(Offered, text),
    st.builds(OfferOutcome, text, st.sampled_from(["accepted", "rejected", "timeout"])),
    st.builds(Connected, text),
    st.builds(Recording, text),
    st.builds(
        Ended,
        st.sampled_from(["caller", "agent", "system"]),
        text,
        st.sampled_from(["", "hangup", "callback"]),
    ),
    st.builds(WrapUp, text, text, st.sampled_from(["", "n"])),
    st.builds(Abandoned, st.sampled_from(["", "left"])),
)
timelines = st.lists(st.tuples(st.floats(0, 600, allow_nan=False), facts), max_size=25)


ENDED_OUTCOMES = ("handled", "abandoned", "unanswered", "self_served", "redirected",
                  "ivr_hangup", "ivr_ended", "contained", "callback_failed")


def stored(timeline: Iterable[tuple[float, Fact]]) -> list[tuple[float, Fact]]:
    return [(s, decode(f.KIND, json.loads(json.dumps(f.to_data())))) for s, f in timeline]


@settings(max_examples=300, deadline=None)
@given(timelines)
def test_every_timeline_keeps_the_row_consistent_and_folds_the_same_from_storage(
    timeline: list[tuple[float, Fact]],
) -> None:
    p, ended = Projection(), None
    for seconds, fact in timeline:
        before, p = p, apply(p, fact, at(seconds))
        assert p.outcome in OUTCOMES
        assert p.offers == before.offers + isinstance(fact, Offered)
        assert all(v is None or v >= 0 for v in (p.wait_s, p.talk_s))
        if ended is not None:  # the first end's time and ender are final; outcome: an end's
            assert (p.ended_at, p.ended_by) == ended
            assert p.outcome in ENDED_OUTCOMES
        elif isinstance(fact, Ended | Abandoned):
            ended = (p.ended_at, p.ended_by)
            assert p.ended_at == at(seconds) and p.outcome not in ("in_progress", "queued")
        assert (p.answered_at is None) == (p.agent is None)
    assert fold(*stored(timeline)) == p
