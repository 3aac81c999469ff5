"""The store reads back what other versions wrote: rows rebuilt from stored events of an
older shape, or of a kind this version does not know, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from cti.records.core.events import Connected, Ended, InteractionStarted, Queued, RecordEvent
from cti.records.db import SessionFactory
from cti.records.history import get_interaction
from cti.records.models import Interaction, InteractionEvent
from cti.records.store import record

T0 = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def store_raw(factory: SessionFactory, iid: str, rows: list[tuple[float, str, Any]]) -> None:
    """Events written straight into the table, the way another version may have left them."""
    with factory.begin() as s:
        last = at(max(sec for sec, _, _ in rows))
        s.execute(
            insert(Interaction),
            [
                {
                    "id": iid,
                    "outcome": "in_progress",
                    "event_count": len(rows),
                    "last_event_at": last,
                }
            ],
        )
        s.execute(insert(InteractionEvent), [
            {"event_id": f"{iid}-{n}", "interaction_id": iid, "at": at(sec), "type": t, "data": d}
            for n, (sec, t, d) in enumerate(rows)
        ])  # fmt: skip


def test_typed_events_land_like_string_built_ones(session_factory: SessionFactory) -> None:
    typed = [RecordEvent.of("t", at(0), InteractionStarted("voice", {"phone": "139"})),
             RecordEvent.of("t", at(3), Queued("sales", 2)),
             RecordEvent.of("t", at(8), Connected("1001")),
             RecordEvent.of("t", at(68), Ended("agent", "done"))]  # fmt: skip
    strings = [RecordEvent("s", e.at, e.type, e.data) for e in typed]
    with session_factory.begin() as s:
        assert all(record(s, e) for e in [*typed, *strings])
    with session_factory() as s:
        a, b = get_interaction(s, "t"), get_interaction(s, "s")
    assert a is not None and b is not None
    assert {**a.__dict__, "id": ""} == {**b.__dict__, "id": ""}
    assert (a.outcome, a.wait_s, a.talk_s, a.customer_id is not None) == ("handled", 5, 60, True)


@pytest.mark.parametrize("odd", [("teleported", {"to": "mars"}), ("queued", {"priority": 1})])
def test_a_stored_event_this_version_cannot_read_is_counted_but_skipped_in_a_rebuild(
    session_factory: SessionFactory, odd: tuple[str, dict[str, Any]]
) -> None:
    store_raw(session_factory, "old", [
        (0, "interaction_started", {"channel": "voice"}),  # no identities, did, flow
        (2, "queued", {"queue": "q"}),  # no priority, skills
        (4, *odd),
        (9, "ended", {"by": "caller"}),  # no reason, exit
    ])  # fmt: skip
    with session_factory.begin() as s:  # older than the last one stored: a rebuild
        assert record(s, RecordEvent("old", at(1), "ivr_step", {"node": "main"}))
    with session_factory() as s:
        row = get_interaction(s, "old")
        count = s.get(Interaction, "old")
        assert count is not None and count.event_count == 5
    assert row is not None
    assert (row.outcome, row.wait_s, row.queue, row.ivr_path) == ("abandoned", 7, "q", ("main",))
