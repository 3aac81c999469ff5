"""Caller-supplied text with NUL, other control characters or lone surrogates is stored
cleaned, never refused by the database: pure facts first, then real writes on SQLite and
PostgreSQL (where a NUL in a text column fails the whole write)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cti.records.core.events import (
    Ended,
    EventError,
    InteractionStarted,
    IvrSegment,
    IvrStep,
    RecordEvent,
    SelfService,
    WrapUp,
    decode,
)
from cti.records.core.fields import storable
from cti.records.db import SessionFactory
from cti.records.models import Customer, CustomerIdentity, Interaction, InteractionEvent
from cti.records.store import record

T0 = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
NASTY = "1\x002\x01\x083\x0b\x0c\r\x1b\x1f4"  # NUL, C0 controls, CR: all but the digits go


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# ------------------------------------------------------------------ pure


def test_storable_text_keeps_tab_newline_and_any_printable_character() -> None:
    assert storable(NASTY) == "1234"
    assert storable("a\tb\nc") == "a\tb\nc"
    assert storable("订单 ✓ \u00e9\x7f") == "订单 ✓ \u00e9\x7f"  # DEL is no C0: it stays
    assert storable("x\ud800y\udfff") == "x\ufffdy\ufffd"  # lone surrogates: not UTF-8


def test_caller_text_in_every_fact_is_cleaned_when_the_fact_is_made() -> None:
    assert IvrStep("menu\x00", NASTY) == IvrStep("menu", "1234")
    started = InteractionStarted("voice", {"phone": "139\x00 0013\x009000"}, did="400\x00")
    assert started.identities == {"phone": "139 00139000"} and started.did == "400"
    seg = IvrSegment((("main", "1\x00"), ("speech\x1b", "配送\x00地址")), (("order", "ok\x00"),))
    assert seg.steps == (("main", "1"), ("speech", "配送地址"))
    assert seg.self_service == (("order", "ok"),)
    learnt = SelfService("account_by_phone", "ok", {"account\x00": "A1\x00001"})
    assert learnt.identities == {"account": "A1001"}
    assert Ended("caller", "hang\x00up").reason == "hangup"
    assert WrapUp("agent1001", "resolved", "line 1\r\nline\x00 2").notes == "line 1\nline 2"


def test_an_identity_that_is_only_control_characters_is_dropped() -> None:
    assert InteractionStarted("voice", {"phone": "\x00\x00", "chat": "c1"}).identities == {
        "chat": "c1"
    }


def test_a_required_field_that_is_only_nul_is_missing() -> None:
    with pytest.raises(EventError) as refused:
        IvrStep("\x00")
    assert refused.value.code == "missing_field" and refused.value.details["missing"] == ["node"]


def test_a_stored_event_with_nul_decodes_cleaned() -> None:
    fact = decode("ivr_step", {"node": "main", "input": "9\x009"})
    assert fact == IvrStep("main", "99")


# ------------------------------------------------------------------ SQLite and PostgreSQL


def test_events_with_caller_control_characters_are_written_cleaned(
    session_factory: SessionFactory,
) -> None:
    iid = "nul-1"
    events = [
        RecordEvent.of(iid, at(0), InteractionStarted("voice", {"phone": "1390\x00013\ud8009000"},
                                                      did="4008\x00", flow="demo_400")),
        RecordEvent.of(iid, at(1), IvrSegment((("main", "1\x00"), ("ask", "地址\x00\x1b")),
                                              (("order_status", "ok"),))),
        RecordEvent.of(iid, at(2), SelfService("account_by_phone", "ok", {"account": "A\x0010"})),
        RecordEvent.of(iid, at(9), Ended("caller", "hangup\x00", "hangup")),
        RecordEvent.of(iid, at(10), WrapUp("agent1001", "resolved", "called\x00 back\r\nok")),
    ]  # fmt: skip
    with session_factory.begin() as s:
        assert all(record(s, e) for e in events)
    with session_factory() as s:
        row = s.scalars(select(Interaction).where(Interaction.id == iid)).one()
        stored = list(s.scalars(select(InteractionEvent.data).order_by(InteractionEvent.at)))
        identities = set(s.execute(select(CustomerIdentity.kind, CustomerIdentity.value)))
        customers = s.scalar(select(Customer.id).limit(1))
    assert row.did == "4008" and row.end_reason == "hangup"
    assert row.wrap_up_notes == "called back\nok"
    assert row.ivr_path == "main > ask"
    assert {("phone", "13900139000"), ("account", "A10")} <= identities  # digits kept
    assert customers is not None
    assert stored[0]["identities"] == {"phone": "1390013\ufffd9000"}
    assert stored[1]["steps"] == [["main", "1"], ["ask", "地址"]]
    assert stored[-1]["notes"] == "called back\nok"
    assert not any("\x00" in str(d) for d in stored)


def test_caller_text_longer_than_its_column_is_cut_to_fit_not_refused(
    session_factory: SessionFactory,
) -> None:
    iid = "long-1"
    events = [
        RecordEvent.of(iid, at(0), InteractionStarted("voice", {}, did="4" * 100, flow="f" * 90)),
        RecordEvent.of(iid, at(9), Ended("system", "r" * 300, "fallback")),
    ]
    with session_factory.begin() as s:
        assert all(record(s, e) for e in events)
    with session_factory() as s:
        row = s.scalars(select(Interaction).where(Interaction.id == iid)).one()
        stored = list(s.scalars(select(InteractionEvent.data).order_by(InteractionEvent.at)))
    assert row.did == "4" * 63 + "…" and len(row.flow or "") == 64
    assert len(row.end_reason or "") == 128 and row.end_reason.endswith("…")  # type: ignore[union-attr]
    assert stored[0]["did"] == "4" * 100  # the event keeps the whole value
