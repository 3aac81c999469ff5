"""The voice session (``ivr_flows.voice.session``) against a scripted fake Asterisk that
answers with real AGI reply lines (as Asterisk 22 sends them), a fake prompt store, a fake
action runner and a fake link sender."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

import pytest

from ivr_flows.core.effects import Act, Exit, Result, SendLink, State
from ivr_flows.core.interpreter import start
from ivr_flows.core.model import Flow
from ivr_flows.loading.loader import parse_flow
from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.driver import Driver, Send, Work, drive_blocking
from ivr_flows.voice.exits import caller_vars, exit_variables, flow_name
from ivr_flows.voice.prompt_tools import PromptError
from ivr_flows.voice.session import CallOutcome, VoiceSession

OPEN = datetime(2026, 3, 2, 10, 0)  # a Monday morning: agents answer
CLOSED = datetime(2026, 3, 1, 20, 0)  # a Sunday evening
PLAYED = "200 result=0 endpos=16000"
SET = "200 result=1"
NO_KEY = "200 result=0"
MAIN_KEYS = "12345089"


def key(k: str) -> str:
    return f"200 result={ord(k)}"


class FakePrompts:
    """Same signatures as PromptStore; deterministic file names; can refuse some texts."""

    def __init__(self, refuse: Sequence[str] = ()) -> None:
        self.refuse = set(refuse)
        self.made: list[tuple[str, str]] = []

    def text_file(self, lang: str, text: str) -> str:
        if text in self.refuse:
            raise PromptError("tool_failed", "espeak-ng failed", lang=lang, text=text)
        self.made.append((lang, text))
        return path(lang, text)

    def say_text(self, lang: str, text: str) -> str:
        return self.text_file(lang, text)

    def flow_audio_file(self, flow: Flow, lang: str, audio: str) -> str:
        return f"/prompts/rec/{lang}/{hashlib.sha1(audio.encode()).hexdigest()[:10]}"


def path(lang: str, text: str) -> str:
    return f"/prompts/{lang}/{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def sf(text: str, escape: str = "", lang: str = "zh") -> str:
    return f'STREAM FILE {path(lang, text)} "{escape}"'


def menu(text: str, lang: str = "zh") -> str:
    """A menu's own prompt: GET DATA for one key (the wait starts inside the prompt)."""
    return f"GET DATA {path(lang, text)} 5000 1"


GOT_NO_KEY = "200 result= (timeout)"


def got(k: str) -> str:
    return f"200 result={k}"


class FakeRunner:
    def __init__(self, results: dict[str, Result] | None = None,
                 fail: bool = False) -> None:
        self.results = results or {}
        self.fail = fail
        self.calls: list[Act] = []

    def run(self, flow: Flow, act: Act) -> Result:
        self.calls.append(act)
        if self.fail:
            raise RuntimeError("back-end client blew up")
        return self.results.get(act.action, Result("not_found", {}))


class LinkSender:
    def __init__(self, outcome: str = "ok") -> None:
        self.outcome = outcome
        self.sent: list[tuple[str, str]] = []

    def __call__(self, flow: Flow, state: State, link: SendLink) -> Result:
        self.sent.append((link.to, link.resume))
        return Result(self.outcome, {})


class FakeAsterisk:
    """Answers each expected command with recorded reply lines; anything else fails the test."""

    def __init__(self, script: Sequence[tuple[str, str | Sequence[str]]]) -> None:
        self.script = list(script)
        self.sent: list[str] = []

    def send(self, line: str) -> agi.Reply:
        self.sent.append(line)
        assert self.script, f"unexpected command after the script ended: {line}"
        expected, replies = self.script.pop(0)
        if expected.endswith("*"):
            assert line.startswith(expected[:-1]), f"got {line!r}, expected {expected!r}"
        else:
            assert line == expected
        reader = agi.ReplyReader()
        for raw in [replies] if isinstance(replies, str) else replies:
            reply = reader.feed(raw)
            if reply is not None:
                return reply
        raise AssertionError("script reply is incomplete")


def run(flow: Flow, script: Sequence[tuple[str, str | Sequence[str]]], *,
        now: datetime = OPEN, runner: FakeRunner | None = None,
        prompts: FakePrompts | None = None, link: LinkSender | None = None,
        env: dict[str, str] | None = None) -> tuple[CallOutcome, FakeAsterisk]:
    asterisk = FakeAsterisk(script)
    session = VoiceSession(flow, prompts or FakePrompts(), runner or FakeRunner(),
                           link or LinkSender(), lambda f: now,
                           env if env is not None else {"agi_callerid": "13800138000",
                                                        "agi_uniqueid": "1718000000.1"})
    outcome = drive_blocking(session.run(), asterisk.send)
    assert not asterisk.script, f"commands never sent: {asterisk.script}"
    return outcome, asterisk


def text(flow: Flow, node: str, lang: str = "zh", which: str = "prompt") -> str:
    n = flow.nodes[node]
    if which == "prompt":
        return n.prompt.text[lang]  # type: ignore[union-attr]
    return str(getattr(n.retry, which).text[lang])  # type: ignore[union-attr]


def queue_exit(queue: str = "service", priority: int = 5,
               lang: str = "zh") -> list[tuple[str, str]]:
    return [('SET VARIABLE HOTLINE_EXIT "queue"', SET),
            (f'SET VARIABLE HOTLINE_LANG "{lang}"', SET),
            (f'SET VARIABLE HOTLINE_QUEUE "{queue}"', SET),
            (f'SET VARIABLE HOTLINE_PRIORITY "{priority}"', SET),
            ('SET VARIABLE HOTLINE_DONE "1"', SET)]


def test_order_status_call_barges_in_collects_digits_speaks_values_and_queues(
        demo_flow: Flow) -> None:
    f = demo_flow
    runner = FakeRunner({"order_status": Result("ok", {"order_status": "shipped",
                                                       "eta_month": "3", "eta_day": "5"})})
    after = "1*0"
    outcome, ast = run(f, [
        (sf(text(f, "welcome"), MAIN_KEYS), "200 result=49 endpos=8160"),  # presses 1 at once
        (f"GET DATA {path('zh', text(f, 'order_collect'))} 5000 8", "200 result=12345678"),
        (sf("您的订单", after), PLAYED),
        (f'SAY DIGITS 12345678 "{after}"', NO_KEY),
        (sf("已发货，预计", after), PLAYED),
        (f'SAY NUMBER 3 "{after}"', NO_KEY),
        (sf("月", after), PLAYED),
        (f'SAY NUMBER 5 "{after}"', NO_KEY),
        (sf("日送达。", after), PLAYED),
        (menu(text(f, "after_order")), got("0")),
        (sf(text(f, "agent_queue")), PLAYED),
        *queue_exit(),
    ], runner=runner)
    assert outcome.ended == "exit" and outcome.reason == "queue"
    assert outcome.exit is not None and outcome.exit.target == "service"
    assert runner.calls == [Act("order_status", {"order_id": "12345678"})]
    assert [(p.node, p.input) for p in outcome.path] == [
        ("welcome", "start"), ("main", "key 1"), ("order_collect", "digits x8"),
        ("order_lookup", "result ok"), ("after_order", "key 0")]
    assert "12345678" not in repr(outcome.path)  # collected digits only by count
    assert outcome.state["vars"]["caller"] == "13800138000"
    assert outcome.commands == len(ast.sent)


def test_silence_at_a_menu_is_a_timeout_retried_then_the_fallback(demo_flow: Flow) -> None:
    f = demo_flow
    no_input = text(f, "main", which="no_input")
    outcome, _ = run(f, [
        (sf(text(f, "welcome"), MAIN_KEYS), PLAYED),
        (menu(text(f, "main")), GOT_NO_KEY),
        (sf(no_input, MAIN_KEYS), PLAYED),
        (menu(text(f, "main")), GOT_NO_KEY),
        (sf(no_input, MAIN_KEYS), PLAYED),
        (menu(text(f, "main")), GOT_NO_KEY),
        (sf(no_input), PLAYED),  # the fallback says no more Ask: nothing to barge into
        (sf(text(f, "agent_queue")), PLAYED),
        *queue_exit(),
    ])
    assert [p.input for p in outcome.path] == ["start", "timeout", "timeout", "timeout"]
    assert outcome.reason == "queue"


def test_a_key_pressed_during_the_invalid_message_answers_the_reasked_question(
        demo_flow: Flow) -> None:
    f = demo_flow
    outcome, _ = run(f, [
        (sf(text(f, "welcome"), MAIN_KEYS), PLAYED),
        (menu(text(f, "main")), got("7")),  # not an option
        (sf(text(f, "main", which="invalid"), MAIN_KEYS), "200 result=48 endpos=320"),  # 0
        (sf(text(f, "agent_queue")), PLAYED),
        *queue_exit(),
    ])
    assert [p.input for p in outcome.path] == ["start", "key 7", "key 0"]


def test_collect_after_a_barge_in_continues_key_by_key_until_the_terminator(
        demo_flow: Flow) -> None:
    f = demo_flow
    collect_keys = "0123456789#"
    invalid = text(f, "order_collect", which="invalid")
    _, ast = run(f, [
        (sf(text(f, "welcome"), MAIN_KEYS), "200 result=49 endpos=8160"),
        (f"GET DATA {path('zh', text(f, 'order_collect'))} 5000 8", "200 result=123"),
        (sf(invalid, collect_keys), "200 result=57 endpos=100"),  # 9 during the apology
        ("WAIT FOR DIGIT 5000", key("8")),
        ("WAIT FOR DIGIT 5000", key("#")),
        (sf(invalid, collect_keys), PLAYED),
        (f"GET DATA {path('zh', text(f, 'order_collect'))} 5000 8", "200 result=-1"),
    ], env={})
    assert ast.sent[-1].startswith("GET DATA")


def test_get_data_timeout_without_digits_is_a_timeout(demo_flow: Flow) -> None:
    f = demo_flow
    outcome, _ = run(f, [
        (sf(text(f, "welcome"), MAIN_KEYS), "200 result=49 endpos=8160"),
        (f"GET DATA {path('zh', text(f, 'order_collect'))} 5000 8", "200 result= (timeout)"),
        (sf(text(f, "order_collect", which="no_input"), "0123456789#"), "200 result=-1"),
    ])
    assert [p.input for p in outcome.path][-1] == "timeout"
    assert outcome.ended == "hangup"


@pytest.mark.parametrize("reply, reason", [
    ("200 result=-1 endpos=1200", "caller_hangup"),
    ("HANGUP", "caller_hangup"),
    ("511 Command Not Permitted on a dead channel or intercept routine", "dead_channel"),
])
def test_a_hang_up_anywhere_ends_the_session_without_handing_over(demo_flow: Flow, reply: str,
                                                                  reason: str) -> None:
    outcome, ast = run(demo_flow, [(sf(text(demo_flow, "welcome"), MAIN_KEYS), reply)])
    assert (outcome.ended, outcome.reason, outcome.exit) == ("hangup", reason, None)
    assert not any("HOTLINE_DONE" in line for line in ast.sent)
    assert outcome.state["node"] == "main"


def test_an_unknown_command_reply_ends_the_session_as_an_error(demo_flow: Flow) -> None:
    outcome, _ = run(demo_flow, [(sf(text(demo_flow, "welcome"), MAIN_KEYS),
                                  ["520-Invalid command syntax.  Proper usage follows:",
                                   " Usage: STREAM FILE <filename> <escape digits>",
                                   "520 End of proper usage."])])
    assert (outcome.ended, outcome.reason) == ("error", "agi_refused")


def test_send_link_texts_the_caller_and_says_goodbye(demo_flow: Flow) -> None:
    f = demo_flow
    link = LinkSender("ok")
    runner = FakeRunner()
    outcome, _ = run(f, [
        (sf(text(f, "welcome"), MAIN_KEYS), "200 result=53 endpos=100"),  # 5
        (sf(text(f, "link_sent")), PLAYED),
        (sf(text(f, "goodbye")), PLAYED),
        ('SET VARIABLE HOTLINE_EXIT "hangup"', SET), ('SET VARIABLE HOTLINE_DONE "1"', SET),
    ], link=link, runner=runner)
    assert link.sent == [("13800138000", "main")]
    assert runner.calls == []  # the SendLink effect, not a back-end action
    assert outcome.reason == "hangup" and outcome.path[-1].input == "result ok"


def test_an_action_that_raises_is_an_error_outcome_not_a_dropped_call(demo_flow: Flow) -> None:
    f = demo_flow
    outcome, _ = run(f, [
        (sf(text(f, "welcome"), MAIN_KEYS), "200 result=52 endpos=100"),  # 4: password reset
        (sf(text(f, "backend_down")), PLAYED),
        (sf(text(f, "agent_queue")), PLAYED),
        *queue_exit(),
    ], runner=FakeRunner(fail=True))
    assert outcome.path[-1].input == "result error"


def test_text_values_are_synthesised_and_unspeakable_parts_are_skipped(demo_flow: Flow) -> None:
    f = demo_flow
    runner = FakeRunner({"delivery": Result("ok", {"carrier": "顺丰", "location": "上海",
                                                   "tracking_no": "SF1234"})})
    after = "1*0"
    prompts = FakePrompts(refuse=["上海"])
    outcome, _ = run(f, [
        (sf(text(f, "welcome"), MAIN_KEYS), "200 result=50 endpos=100"),  # 2: tracking
        (f"GET DATA {path('zh', text(f, 'track_collect'))} 5000 8", "200 result=23456789"),
        (sf("您的包裹由", after), PLAYED),
        (sf("顺丰", after), PLAYED),
        (sf("承运，运单号", after), PLAYED),
        (f'SAY DIGITS 1234 "{after}"', NO_KEY),  # digits of "SF1234"
        (sf("，目前在", after), PLAYED),
        (sf("。", after), PLAYED),  # the refused city is skipped
        (menu(text(f, "after_order")), "HANGUP"),
    ], runner=runner, prompts=prompts)
    assert ("zh", "顺丰") in prompts.made
    assert outcome.reason == "caller_hangup"


def test_a_prompt_text_that_cannot_be_made_is_skipped_and_the_call_goes_on(
        demo_flow: Flow) -> None:
    f = demo_flow
    prompts = FakePrompts(refuse=[text(f, "welcome")])
    outcome, _ = run(f, [
        (menu(text(f, "main")), got("0")),
        (sf(text(f, "agent_queue")), PLAYED),
        *queue_exit(),
    ], prompts=prompts)
    assert outcome.ended == "exit"


def test_outside_opening_hours_the_closed_notice_plays_and_callbacks_carry_the_number(
        demo_flow: Flow) -> None:
    f = demo_flow
    outcome, _ = run(f, [
        (sf(text(f, "welcome"), MAIN_KEYS), PLAYED),
        (sf(text(f, "closed_notice"), MAIN_KEYS), PLAYED),
        (menu(text(f, "main")), got("0")),
        (menu(text(f, "closed_menu")), got("1")),
        (sf(text(f, "callback")), PLAYED),
        ('SET VARIABLE HOTLINE_EXIT "callback"', SET), ('SET VARIABLE HOTLINE_LANG "zh"', SET),
        ('SET VARIABLE HOTLINE_QUEUE "callbacks"', SET),
        ('SET VARIABLE HOTLINE_PRIORITY "5"', SET),
        ('SET VARIABLE HOTLINE_CALLBACK_NUMBER "13800138000"', SET),
        ('SET VARIABLE HOTLINE_DONE "1"', SET),
    ], now=CLOSED)
    assert outcome.reason == "callback"


def test_choosing_english_switches_the_prompts(demo_flow: Flow) -> None:
    f = demo_flow
    outcome, _ = run(f, [
        (sf(text(f, "welcome"), MAIN_KEYS), key("9")),
        (menu(text(f, "main", "en"), "en"), got("0")),
        (sf(text(f, "agent_queue", "en"), "", "en"), PLAYED),
        *queue_exit(lang="en"),
    ])
    assert outcome.state["lang"] == "en"


def test_unsafe_exit_targets_leave_the_call_to_the_dialplan_fallback() -> None:
    state = State("f", "n", "zh", {})
    transfer = exit_variables(Exit("transfer", "n", "PJSIP/1&PJSIP/2,30"), state)
    assert not any("HOTLINE_DONE" in line for line in transfer)
    assert 'SET VARIABLE HOTLINE_TRANSFER_TO ""' in transfer
    queue = exit_variables(Exit("queue", "n", "svc\n${X}"), state)
    assert not any("HOTLINE_DONE" in line for line in queue)
    good = exit_variables(Exit("transfer", "n", "PJSIP/agent1001"), state)
    assert good[-1] == 'SET VARIABLE HOTLINE_DONE "1"'
    assert 'SET VARIABLE HOTLINE_TRANSFER_TO "PJSIP/agent1001"' in good
    assert all(len(agi.split_args(line)) == 4 for line in transfer + queue + good)


def test_only_a_plausible_caller_number_becomes_a_flow_variable() -> None:
    assert caller_vars({"agi_callerid": "13800138000"}) == {"caller": "13800138000"}
    assert caller_vars({"agi_callerid": "unknown"}) == {"caller": ""}
    assert caller_vars({"agi_callerid": '1"\nHANGUP'}) == {"caller": ""}


@pytest.mark.parametrize("env, name", [
    ({"agi_network": "yes", "agi_network_script": "demo_400"}, "demo_400"),
    ({"agi_network": "yes", "agi_network_script": "/demo_400?x=1"}, "demo_400"),
    ({"agi_network": "yes", "agi_network_script": "", "agi_arg_1": "demo_400"}, ""),
    ({"agi_request": "hotline-agi", "agi_arg_1": "demo_400"}, "demo_400"),
    ({"agi_arg_1": "../etc"}, ""),
])
def test_the_flow_comes_from_the_fastagi_path_or_the_first_argument(env: dict[str, str],
                                                                     name: str) -> None:
    assert flow_name(env) == name


def test_the_blocking_driver_throws_work_errors_into_the_generator() -> None:
    def gen() -> Driver[str]:
        try:
            yield Work(lambda: 1 / 0)
        except ZeroDivisionError:
            reply = yield Send("ANSWER")
            return str(reply.result)
        return ""

    assert drive_blocking(gen(), lambda line: agi.parse_reply("200 result=0")) == "0"


def test_interpreter_start_and_renderer_agree_on_the_first_prompt(demo_flow: Flow) -> None:
    _, effects = start(demo_flow, OPEN)
    assert effects[0].prompt.parts[0].text == text(demo_flow, "welcome")  # type: ignore[union-attr]


HASH_MENU = """
flow: hash_menu
title: {en: Hash menu}
languages: [en]
default_language: en
start: menu
defaults:
  fallback: bye
  invalid: {en: Invalid.}
  no_input: {en: No input.}
nodes:
  menu:
    kind: menu
    prompt: {en: "Press 1, or hash to repeat."}
    options:
      - {key: "1", label: {en: One}, goto: bye}
      - {key: "#", label: {en: Repeat}, goto: menu}
  bye:
    kind: hangup
    prompt: {en: Bye.}
"""


def test_a_menu_with_a_hash_option_plays_then_waits_for_the_key() -> None:
    # GET DATA would take "#" as the end of input, not as a key: the prompt is played with
    # the option keys as escape digits, then WAIT FOR DIGIT.
    f = parse_flow(HASH_MENU)
    outcome, _ = run(f, [
        (sf("Press 1, or hash to repeat.", "1#", "en"), PLAYED),
        ("WAIT FOR DIGIT 5000", key("#")),
        (sf("Press 1, or hash to repeat.", "1#", "en"), key("1")),
        (sf("Bye.", "", "en"), PLAYED),
        ('SET VARIABLE HOTLINE_EXIT "hangup"', SET), ('SET VARIABLE HOTLINE_DONE "1"', SET),
    ], env={})
    assert [p.input for p in outcome.path] == ["start", "key #", "key 1"]
