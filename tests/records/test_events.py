"""Events and their projection onto interaction rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy import delete, func, select
from sqlalchemy import event as sa_event

from cti.records.core.events import EventError, RecordEvent, decode
from cti.records.core.projection import Projection, apply, apply_event
from cti.records.customers import find_customer, normalize
from cti.records.db import SessionFactory, dispose, make_session_factory
from cti.records.history import get_interaction, interaction_timeline
from cti.records.migrate import current_revision, head_revision, upgrade
from cti.records.models import Interaction, InteractionEvent
from cti.records.store import record, record_batch
from cti.records.users import authenticate

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(iid: str, seconds: float, type_: str, **data: Any) -> RecordEvent:
    return RecordEvent(iid, at(seconds), type_, data, event_id=f"{iid}-{seconds}-{type_}")


def full_call(iid: str = "call-1") -> list[RecordEvent]:
    """IVR (two steps, an order lookup), queue, an offer rejected, one accepted, talk, wrap-up."""
    return [
        ev(
            iid,
            0,
            "interaction_started",
            channel="voice",
            identities={"phone": "+8613800138000"},
            did="4008001234",
            flow="demo_400",
        ),
        ev(iid, 2, "ivr_step", node="main", input="digits 2"),
        ev(iid, 5, "ivr_step", node="order_lookup", input="digits (8)"),
        ev(
            iid,
            6,
            "self_service",
            action="order_status",
            outcome="ok",
            identities={"account": "A1001"},
        ),
        ev(iid, 9, "ivr_step", node="agent", input="digits 0"),
        ev(iid, 10, "queued", queue="support", priority=5, skills={"zh": 3}),
        ev(iid, 12, "offered", agent="1001"),
        ev(iid, 14, "offer_outcome", agent="1001", outcome="rejected"),
        ev(iid, 15, "offered", agent="1002"),
        ev(iid, 17, "offer_outcome", agent="1002", outcome="accepted"),
        ev(iid, 17.5, "connected", agent="1002"),
        ev(iid, 18, "recording", path="/var/spool/rec/call-1.wav"),
        ev(iid, 77.5, "ended", by="caller", reason="hangup"),
        ev(iid, 90, "wrap_up", agent="1002", code="order_info", notes="told ETA"),
    ]


def record_all(factory: SessionFactory, events: list[RecordEvent]) -> list[bool]:
    with factory.begin() as s:
        return [record(s, e) for e in events]


def test_a_full_call_projects_its_ivr_path_wait_offers_talk_and_wrap_up(
    session_factory: SessionFactory,
) -> None:
    assert all(record_all(session_factory, full_call()))
    with session_factory() as s:
        row = get_interaction(s, "call-1")
        customer = find_customer(s, normalize("account", "A1001"))
        timeline = interaction_timeline(s, "call-1")
    assert row is not None
    assert row.channel == "voice" and row.customer_id == customer is not None
    assert row.ivr_path == ("main", "order_lookup", "agent")
    assert row.self_service == ("order_status:ok",)
    assert (row.started_at, row.queued_at, row.answered_at, row.ended_at) == (
        at(0),
        at(10),
        at(17.5),
        at(77.5),
    )
    assert row.wait_s == 7.5 and row.talk_s == 60.0
    assert row.queue == "support" and row.agent == "1002" and row.offers == 2
    assert row.outcome == "handled" and row.ended_by == "caller" and row.end_reason == "hangup"
    assert row.wrap_up_code == "order_info" and row.recording == "/var/spool/rec/call-1.wav"
    assert [e.type for e in timeline][:3] == ["interaction_started", "ivr_step", "ivr_step"]
    rejected = [e.data for e in timeline if e.type == "offer_outcome"]
    assert rejected == [
        {"agent": "1001", "outcome": "rejected"},
        {"agent": "1002", "outcome": "accepted"},
    ]


def test_a_retried_event_is_not_applied_twice(session_factory: SessionFactory) -> None:
    events = full_call()
    record_all(session_factory, events)
    again = record_all(session_factory, [events[6], events[8], *events])
    assert not any(again)
    with session_factory() as s:
        row = get_interaction(s, "call-1")
        stored = s.scalar(select(func.count()).select_from(InteractionEvent))
    assert row is not None and row.offers == 2 and stored == len(events)


def test_events_written_out_of_order_give_the_same_row(session_factory: SessionFactory) -> None:
    ordered = full_call("in-order")
    shuffled = [
        RecordEvent("shuffled", e.at, e.type, e.data, event_id="s-" + e.event_id)
        for e in full_call("x")
    ]
    random.Random(4).shuffle(shuffled)
    record_all(session_factory, ordered)
    for e in shuffled:  # one transaction each, like late writers
        record_all(session_factory, [e])
    with session_factory() as s:
        a, b = get_interaction(s, "in-order"), get_interaction(s, "shuffled")
    assert a is not None and b is not None
    assert {**a.__dict__, "id": ""} == {**b.__dict__, "id": ""}


def test_a_caller_who_hangs_up_in_the_queue_is_abandoned(session_factory: SessionFactory) -> None:
    record_all(
        session_factory,
        [
            ev("c2", 0, "interaction_started", channel="voice", identities={"phone": "139"}),
            ev("c2", 3, "queued", queue="sales"),
            ev("c2", 8, "offered", agent="1001"),
            ev("c2", 20, "offer_outcome", agent="1001", outcome="cancelled"),
            ev("c2", 20, "abandoned", reason="caller hung up in queue"),
            ev("c2", 20, "ended", by="caller", reason="hangup"),
        ],
    )
    with session_factory() as s:
        row = get_interaction(s, "c2")
    assert row is not None
    assert row.outcome == "abandoned" and row.wait_s == 17.0 and row.talk_s is None
    assert row.ended_by == "caller" and row.end_reason == "caller hung up in queue"
    assert row.answered_at is None and row.agent is None


def test_a_callback_is_its_own_interaction_for_the_same_customer(
    session_factory: SessionFactory,
) -> None:
    record_all(
        session_factory,
        [
            ev("c3", 0, "interaction_started", channel="voice", identities={"phone": "137"}),
            ev("c3", 1, "queued", queue="support"),
            ev("c3", 61, "ended", by="system", reason="long wait", exit="callback_offer"),
            ev("cb3", 62, "interaction_started", channel="callback", identities={"phone": "137"}),
            ev("cb3", 62, "queued", queue="support", priority=3),
            ev("cb3", 300, "connected", agent="1003"),
            ev("cb3", 420, "ended", by="agent", reason="resolved"),
        ],
    )
    with session_factory() as s:
        call, callback = get_interaction(s, "c3"), get_interaction(s, "cb3")
    assert call is not None and callback is not None
    assert call.outcome == "unanswered" and call.exit == "callback_offer"
    assert callback.channel == "callback" and callback.outcome == "handled"
    assert callback.customer_id == call.customer_id is not None
    assert callback.wait_s == 238.0 and callback.talk_s == 120.0


def test_a_session_that_ends_in_the_ivr_is_self_served(session_factory: SessionFactory) -> None:
    record_all(
        session_factory,
        [
            ev("itr1", 0, "interaction_started", channel="itr", identities={"phone": "136"}),
            ev("itr1", 4, "self_service", action="delivery", outcome="ok"),
            ev("itr1", 9, "ended", by="caller", reason="done"),
        ],
    )
    with session_factory() as s:
        row = get_interaction(s, "itr1")
    assert row is not None and row.outcome == "self_served" and row.wait_s is None


@pytest.mark.parametrize(
    ("type_", "data", "naive"),
    [
        ("teleported", {}, False),
        ("queued", {}, False),
        ("ended", {"by": "alien"}, False),
        ("interaction_started", {"channel": "fax"}, False),
        ("abandoned", {}, True),
    ],
)
def test_bad_events_are_refused_at_construction(
    type_: str, data: dict[str, Any], naive: bool
) -> None:
    when = T0.replace(tzinfo=None) if naive else T0
    with pytest.raises(EventError):
        RecordEvent("x", when, type_, data)


def test_events_survive_a_json_round_trip() -> None:
    for e in full_call():
        assert RecordEvent.from_json(e.to_json()) == e


def test_an_ivr_segment_event_projects_like_its_steps_one_by_one() -> None:
    steps = [["welcome", "start"], ["main", "key 2"], ["order_lookup", "result ok"]]
    one_by_one = Projection()
    for i, (node, inp) in enumerate(steps):
        one_by_one = apply(one_by_one, decode("ivr_step", {"node": node, "input": inp}), at(i))
    one_by_one = apply(one_by_one, decode("self_service",
                                          {"action": "order_lookup", "outcome": "ok"}), at(3))
    bundled = apply(Projection(), decode("ivr", {"steps": steps,
                                                 "self_service": [["order_lookup", "ok"]]}), at(3))
    assert bundled == one_by_one
    assert bundled.ivr_path == "welcome > main > order_lookup"
    assert bundled.self_service == "order_lookup:ok"


@pytest.mark.parametrize("data", [{"steps": []}, {"steps": "welcome"},
                                  {"steps": [["a", "b", "c"]]},
                                  {"steps": [["a", "b"]], "self_service": [1]}])
def test_a_malformed_ivr_segment_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(EventError):
        RecordEvent("call-1", at(0), "ivr", data)


def test_the_projection_is_a_pure_fold() -> None:
    p = Projection()
    for e in full_call():
        p = apply_event(p, e)
    assert p.outcome == "handled" and p.talk_s == 60.0 and p.wait_s == 7.5


def test_upgrading_from_0001_keeps_the_users(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0001")
    assert current_revision(empty_db_url) == "0001"
    factory = make_session_factory(empty_db_url)
    try:
        # The user is written as 0001 knew users (the ORM model now has later columns).
        hashed = PasswordHasher().hash("correct horse battery")
        with factory.begin() as s:
            s.execute(sa.text("INSERT INTO users (username, password_hash, role, created_at, "
                              "active) VALUES ('alice', :h, 'supervisor', :at, :on)"),
                      {"h": hashed, "at": datetime(2026, 1, 1, tzinfo=UTC), "on": True})
        upgrade(empty_db_url)
        assert current_revision(empty_db_url) == head_revision()
        assert authenticate(factory, "alice", "correct horse battery") is not None
        record_all(factory, full_call())
        with factory() as s:
            assert get_interaction(s, "call-1") is not None
    finally:
        dispose(factory)


def calls(n: int) -> list[RecordEvent]:
    """``n`` full calls on distinct phones and accounts, their events interleaved."""
    out: list[RecordEvent] = []
    for i in range(n):
        for e in full_call(f"call-{i}"):
            data = dict(e.data)
            if "identities" in data:
                data["identities"] = {k: f"{v}{i}" for k, v in data["identities"].items()}
            out.append(RecordEvent(e.interaction_id, e.at, e.type, data, event_id=e.event_id))
    random.Random(n).shuffle(out)
    return out


def rows_of(factory: SessionFactory, iids: list[str]) -> dict[str, dict[str, Any]]:
    with factory() as s:
        found = {iid: get_interaction(s, iid) for iid in iids}
    return {iid: {**row.__dict__, "customer_id": None} for iid, row in found.items() if row}


def test_batches_give_the_same_rows_as_one_event_at_a_time(
    session_factory: SessionFactory,
) -> None:
    events = calls(6)
    iids = sorted({e.interaction_id for e in events})
    for e in sorted(events, key=lambda e: e.at):  # in time order, one transaction each
        record_all(session_factory, [e])
    expected = rows_of(session_factory, iids)
    with session_factory.begin() as s:
        s.execute(delete(InteractionEvent))
        s.execute(delete(Interaction))
    rng = random.Random(9)
    pending = [*events, *rng.sample(events, 10)]  # some events sent twice
    applied: list[bool] = []
    while pending:  # random batch sizes, interactions interleaved, events out of order
        size = rng.randint(1, 12)
        with session_factory.begin() as s:
            applied += record_batch(s, pending[:size])
        pending = pending[size:]
    assert applied.count(True) == len(events)
    assert rows_of(session_factory, iids) == expected
    with session_factory() as s:
        counts = {iid: n for iid, n in s.execute(select(Interaction.id, Interaction.event_count))}
    assert counts == dict.fromkeys(iids, 14)


def batch_statements(session_factory: SessionFactory, events: list[RecordEvent]) -> int:
    """SQL statements one ``record_batch`` of ``events`` sends (all of them new)."""
    seen: list[str] = []
    engine = session_factory.kw["bind"]
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    sa_event.listen(engine, "before_cursor_execute", listener)
    try:
        with session_factory.begin() as s:
            assert all(record_batch(s, events))
    finally:
        sa_event.remove(engine, "before_cursor_execute", listener)
    return len(seen)


def test_a_batch_costs_the_same_statements_whatever_its_size(
    session_factory: SessionFactory,
) -> None:
    def statements(events: list[RecordEvent]) -> int:
        return batch_statements(session_factory, events)

    def batch(prefix: str, n: int, start: float) -> list[RecordEvent]:
        return [
            ev(f"{prefix}{i}", start + step, "ivr_step", node=f"n{step}")
            for i in range(n)
            for step in range(3)
        ]

    new_small, new_big = statements(batch("a", 2, 0)), statements(batch("b", 40, 0))
    old_small, old_big = statements(batch("a", 2, 10)), statements(batch("b", 40, 10))
    assert new_small == new_big and old_small == old_big
    assert old_big <= 5  # ids, rows, events insert, row update (+ transaction)


def test_returning_customers_cost_one_lookup_per_batch_whatever_their_number(
    session_factory: SessionFactory,
) -> None:
    def started(prefix: str, n: int) -> list[RecordEvent]:
        return [ev(f"{prefix}{i}", i, "interaction_started", channel="voice",
                   identities={"phone": f"1380013{i:04d}"}) for i in range(n)]  # fmt: skip

    def statements(events: list[RecordEvent]) -> int:
        return batch_statements(session_factory, events)

    first = started("first", 40)
    record_all(session_factory, first)  # 40 customers now known
    few, many = statements(started("again-few", 2)), statements(started("again-many", 40))
    assert few == many <= 6  # ids, rows, owners, rows insert, events insert (+ transaction)
    with session_factory() as s:
        for i in range(40):
            before, again = get_interaction(s, f"first{i}"), get_interaction(s, f"again-many{i}")
            assert before is not None and again is not None
            assert again.customer_id == before.customer_id is not None


def test_a_batch_mixing_new_and_returning_callers_links_each_to_its_own_customer(
    session_factory: SessionFactory,
) -> None:
    record_all(session_factory, [ev("old", 0, "interaction_started", channel="voice",
                                    identities={"phone": "13800000001"})])  # fmt: skip
    def started(iid: str, seconds: float, phone: str) -> RecordEvent:
        return ev(iid, seconds, "interaction_started", channel="voice", identities={"phone": phone})

    with session_factory.begin() as s:
        record_batch(s, [
            started("new1", 1, "13900000002"),
            started("back", 2, "13800000001"),
            started("new2", 3, "13900000002"),
            ev("back", 4, "self_service", action="login", outcome="ok",
               identities={"account": "a-1"}),
        ])  # fmt: skip
    with session_factory() as s:
        rows = {i: get_interaction(s, i) for i in ("old", "new1", "back", "new2")}
        account_owner = find_customer(s, normalize("account", "A-1"))
    ids = {i: r.customer_id if r is not None else None for i, r in rows.items()}
    assert ids["old"] == ids["back"] == account_owner is not None
    assert ids["new1"] == ids["new2"] is not None and ids["new1"] != ids["old"]


def test_customers_merged_within_a_batch_are_set_on_every_row(
    session_factory: SessionFactory,
) -> None:
    with session_factory.begin() as s:
        record_batch(
            s,
            [
                ev("m1", 0, "interaction_started", channel="chat", identities={"chat": "u1"}),
                ev("m2", 1, "interaction_started", channel="web", identities={"email": "a@b"}),
                ev("m1", 2, "self_service", action="login", outcome="ok",
                   identities={"email": "A@B"}),
            ],
        )  # fmt: skip
    with session_factory() as s:
        one, two = get_interaction(s, "m1"), get_interaction(s, "m2")
        survivor = find_customer(s, normalize("chat", "u1"))
    assert one is not None and two is not None
    assert one.customer_id == two.customer_id == survivor is not None
