"""Customer history, interaction timelines and live figures, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from cti.records.core.events import RecordEvent
from cti.records.customers import find_customer, normalize
from cti.records.db import SessionFactory
from cti.records.history import customer_history, interaction_timeline, live_figures
from cti.records.store import record

T0 = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


def call(factory: SessionFactory, iid: str, start_min: int, phone: str, answered: bool) -> None:
    t = T0 + timedelta(minutes=start_min)
    started = {"channel": "voice", "identities": {"phone": phone}}
    events = [
        RecordEvent(iid, t, "interaction_started", started),
        RecordEvent(iid, t + timedelta(seconds=5), "queued", {"queue": "q"}),
    ]
    if answered:
        events.append(RecordEvent(iid, t + timedelta(seconds=15), "connected", {"agent": "a1"}))
        events.append(RecordEvent(iid, t + timedelta(seconds=75), "ended", {"by": "agent"}))
    else:
        events.append(RecordEvent(iid, t + timedelta(seconds=45), "abandoned", {}))
    with factory.begin() as s:
        for e in events:
            record(s, e)


def test_history_is_newest_first_and_pages_on(session_factory: SessionFactory) -> None:
    for n in range(7):
        call(session_factory, f"c{n}", n, "13800138000", answered=n % 2 == 0)
    call(session_factory, "other", 3, "13900000000", answered=True)
    with session_factory() as s:
        customer = find_customer(s, normalize("phone", "13800138000"))
        assert customer is not None
        page1 = customer_history(s, customer, limit=3)
        last = page1[-1]
        assert last.started_at is not None
        page2 = customer_history(s, customer, limit=3, before=(last.started_at, last.id))
        page3 = customer_history(s, customer, limit=3, before=page2[-1].started_at)
    assert [i.id for i in page1] == ["c6", "c5", "c4"]
    assert [i.id for i in page2] == ["c3", "c2", "c1"]
    assert [i.id for i in page3] == ["c0"]
    assert page1[0].outcome == "handled" and page1[1].outcome == "abandoned"
    assert page1[1].wait_s == 40.0


def test_a_history_page_breaks_ties_on_the_id(session_factory: SessionFactory) -> None:
    for iid in ("a", "b", "c"):
        call(session_factory, iid, 0, "13700000000", answered=True)
    with session_factory() as s:
        customer = find_customer(s, normalize("phone", "13700000000"))
        assert customer is not None
        first = customer_history(s, customer, limit=2)
        last = first[-1]
        assert last.started_at is not None
        rest = customer_history(s, customer, before=(last.started_at, last.id))
    assert [i.id for i in first + rest] == ["c", "b", "a"]


def test_the_timeline_lists_every_event_in_order(session_factory: SessionFactory) -> None:
    call(session_factory, "t1", 0, "136", answered=True)
    with session_factory() as s:
        types = [e.type for e in interaction_timeline(s, "t1")]
    assert types == ["interaction_started", "queued", "connected", "ended"]


def test_live_figures_count_per_outcome_since_a_time(session_factory: SessionFactory) -> None:
    for n in range(6):
        call(session_factory, f"l{n}", n * 10, f"135{n}", answered=n < 4)
    with session_factory() as s:
        figures = live_figures(s, since=T0 + timedelta(minutes=10))
    assert figures.total == 5
    assert figures.by_outcome == {"handled": 3, "abandoned": 2}
    assert figures.by_channel == {"voice": 5}
    assert figures.answered == 3 and figures.avg_wait_s == 10.0 and figures.max_wait_s == 40.0
    assert figures.avg_talk_s == 60.0


def test_history_uses_the_customer_index(session_factory: SessionFactory) -> None:
    call(session_factory, "i1", 0, "134", answered=True)
    with session_factory() as s:
        if s.get_bind().dialect.name == "sqlite":
            plan = " ".join(
                str(r[-1])
                for r in s.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT id FROM interactions WHERE customer_id = 1 "
                        "AND started_at IS NOT NULL ORDER BY started_at DESC, id DESC LIMIT 50"
                    )
                )
            )
            assert "ix_interactions_customer_started" in plan
        else:
            s.execute(text("SET enable_seqscan = off"))
            plan = " ".join(
                str(r[0])
                for r in s.execute(
                    text(
                        "EXPLAIN SELECT id FROM interactions WHERE customer_id = 1 "
                        "AND started_at IS NOT NULL ORDER BY started_at DESC, id DESC LIMIT 50"
                    )
                )
            )
            assert "ix_interactions_customer_started" in plan
