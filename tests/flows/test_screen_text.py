"""A node's ``screen`` text (what the touch page shows instead of the spoken prompt): checked
like a prompt, with file:line errors; the voice side never sees it."""

from __future__ import annotations

import pytest

from ivr_flows.core.effects import Ask
from ivr_flows.core.errors import FlowInvalid
from ivr_flows.core.interpreter import start
from ivr_flows.core.model import Flow, MenuNode
from ivr_flows.loading.loader import parse_flow
from tests.contract_cases import OPEN

FLOW = """\
flow: screens
languages: [zh, en]
start: main
defaults: {{fallback: bye, invalid: {{zh: 错, en: Wrong.}}, no_input: {{zh: 无, en: None.}}}}
nodes:
  main:
    kind: menu
    prompt: {{zh: 查询请按1。, en: For orders press 1.}}
{screen}    options:
      - {{key: "1", label: {{zh: 查询, en: Orders}}, goto: bye}}
  bye:
    kind: hangup
    prompt: {{zh: 再见。, en: Goodbye.}}
"""


def flow_with(screen: str) -> Flow:
    return parse_flow(FLOW.format(screen=screen), "screens.yaml")


def errors_with(screen: str) -> list[str]:
    with pytest.raises(FlowInvalid) as info:
        flow_with(screen)
    return [str(e) for e in info.value.errors]


def test_a_screen_text_per_language_is_kept_beside_the_spoken_prompt() -> None:
    flow = flow_with("    screen: {zh: 请选择服务, en: 'How can we help?'}\n")
    main = flow.nodes["main"]
    assert isinstance(main, MenuNode) and main.screen is not None
    assert main.screen.text == {"zh": "请选择服务", "en": "How can we help?"}
    assert main.prompt.text["en"] == "For orders press 1."


def test_a_node_without_screen_text_has_none() -> None:
    assert flow_with("").nodes["main"].screen is None


def test_a_screen_text_missing_a_declared_language_is_refused_at_its_line() -> None:
    messages = errors_with("    screen: {zh: 请选择服务}\n")
    assert any(
        m.startswith("screens.yaml:9: node 'main': screen has no text in declared language 'en'")
        for m in messages
    ), messages


def test_a_screen_text_in_an_undeclared_language_or_empty_is_refused() -> None:
    messages = errors_with("    screen: {zh: 请选择服务, en: '', fr: Bonjour}\n")
    assert any(
        "screens.yaml:9: node 'main': screen text for 'en' must be non-empty" in m for m in messages
    ), messages
    assert any("screen has text in undeclared language 'fr'" in m for m in messages), messages


def test_a_screen_text_that_is_not_per_language_is_refused() -> None:
    messages = errors_with("    screen: 'How can we help?'\n")
    assert any(
        "screens.yaml:9: node 'main': screen must give text per language (zh, en)" in m
        for m in messages
    ), messages


def test_a_screen_text_using_a_variable_nothing_sets_is_refused() -> None:
    messages = errors_with("    screen: {zh: '{nobody}', en: '{nobody}'}\n")
    assert any(
        "node 'main': uses variable 'nobody', which nothing in the flow sets" in m for m in messages
    ), messages


def test_a_node_kind_without_a_prompt_takes_no_screen_text() -> None:
    text = FLOW.format(screen="").replace(
        "  bye:\n",
        "  check:\n    kind: branch\n    var: lang\n    cases: {}\n    default: bye\n"
        "    screen: {zh: 不, en: 'No'}\n  bye:\n",
    )
    text = text.replace("goto: bye}", "goto: check}")
    with pytest.raises(FlowInvalid) as info:
        parse_flow(text, "screens.yaml")
    assert any("unknown key 'screen' in a branch node" in str(e) for e in info.value.errors)


def test_the_voice_menu_still_speaks_the_prompt(demo_flow: Flow) -> None:
    _, effects = start(demo_flow, OPEN, lang="en")
    (ask,) = [e for e in effects if isinstance(e, Ask)]
    assert ask.prompt.text.startswith("For order status press 1")
    assert demo_flow.nodes["main"].screen is not None  # the touch page shows this instead
