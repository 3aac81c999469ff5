"""The message catalogue: every system text in Chinese and English (Korean where the speech
menus speak it), the same placeholders in every language, and a lookup that falls back."""

from __future__ import annotations

import pytest

from ivr_flows.core import messages
from ivr_flows.core.messages import MESSAGES, has_message, message, placeholders, template
from ivr_flows.touch.view import problem_page, ui_text

QUEUE_IDS = {"queue.position": {"position"}, "queue.expected_wait": {"minutes"},
             "queue.no_agent": set(), "queue.callback": set()}


@pytest.mark.parametrize("msg_id", sorted(MESSAGES))
def test_every_message_speaks_chinese_and_english(msg_id: str) -> None:
    texts = MESSAGES[msg_id]
    assert {"zh", "en"} <= set(texts), msg_id
    assert all(text.strip() for text in texts.values()), msg_id


@pytest.mark.parametrize("msg_id", messages.ids("speech."))
def test_speech_menu_messages_speak_korean_too(msg_id: str) -> None:
    assert has_message(msg_id, "ko")


@pytest.mark.parametrize("msg_id", sorted(MESSAGES))
def test_placeholders_are_the_same_in_every_language(msg_id: str) -> None:
    names = {lang: placeholders(text) for lang, text in MESSAGES[msg_id].items()}
    assert len(set(names.values())) == 1, names


def test_the_voice_queue_messages_are_in_the_catalogue_with_their_placeholders() -> None:
    for msg_id, names in QUEUE_IDS.items():
        assert placeholders(template(msg_id, "zh")) == names, msg_id
    assert message("queue.position", "en", position=3) == "You are number 3 in the queue."
    assert message("queue.expected_wait", "zh", minutes=2) == "预计等待时间约2分钟。"


def test_a_language_without_the_message_gets_english_then_the_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert message("queue.no_agent", "ko") == message("queue.no_agent", "en")
    assert not has_message("queue.no_agent", "ko")
    monkeypatch.setattr(messages, "MESSAGES", {"only.zh": {"zh": "只有中文"}})
    assert message("only.zh", "zh") == "只有中文"
    assert message("only.zh", "en") == "only.zh"


def test_an_unknown_message_id_is_a_bug() -> None:
    with pytest.raises(KeyError):
        message("speech.agian", "en")
    with pytest.raises(KeyError):
        has_message("no.such", "en")


def test_a_placeholder_without_a_value_is_left_empty() -> None:
    assert message("speech.confirm", "en") == "? Yes: press 1. No: press 2."
    assert message("speech.confirm", "en", label="Agent") == "Agent? Yes: press 1. No: press 2."


def test_the_touch_page_words_come_from_the_catalogue() -> None:
    en, zh, other = ui_text("en"), ui_text("zh"), ui_text("ja")
    assert set(en) == set(zh) == {i.removeprefix("touch.") for i in messages.ids("touch.")}
    assert {"back", "submit", "queue_heading", "callback_message", "language"} <= set(en)
    assert zh["back"] == "返回" and en["back"] == "Back"
    assert other == en  # a language the page does not speak: English


def test_a_problem_page_says_it_in_both_languages_and_unknown_codes_are_bad_input() -> None:
    page = problem_page("link_expired")
    assert (page.heading_zh, page.heading_en) == ("链接已过期", "This link has expired")
    odd = problem_page("weird")
    assert odd.code == "weird" and odd.heading_en == problem_page("bad_input").heading_en
