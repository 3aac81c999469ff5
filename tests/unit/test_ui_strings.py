"""The chat panel's and the agent desktop's words: every language has every key, with the
same placeholders, and nothing that would only work as HTML."""

from __future__ import annotations

import re

import pytest

from cti.agents.desktop.strings import STRINGS as DESK
from cti.channels.chat.web.strings import STRINGS as CHAT

TABLES = {"chat": CHAT, "desk": DESK}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@pytest.mark.parametrize("area", sorted(TABLES))
def test_english_and_chinese_have_the_same_keys(area: str) -> None:
    table = TABLES[area]
    assert set(table) == {"en", "zh"}
    assert set(table["en"]) == set(table["zh"])


@pytest.mark.parametrize("area", sorted(TABLES))
def test_a_key_has_the_same_placeholders_in_every_language(area: str) -> None:
    table = TABLES[area]
    for key, english in table["en"].items():
        assert set(PLACEHOLDER.findall(english)) == set(PLACEHOLDER.findall(table["zh"][key])), key


@pytest.mark.parametrize("area", sorted(TABLES))
def test_every_string_is_plain_non_empty_text(area: str) -> None:
    for lang, words in TABLES[area].items():
        for key, text in words.items():
            assert text.strip(), (lang, key)
            assert "<" not in text and ">" not in text, (lang, key)


def test_the_chat_panel_names_the_reasons_it_can_be_closed_for() -> None:
    for reason in ("no_agents", "after_hours", "other"):
        assert f"closed_{reason}" in CHAT["en"]


def test_the_desktop_labels_its_not_ready_reasons_and_its_sign_in_failure() -> None:
    for key in ("reason_break", "reason_lunch", "reason_training", "reason_meeting",
                "reason_after_call", "login_failed"):
        assert key in DESK["en"]
