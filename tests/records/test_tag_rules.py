"""The tag rules, pure: a repeat contact within the window, a back-end value mapped to a tag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cti.records.tag_rules import TagRules, repeat_tags, value_tags

NOW = datetime(2026, 4, 20, 9, 0, tzinfo=UTC)
RULES = TagRules(repeat_days=7, vip_var="account_tier", vip_values=frozenset({"vip", "gold"}))


def test_a_contact_within_the_window_is_a_repeat() -> None:
    assert repeat_tags(RULES, NOW, [NOW - timedelta(days=6, hours=23)]) == \
        (("repeat", "rule:repeat"),)


def test_a_contact_older_than_the_window_or_none_is_no_repeat() -> None:
    assert repeat_tags(RULES, NOW, [NOW - timedelta(days=8)]) == ()
    assert repeat_tags(RULES, NOW, []) == ()


def test_a_later_contact_does_not_make_this_one_a_repeat() -> None:
    assert repeat_tags(RULES, NOW, [NOW + timedelta(hours=1)]) == ()


def test_the_repeat_rule_is_off_with_zero_days() -> None:
    assert repeat_tags(TagRules(repeat_days=0), NOW, [NOW]) == ()


def test_a_vip_tier_from_the_back_end_gives_the_vip_tag() -> None:
    assert value_tags(RULES, {"account_tier": " VIP "}) == (("vip", "rule:vip"),)
    assert value_tags(RULES, {"account_tier": "gold"}) == (("vip", "rule:vip"),)


def test_another_tier_a_missing_variable_or_no_rule_gives_nothing() -> None:
    assert value_tags(RULES, {"account_tier": "standard"}) == ()
    assert value_tags(RULES, {"caller": "13800138000"}) == ()
    assert value_tags(RULES, {"account_tier": ["vip"]}) == ()
    assert value_tags(TagRules(), {"account_tier": "vip"}) == ()
