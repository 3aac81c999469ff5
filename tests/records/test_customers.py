"""One customer across channels: identify, link, merge, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cti.records.customers import (
    Identity,
    IdentityError,
    find_customer,
    get_customer,
    identify,
    identities_from,
    link,
    normalize,
)
from cti.records.db import SessionFactory

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "raw", "stored"),
    [
        ("phone", "138 0013 8000", "13800138000"),
        ("phone", "+86 138-0013-8000", "13800138000"),
        ("phone", "0086 13800138000", "13800138000"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
        ("email", "  Li.Wei@Example.COM ", "li.wei@example.com"),
        ("account", " a1001 ", "A1001"),
        ("chat", " wx:abc ", "wx:abc"),
    ],
)
def test_identities_are_normalised(kind: str, raw: str, stored: str) -> None:
    assert normalize(kind, raw) == Identity(kind, stored)


@pytest.mark.parametrize(("kind", "raw"), [("fax", "1"), ("phone", " - "), ("email", "")])
def test_unusable_identities_are_refused(kind: str, raw: str) -> None:
    with pytest.raises(IdentityError) as info:
        normalize(kind, raw)
    assert info.value.code == "invalid_identity"


def test_identities_from_event_data_accepts_both_shapes_and_skips_bad_ones() -> None:
    assert identities_from({"phone": "+8613800138000", "fax": "1"}) == [
        Identity("phone", "13800138000")
    ]
    assert identities_from([{"kind": "account", "value": "a1"}, {"kind": "x"}]) == [
        Identity("account", "A1")
    ]
    assert identities_from(None) == []


def test_the_same_phone_in_another_format_finds_the_same_customer(
    session_factory: SessionFactory,
) -> None:
    with session_factory.begin() as s:
        first = identify(s, [normalize("phone", "13800138000")], NOW)
    with session_factory.begin() as s:
        again = identify(s, [normalize("phone", "+86 138 0013 8000")], NOW)
        other = identify(s, [normalize("phone", "13900000000")], NOW)
    assert first is not None and again == first and other != first
    with session_factory.begin() as s:
        assert identify(s, [], NOW) is None


def test_an_account_learnt_later_is_linked_to_the_callers_customer(
    session_factory: SessionFactory,
) -> None:
    with session_factory.begin() as s:
        customer = identify(s, [normalize("phone", "13800138000")], NOW)
        assert customer is not None
        assert link(s, customer, normalize("account", "A1001"), NOW) == customer
    with session_factory.begin() as s:
        assert find_customer(s, normalize("account", "a1001")) == customer
        info = get_customer(s, customer)
    assert info is not None
    assert info.identities == (Identity("phone", "13800138000"), Identity("account", "A1001"))


def test_two_customers_that_turn_out_to_be_one_are_merged_into_the_older(
    session_factory: SessionFactory,
) -> None:
    with session_factory.begin() as s:
        by_phone = identify(s, [normalize("phone", "13800138000")], NOW)
        by_chat = identify(s, [normalize("chat", "wx:li")], NOW)
        assert by_phone is not None and by_chat is not None and by_phone < by_chat
        # the chat user gives the phone number: same person
        assert link(s, by_chat, normalize("phone", "13800138000"), NOW) == by_phone
    with session_factory.begin() as s:
        assert find_customer(s, normalize("chat", "wx:li")) == by_phone
        merged = get_customer(s, by_chat)  # the old id still leads to the survivor
        assert merged is not None and merged.id == by_phone
        assert {i.kind for i in merged.identities} == {"phone", "chat"}


def test_identify_with_identities_of_two_customers_merges_them(
    session_factory: SessionFactory,
) -> None:
    with session_factory.begin() as s:
        a = identify(s, [normalize("phone", "13800138000")], NOW)
        b = identify(s, [normalize("email", "li@example.com")], NOW)
        both = identify(
            s, [normalize("email", "li@example.com"), normalize("phone", "13800138000")], NOW
        )
    assert a is not None and b is not None and both == min(a, b)
