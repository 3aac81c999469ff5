"""The bot's decisions, pure: a state, the customer's message and ranked candidates in; the
next state and one action out (cti/channels/chat/bot.py)."""

from __future__ import annotations

import pytest

from cti.channels.chat.bot import (
    Answer,
    BotSettings,
    BotState,
    Candidate,
    HandOver,
    Rephrase,
    Solved,
    asks_for_person,
    contained,
    decide,
    queries,
    quick_replies,
)
from cti.channels.chat.web.strings import STRINGS

S = BotSettings(min_confidence=0.5)
REFUND = Candidate("refund", "Refunds reach your card in 3-5 working days.", 0.8)
SHIPPING = Candidate("shipping", "Orders ship within 24 hours.", 0.6)
WEAK = Candidate("hours", "We are open 9-18.", 0.3)
NEW = BotState()


def answered(state: BotState = NEW, found: tuple[Candidate, ...] = (REFUND,)
             ) -> BotState:
    step = decide(state, "where is my refund", found, S)
    assert isinstance(step.action, Answer)
    return step.state


def test_a_confident_answer_is_sent_and_then_the_bot_asks_whether_it_helped() -> None:
    step = decide(BotState(), "where is my refund", [REFUND, SHIPPING], S)
    assert step.action == Answer(REFUND.answer, "refund", 0.8)
    assert step.state.asking and step.state.answers == 1


def test_an_answer_at_exactly_the_threshold_is_sent() -> None:
    edge = Candidate("refund", "yes", 0.5)
    assert isinstance(decide(BotState(), "refund?", [edge], S).action, Answer)


def test_low_confidence_hands_over_at_once() -> None:
    assert decide(BotState(), "my parrot speaks french", [WEAK], S).action == HandOver(
        "low_confidence")
    assert decide(BotState(), "hmm", [], S).action == HandOver("low_confidence")


@pytest.mark.parametrize("text", ["人工", "转人工", "我要人工客服", "AGENT please",
                                  "can I talk to a human?", "a real person", "Operator!",
                                  "Talk to a person"])
def test_asking_for_a_person_hands_over_whatever_the_state(text: str) -> None:
    assert asks_for_person(text)
    for state in (BotState(), answered()):
        assert decide(state, text, [REFUND], S).action == HandOver("asked_for_person")
    assert queries(BotState(), text, S) is None  # nothing to rank


@pytest.mark.parametrize("text", ["my personal details", "agency fees", "humanity",
                                  "where is my order"])
def test_words_that_only_look_like_asking_for_a_person_do_not_hand_over(text: str) -> None:
    assert not asks_for_person(text)


@pytest.mark.parametrize("text", ["yes", "Yes, that helped", "有帮助", "谢谢！", "ok"])
def test_yes_after_an_answer_is_solved_and_contained(text: str) -> None:
    step = decide(answered(), text, [], S)
    assert isinstance(step.action, Solved)
    assert contained(step.state)


def test_the_first_no_asks_to_rephrase_and_the_second_no_hands_over() -> None:
    first = decide(answered(), "no", [], S)
    assert isinstance(first.action, Rephrase) and not contained(first.state)
    again = answered(first.state, (REFUND, SHIPPING))
    second = decide(again, "没有帮助", [], S)
    assert second.action == HandOver("unhelpful")


def test_a_refused_answer_is_not_offered_again() -> None:
    refused = decide(answered(), "nope", [], S).state
    step = decide(refused, "my refund is late", [REFUND, SHIPPING], S)
    assert step.action == Answer(SHIPPING.answer, "shipping", 0.6)
    only_refused = decide(refused, "my refund is late", [REFUND], S)
    assert only_refused.action == HandOver("low_confidence")


def test_yes_or_no_before_any_answer_is_an_ordinary_question() -> None:
    assert queries(BotState(), "no", S) == ("no",)
    assert decide(BotState(), "yes", [], S).action == HandOver("low_confidence")


def test_a_new_question_instead_of_yes_or_no_is_ranked_with_the_earlier_ones() -> None:
    state = answered()
    assert queries(state, "and the shipping?", S) == ("where is my refund", "and the shipping?")
    step = decide(state, "and the shipping?", [SHIPPING], S)
    assert step.action == Answer(SHIPPING.answer, "shipping", 0.6)
    assert step.state.answers == 2


def test_only_the_last_three_questions_are_ranked() -> None:
    state = BotState(questions=("a", "b", "c"))
    assert queries(state, "d", S) == ("b", "c", "d")


def test_a_file_hands_over() -> None:
    assert decide(BotState(), "", [REFUND], S).action == HandOver("file")


def test_ending_before_any_answer_or_after_a_refused_one_is_not_contained() -> None:
    assert not contained(BotState())
    assert contained(answered())
    assert not contained(decide(answered(), "no", [], S).state)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_quick_replies_are_understood_by_the_bot_itself(lang: str) -> None:
    yes, person = quick_replies(lang)
    assert (yes["text"], person["text"]) == (STRINGS[lang]["bot_yes"],
                                             STRINGS[lang]["bot_person"])
    assert isinstance(decide(answered(), yes["text"], [], S).action, Solved)
    assert decide(answered(), person["text"], [], S).action == HandOver("asked_for_person")


def test_bot_first_is_switched_on_by_the_environment_and_off_by_default() -> None:
    from cti.app.config import load_config

    assert load_config(env={}).chat.bot_first is False
    cfg = load_config(env={"HOTLINE_CHAT_BOT_FIRST": "true",
                           "HOTLINE_CHAT_BOT_MIN_CONFIDENCE": "0.6"})
    assert (cfg.chat.bot_first, cfg.chat.bot_min_confidence) == (True, 0.6)
