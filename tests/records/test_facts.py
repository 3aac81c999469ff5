"""The typed record vocabulary, pure: every fact's validation, its stored form and the
envelope. No database here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cti.records.core.events import (
    CHANNELS,
    FACTS,
    KINDS,
    Abandoned,
    CallbackAttempt,
    Connected,
    Ended,
    EventError,
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
    identities_of,
    new_event_id,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

ONE_OF_EACH: list[Fact] = [
    InteractionStarted("voice", {"phone": "13800138000"}, did="4008001234", flow="demo_400"),
    IvrStep("main", "digits 2"),
    IvrSegment((("welcome", "start"), ("main", "key 2")), (("order_lookup", "ok"),)),
    SelfService("order_status", "ok", {"account": "A1001"}),
    Queued("support", 5, {"zh": 3}),
    Offered("1001"),
    OfferOutcome("1001", "rejected"),
    Connected("1002"),
    Recording("/var/spool/rec/call-1.wav"),
    Ended("caller", "hangup", "queue"),
    WrapUp("1002", "order_info", "told ETA"),
    Abandoned("caller_left_queue"),
    CallbackAttempt(2, "1002", "no_answer", "NOANSWER"),
]


def code_of(build: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(EventError) as caught:
        build(*args, **kwargs)
    return caught.value.code


def test_the_stored_type_strings_are_unchanged() -> None:
    assert [f.KIND for f in FACTS] == [
        "interaction_started", "ivr_step", "ivr", "self_service", "queued", "offered",
        "offer_outcome", "connected", "recording", "ended", "wrap_up", "abandoned",
        "callback_attempt",
    ]  # fmt: skip
    assert {type(f) for f in ONE_OF_EACH} == set(FACTS) and set(KINDS) == {f.KIND for f in FACTS}


@pytest.mark.parametrize("fact", ONE_OF_EACH, ids=lambda f: f.KIND)
def test_every_fact_survives_its_stored_form_and_the_envelope(fact: Fact) -> None:
    stored = json.loads(json.dumps(fact.to_data()))
    assert decode(fact.KIND, stored) == fact
    event = RecordEvent.of("call-1", T0, fact, event_id="e1")
    assert (event.type, event.data, event.fact) == (fact.KIND, fact.to_data(), fact)
    assert RecordEvent.from_json(event.to_json()) == event
    assert RecordEvent.from_json(event.to_json()).fact == fact


def test_the_stored_keys_are_those_of_today() -> None:
    assert {f.KIND: sorted(f.to_data()) for f in ONE_OF_EACH} == {
        "interaction_started": ["channel", "did", "flow", "identities"],
        "ivr_step": ["input", "node"],
        "ivr": ["self_service", "steps"],
        "self_service": ["action", "identities", "outcome"],
        "queued": ["priority", "queue", "skills"],
        "offered": ["agent"],
        "offer_outcome": ["agent", "outcome"],
        "connected": ["agent"],
        "recording": ["path"],
        "ended": ["by", "exit", "reason"],
        "wrap_up": ["agent", "code", "notes"],
        "abandoned": ["reason"],
        "callback_attempt": ["agent", "attempt", "cause", "result"],
    }
    segment = IvrSegment((("a", "b"),)).to_data()
    assert segment == {"steps": [["a", "b"]], "self_service": []}


@pytest.mark.parametrize(
    ("kind", "data", "missing"),
    [
        ("interaction_started", {}, ["channel"]),
        ("ivr_step", {"input": "x"}, ["node"]),
        ("ivr", {}, ["steps"]),
        ("ivr", {"steps": []}, ["steps"]),
        ("self_service", {"action": "a"}, ["outcome"]),
        ("self_service", {}, ["action", "outcome"]),
        ("queued", {"queue": ""}, ["queue"]),
        ("offered", {"agent": None}, ["agent"]),
        ("offer_outcome", {"outcome": "accepted"}, ["agent"]),
        ("connected", {}, ["agent"]),
        ("recording", {}, ["path"]),
        ("ended", {"reason": "x"}, ["by"]),
        ("wrap_up", {"agent": "1001"}, ["code"]),
    ],
)
def test_a_fact_without_a_required_field_is_refused(
    kind: str, data: dict[str, Any], missing: list[str]
) -> None:
    with pytest.raises(EventError) as caught:
        decode(kind, data)
    assert caught.value.code == "missing_field" and caught.value.details["missing"] == missing


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: InteractionStarted("fax"), "channel"),
        (lambda: Ended("alien"), "by"),
        (lambda: OfferOutcome("1001", "maybe"), "outcome"),
    ],
)
def test_a_value_outside_its_vocabulary_is_refused_without_echoing_it(
    build: Any, field: str
) -> None:
    with pytest.raises(EventError) as caught:
        build()
    assert caught.value.code == "value_not_allowed" and caught.value.details["field"] == field
    assert not {"fax", "alien", "maybe"} & set(map(str, caught.value.details.values()))


def test_every_channel_and_ender_and_offer_outcome_is_accepted() -> None:
    assert [InteractionStarted(c).channel for c in CHANNELS] == list(CHANNELS)
    assert [Ended(by).by for by in ("caller", "agent", "system")] == ["caller", "agent", "system"]
    outcomes = ("accepted", "rejected", "timeout", "cancelled")
    assert [OfferOutcome("a", o).outcome for o in outcomes] == list(outcomes)


@pytest.mark.parametrize(
    "data",
    [{"steps": "welcome"}, {"steps": [["a", "b", "c"]]}, {"steps": {"a": "b"}},
     {"steps": [["a", "b"]], "self_service": [1]}, {"steps": [["a", "b"]], "self_service": "x"}],
)  # fmt: skip
def test_a_malformed_ivr_segment_is_refused(data: dict[str, Any]) -> None:
    assert code_of(decode, "ivr", data) == "malformed_ivr"


def test_ivr_pairs_given_as_lists_are_stored_as_tuples_of_text() -> None:
    segment = IvrSegment([["welcome", 1]], [("lookup", "ok")])  # type: ignore[arg-type]
    assert segment.steps == (("welcome", "1"),) and segment.self_service == (("lookup", "ok"),)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Offered(1001),
        lambda: IvrStep("main", None),
        lambda: Ended("caller", reason=3),
        lambda: Queued("q", priority="high"),
        lambda: Queued("q", skills={"zh": "good"}),
        lambda: InteractionStarted("voice", identities="13800138000"),
    ],
)
def test_a_field_of_the_wrong_type_is_refused(build: Any) -> None:
    assert code_of(build) == "invalid_field"


def test_a_stored_priority_is_read_as_a_number_or_refused() -> None:
    assert decode("queued", {"queue": "q", "priority": "3"}) == Queued("q", 3)
    assert decode("queued", {"queue": "q"}).priority is None  # keeps the one known
    assert code_of(decode, "queued", {"queue": "q", "priority": "soon"}) == "invalid_field"


def test_stored_rows_of_older_versions_decode() -> None:
    """Unknown keys are ignored, missing optional ones take their defaults, old shapes read."""
    assert decode("ended", {"by": "caller", "extra": [1, 2]}) == Ended("caller")
    assert decode("abandoned", {}) == decode("abandoned", None) == Abandoned()
    assert decode("ivr", {"steps": [["a", "b"]], "self_service": None}) == IvrSegment((("a", "b"),))
    started = decode(
        "interaction_started",
        {"channel": "chat", "identities": [{"kind": "chat", "value": "u1"}, {"kind": "email"}]},
    )
    assert started == InteractionStarted("chat", {"chat": "u1"})
    queued = decode("queued", {"queue": "q", "priority": 2, "skills": {"zh": "3", "en": "x"}})
    assert queued == Queued("q", 2, {"zh": 3})
    assert decode("offered", {"agent": 1001}) == Offered("1001")


def test_empty_identities_are_dropped_and_others_are_what_the_fact_reveals() -> None:
    started = InteractionStarted("voice", {"phone": "", "account": "A1"})
    assert identities_of(started) == {"account": "A1"}
    assert identities_of(SelfService("login", "ok", {"email": "a@b"})) == {"email": "a@b"}
    assert identities_of(Queued("q")) == {}


@pytest.mark.parametrize(
    ("iid", "at", "type_", "event_id", "code"),
    [
        ("x", T0, "teleported", "e", "unknown_event_type"),
        ("x", T0.replace(tzinfo=None), "abandoned", "e", "naive_event_time"),
        ("", T0, "abandoned", "e", "invalid_id"),
        ("x", T0, "abandoned", "e" * 65, "invalid_id"),
    ],
)
def test_a_bad_envelope_is_refused_with_a_stable_code(
    iid: str, at: datetime, type_: str, event_id: str, code: str
) -> None:
    assert code_of(RecordEvent, iid, at, type_, {}, event_id) == code


def test_an_envelope_built_from_strings_is_decoded_and_keeps_its_data_as_given() -> None:
    data = {"queue": "sales", "note": "kept"}
    event = RecordEvent("call-1", T0, "queued", data)
    assert event.fact == Queued("sales") and event.data == data
    assert code_of(RecordEvent, "call-1", T0, "ended", {"by": "alien"}) == "value_not_allowed"
    assert isinstance(EventError("invalid_field", "x"), ValueError)  # service.record relies on it


def test_an_envelope_gets_a_fresh_event_id_unless_given_one() -> None:
    a, b = RecordEvent.of("c", T0, Offered("1")), RecordEvent.of("c", T0, Offered("1"))
    assert a.event_id != b.event_id and len(a.event_id) == 32
    assert RecordEvent.of("c", T0, Offered("1"), event_id="mine").event_id == "mine"


def test_a_new_event_from_a_fact_still_gets_the_envelope_checks() -> None:
    with pytest.raises(EventError) as err:
        RecordEvent.of("x" * 65, T0, Offered("agent1"))
    assert err.value.code == "invalid_id"
    with pytest.raises(EventError) as err:
        RecordEvent.of("call-1", T0.replace(tzinfo=None), Offered("agent1"))
    assert err.value.code == "naive_event_time"
    event = RecordEvent.of("call-1", T0, Offered("agent1"))
    assert event == RecordEvent("call-1", T0, "offered", {"agent": "agent1"}, event.event_id)
    assert event.fact == Offered("agent1")


def test_event_ids_are_unique_and_fit_the_column() -> None:
    ids = [new_event_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids) and all(len(i) == 32 for i in ids)
