"""Customer tags in the records database, on SQLite and PostgreSQL: normalised, unique per
customer, kept by merges; the rules hook tags a repeat customer from the records stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cti.records import customers, tags
from cti.records.core.events import InteractionStarted, RecordEvent
from cti.records.db import SessionFactory
from cti.records.store import record_batch
from cti.records.tag_hook import TagHook
from cti.records.tag_rules import TagRules

NOW = datetime(2026, 4, 20, 9, 0, tzinfo=UTC)


def _customer(sf: SessionFactory, phone: str) -> int:
    with sf.begin() as session:
        cid = customers.identify(session, [customers.normalize("phone", phone)], NOW)
    assert cid is not None
    return cid


@pytest.mark.parametrize(("raw", "stored"), [
    ("  VIP ", "vip"), ("Complaint_2", "complaint_2"), ("投诉", "投诉"), ("ＶＩＰ", "vip"),
    ("a-b", "a-b"), ("x" * 32, "x" * 32), ("大客户vip", "大客户vip"),
])
def test_tags_are_normalised(raw: str, stored: str) -> None:
    assert tags.normalize_tag(raw) == stored


@pytest.mark.parametrize("raw", ["", "   ", "x" * 33, "a b", "<b>", "vip!", "a;drop", "\x00"])
def test_bad_tags_are_refused_with_a_stable_code(raw: str) -> None:
    with pytest.raises(tags.TagError) as caught:
        tags.normalize_tag(raw)
    assert caught.value.code == "invalid_tag"


def test_a_tag_is_added_once_and_removed(session_factory: SessionFactory) -> None:
    cid = _customer(session_factory, "13800138000")
    info, added = tags.add(session_factory, cid, " VIP", "agent:agent1001", NOW)
    assert added and info.tag == "vip"
    again, added_again = tags.add(session_factory, cid, "vip", "rule:vip", NOW)
    assert not added_again and again.source == "agent:agent1001"
    tags.add(session_factory, cid, "投诉", "agent:agent1001", NOW + timedelta(seconds=1))
    assert tags.names(tags.tags_of(session_factory, cid)) == ("vip", "投诉")
    assert tags.remove(session_factory, cid, "VIP")
    assert not tags.remove(session_factory, cid, "vip")
    assert tags.names(tags.tags_of(session_factory, cid)) == ("投诉",)


def test_a_bad_source_is_refused(session_factory: SessionFactory) -> None:
    cid = _customer(session_factory, "13800138000")
    with pytest.raises(tags.TagError) as caught:
        tags.add(session_factory, cid, "vip", "someone", NOW)
    assert caught.value.code == "invalid_source"


def test_a_customer_has_a_bounded_number_of_tags(session_factory: SessionFactory) -> None:
    cid = _customer(session_factory, "13800138000")
    for n in range(tags.MAX_TAGS):
        tags.add(session_factory, cid, f"t{n}", "agent:a1", NOW)
    with pytest.raises(tags.TagError) as caught:
        tags.add(session_factory, cid, "one-more", "agent:a1", NOW)
    assert caught.value.code == "too_many"


def test_tags_follow_a_merge_to_the_surviving_customer(session_factory: SessionFactory) -> None:
    first = _customer(session_factory, "13800138000")
    second = _customer(session_factory, "13900139000")
    tags.add(session_factory, second, "vip", "agent:a1", NOW)
    with session_factory.begin() as session:
        customers.merge(session, keep=first, absorb=second)
    assert tags.names(tags.tags_of(session_factory, first)) == ("vip",)
    assert tags.names(tags.tags_of(session_factory, second)) == ("vip",)
    phones = tags.tagged_phones(session_factory)
    assert phones == {"13800138000": ("vip",), "13900139000": ("vip",)}
    assert tags.remove(session_factory, first, "vip")
    assert tags.tagged_phones(session_factory) == {}


def test_the_customer_of_identities_is_found_or_created(session_factory: SessionFactory) -> None:
    assert tags.customer_of(session_factory, {"phone": "13800138000"}) is None
    made = tags.customer_of(session_factory, {"phone": "+86 138 0013 8000"}, create=True, now=NOW)
    assert made is not None
    assert tags.customer_of(session_factory, {"phone": "13800138000"}) == made
    assert tags.customer_of(session_factory, {}) is None


def _started(iid: str, at: datetime, phone: str) -> RecordEvent:
    return RecordEvent.of(iid, at, InteractionStarted("voice", {"phone": phone}, "400", "demo"))


def test_the_rules_hook_tags_a_customer_who_calls_again_within_the_window(
        session_factory: SessionFactory) -> None:
    published: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    hook = TagHook(TagRules(repeat_days=7), lambda p, t: published.append((p, t)))
    first = _started("call-1", NOW - timedelta(days=3), "13800138000")
    with session_factory.begin() as session:
        record_batch(session, [first])
    hook(session_factory, [first])
    assert published == []  # a first contact is no repeat
    second = _started("call-2", NOW, "13800138000")
    with session_factory.begin() as session:
        record_batch(session, [second])
    hook(session_factory, [second])
    hook(session_factory, [second])  # a replay changes nothing
    cid = tags.customer_of(session_factory, {"phone": "13800138000"})
    assert cid is not None
    infos = tags.tags_of(session_factory, cid)
    assert [(i.tag, i.source) for i in infos] == [("repeat", "rule:repeat")]
    assert published[-1] == (("13800138000",), ("repeat",))


def test_the_rules_hook_leaves_a_customer_whose_last_contact_is_older(
        session_factory: SessionFactory) -> None:
    hook = TagHook(TagRules(repeat_days=7))
    events = [_started("call-1", NOW - timedelta(days=30), "13800138000"),
              _started("call-2", NOW, "13800138000")]
    with session_factory.begin() as session:
        record_batch(session, events)
    hook(session_factory, events)
    cid = tags.customer_of(session_factory, {"phone": "13800138000"})
    assert cid is not None and tags.tags_of(session_factory, cid) == []
