"""The flow interpreter, driven with the demo flow as a caller would drive it."""

from __future__ import annotations

import json
from datetime import datetime

from ivr_flows.core.effects import (
    Act,
    Ask,
    Back,
    Digits,
    Exit,
    Result,
    Say,
    SendLink,
    SetLanguage,
    Speech,
    State,
    Tap,
    Timeout,
)
from ivr_flows.core.interpreter import start, step
from ivr_flows.core.model import Flow

OPEN = datetime(2026, 11, 23, 10, 0)  # a Monday morning
CLOSED_NIGHT = datetime(2026, 11, 23, 23, 30)
NATIONAL_DAY = datetime(2026, 10, 1, 10, 0)  # a holiday, during normal hours
SATURDAY_EVENING = datetime(2026, 11, 28, 19, 0)


def asks(effects: tuple[object, ...]) -> list[Ask]:
    return [e for e in effects if isinstance(e, Ask)]


def said(effects: tuple[object, ...]) -> list[str]:
    return [e.prompt.text for e in effects if isinstance(e, Say)]


def test_call_starts_with_welcome_and_main_menu(demo_flow: Flow) -> None:
    state, effects = start(demo_flow, OPEN, vars={"caller": "13800138000"})
    assert said(effects) == ["您好，欢迎致电优选商城客服热线。"]
    (ask,) = asks(effects)
    assert ask.node == "main" and [c.key for c in ask.choices][:3] == ["1", "2", "3"]
    assert state.waiting == "input" and state.node == "main"


def test_order_status_reads_back_the_order(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN)
    state, _ = step(demo_flow, state, Digits("1"), OPEN)
    state, effects = step(demo_flow, state, Digits("12345678#"), OPEN)
    assert effects == (Act("order_status", {"order_id": "12345678"}),)
    state, effects = step(demo_flow, state,
                          Result("ok", {"order_status": "shipped", "eta_month": "11",
                                        "eta_day": "25"}), OPEN)
    assert said(effects) == ["您的订单12345678已发货，预计11月25日送达。"]
    spoken = next(e for e in effects if isinstance(e, Say)).prompt
    assert [p.say_as for p in spoken.parts if hasattr(p, "say_as")] == ["digits", "number",
                                                                         "number"]
    assert asks(effects)[0].node == "after_order"


def test_wrong_key_retries_then_falls_back_to_an_agent(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN)
    state, effects = step(demo_flow, state, Digits("7"), OPEN)
    assert said(effects) == ["对不起，您的输入有误。"] and asks(effects)[0].node == "main"
    state, effects = step(demo_flow, state, Timeout(), OPEN)
    assert said(effects) == ["对不起，我们没有收到您的按键。"] and asks(effects)
    state, effects = step(demo_flow, state, Digits("#"), OPEN)
    exit_ = effects[-1]
    assert isinstance(exit_, Exit) and exit_.kind == "queue" and exit_.target == "service"
    assert state.waiting == "done"


def test_fallback_out_of_hours_offers_a_callback_not_a_dead_end(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, CLOSED_NIGHT, vars={"caller": "13900001111"})
    for _ in range(3):
        state, effects = step(demo_flow, state, Timeout(), CLOSED_NIGHT)
    assert asks(effects)[0].node == "closed_menu"
    state, effects = step(demo_flow, state, Digits("1"), CLOSED_NIGHT)
    assert effects[-1] == Exit("callback", "callback", "callbacks", 5,
                               attributes={"number": "13900001111"})


def test_holiday_and_weekend_evening_are_closed(demo_flow: Flow) -> None:
    for when in (NATIONAL_DAY, SATURDAY_EVENING):
        _, effects = start(demo_flow, when)
        assert "现在是非人工服务时间，您仍可以使用自助服务。" in said(effects)


def test_invalid_order_number_gets_the_node_own_message(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN)
    state, _ = step(demo_flow, state, Digits("1"), OPEN)
    state, effects = step(demo_flow, state, Digits("123"), OPEN)
    assert said(effects) == ["订单号应为8位数字。"] and asks(effects)[0].node == "order_collect"
    state, effects = step(demo_flow, state, Digits("1234567a"), OPEN)
    assert said(effects) == ["订单号应为8位数字。"]


def test_backend_error_apologises_and_goes_to_an_agent(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN)
    state, _ = step(demo_flow, state, Digits("1"), OPEN)
    state, _ = step(demo_flow, state, Digits("67890123"), OPEN)
    state, effects = step(demo_flow, state, Result("error", {"error": "timeout"}), OPEN)
    assert said(effects)[0] == "抱歉，系统暂时无法查询。"
    assert isinstance(effects[-1], Exit) and effects[-1].kind == "queue"


def test_language_switch_by_key_and_by_input(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN)
    state, effects = step(demo_flow, state, Digits("9"), OPEN)
    assert state.lang == "en" and asks(effects)[0].prompt.text.startswith("For order status")
    state, effects = step(demo_flow, state, SetLanguage("zh"), OPEN)
    assert state.lang == "zh" and asks(effects)[0].choices[0].label == "查询订单"
    unchanged, effects = step(demo_flow, state, SetLanguage("fr"), OPEN)
    assert unchanged == state and effects == ()


def test_back_returns_to_the_previous_menu(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN)
    state, _ = step(demo_flow, state, Tap("2"), OPEN)
    assert state.node == "track_collect"
    state, effects = step(demo_flow, state, Back(), OPEN)
    assert state.node == "main" and asks(effects)[0].node == "main"


def test_speech_picks_the_option_whose_phrase_was_heard(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN)
    moved, _ = step(demo_flow, state, Speech("我要查询物流", 0.9), OPEN)
    assert moved.node == "track_collect"
    unsure, effects = step(demo_flow, state, Speech("查询物流", 0.2), OPEN)
    assert unsure.node == "main" and said(effects) == ["对不起，您的输入有误。"]


def test_keys_pressed_while_a_lookup_runs_are_ignored(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN)
    state, _ = step(demo_flow, state, Digits("1"), OPEN)
    state, _ = step(demo_flow, state, Digits("12345678"), OPEN)
    same, effects = step(demo_flow, state, Digits("5"), OPEN)
    assert same == state and effects == ()


def test_send_link_asks_the_edge_to_text_the_caller(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN, vars={"caller": "13800138000"})
    state, effects = step(demo_flow, state, Digits("5"), OPEN)
    assert effects == (SendLink("send_menu_link", "main", "13800138000"),)
    assert not any(isinstance(e, Act) for e in effects)  # a link is not a flow action
    assert state.waiting == "result"
    state, effects = step(demo_flow, state, Result("ok"), OPEN)
    assert said(effects)[0].startswith("我们已向您的手机发送了菜单链接")
    assert effects[-1] == Exit("hangup", "goodbye", reason="flow")


def test_a_link_that_was_not_sent_takes_the_error_branch(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN)  # no caller number: the edge answers "error"
    state, effects = step(demo_flow, state, Digits("5"), OPEN)
    assert effects == (SendLink("send_menu_link", "main", ""),)
    state, effects = step(demo_flow, state, Result("error"), OPEN)
    assert said(effects)[0] == "抱歉，短信暂时无法发送。"
    assert state.node == "main" and state.waiting == "input"


def test_state_survives_a_json_round_trip(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN, vars={"caller": "13800138000"})
    state, _ = step(demo_flow, state, Digits("1"), OPEN)
    copy = State.from_dict(json.loads(json.dumps(state.to_dict())))
    assert copy == state
    a = step(demo_flow, state, Digits("12345678"), OPEN)
    b = step(demo_flow, copy, Digits("12345678"), OPEN)
    assert a == b


def test_link_can_resume_at_a_node_with_entered_values(demo_flow: Flow) -> None:
    state, effects = start(demo_flow, OPEN, lang="en", vars={"order_id": "12345678"},
                           at="after_order")
    assert state.node == "after_order" and state.lang == "en"
    assert asks(effects)[0].prompt.text.startswith("To check another order")


def test_caller_supplied_values_are_stripped_of_control_characters(demo_flow: Flow) -> None:
    state, _ = start(demo_flow, OPEN, vars={"caller": "138\r\nHANGUP\x00" + "9" * 1000})
    assert "\n" not in state.vars["caller"] and "\x00" not in state.vars["caller"]
    assert len(state.vars["caller"]) <= 256
