"""Flow files: the demo validates; broken files are refused with file, line and node."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr_flows.core.errors import FlowInvalid
from ivr_flows.core.validate import RESERVED_ACTIONS
from ivr_flows.loading.loader import load_flow_file, load_flows_dir, parse_flow

BROKEN = Path(__file__).resolve().parent.parent / "flows" / "broken"
SHIPPED = Path(__file__).resolve().parents[2] / "ivr_flows" / "flows"


def errors_of(name: str) -> list[str]:
    with pytest.raises(FlowInvalid) as info:
        load_flow_file(BROKEN / name)
    return [str(e) for e in info.value.errors]


def test_every_shipped_flow_validates() -> None:
    flows = load_flows_dir(SHIPPED)
    assert "demo_400" in flows
    assert set(flows["demo_400"].languages) == {"zh", "en"}


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("unknown_kind.yaml", ":7: node 'main': unknown node kind 'menuu'"),
        ("unknown_key.yaml", ":9: node 'main': unknown key 'colour' in a menu node"),
        ("duplicate_keys.yaml", ":11: node 'main': duplicate option key '1'"),
        ("duplicate_keys.yaml", ":14: node 'bye': duplicate key 'bye'"),
        ("dangling_goto.yaml", ":7: node 'main': goes to 'nowhere' (1), which is not a node"),
        ("unreachable.yaml", ":12: node 'orphan': is unreachable from the start node"),
        ("loop_without_input.yaml", "node 'a': loops without waiting for the caller: a -> b -> a"),
        ("missing_language.yaml", ":11: node 'main': prompt has no text in declared language 'en'"),
        ("missing_language.yaml", ":16: node 'main': option '2' has no 'label'"),
        ("timeout_range.yaml", ":10: node 'main': 'timeout' is 600, out of range 1..60"),
        ("timeout_range.yaml", ":11: node 'main': 'retries' is 9, out of range 0..5"),
        ("timeout_range.yaml", "min_digits 6 is above max_digits 4"),
        ("bad_yaml.yaml", ":6: not valid YAML"),
        ("reserved_action.yaml", ":7: action name 'send_link' is reserved"),
        ("reserved_action.yaml", ":16: node 'text_me': uses the reserved action name 'send_link'"),
    ],
)
def test_broken_flow_is_refused_with_file_line_and_node(file: str, expected: str) -> None:
    messages = errors_of(file)
    assert any(m.startswith(str(BROKEN / file)) for m in messages)
    assert any(expected in m for m in messages), messages


def test_one_bad_node_does_not_cascade_into_false_errors() -> None:
    # The misspelt kind is the only problem: no "start does not exist", no "unreachable".
    assert len(errors_of("unknown_kind.yaml")) == 1


def test_every_error_of_a_file_is_reported_at_once() -> None:
    assert len(errors_of("timeout_range.yaml")) == 3


@pytest.mark.parametrize("name", sorted(RESERVED_ACTIONS))
def test_every_reserved_name_is_refused_as_an_action_name(name: str) -> None:
    text = f"""
flow: reserved
languages: [en]
start: a
actions:
  {name}: {{url: /x}}
nodes:
  a: {{kind: action, action: {name}, ok: b, error: b}}
  b: {{kind: hangup}}
"""
    with pytest.raises(FlowInvalid) as info:
        parse_flow(text, "reserved.yaml")
    assert [e.code for e in info.value.errors] == ["reserved", "reserved"]
    assert {(e.line, e.node) for e in info.value.errors} == {(6, None), (8, "a")}


def test_a_reserved_name_in_a_node_is_refused_even_when_not_declared() -> None:
    text = """
flow: reserved
languages: [en]
start: a
nodes:
  a: {kind: action, action: send_link, ok: b, error: b}
  b: {kind: hangup}
"""
    with pytest.raises(FlowInvalid) as info:
        parse_flow(text, "reserved.yaml")
    assert [(e.code, e.node) for e in info.value.errors] == [("reserved", "a")]


def test_unknown_variable_in_a_prompt_is_an_error() -> None:
    text = """
flow: vars
languages: [en]
start: a
nodes:
  a: {kind: say, prompt: "Your order {order_idd:digits}.", next: b}
  b: {kind: hangup}
"""
    with pytest.raises(FlowInvalid, match="uses variable 'order_idd', which nothing in the flow"):
        parse_flow(text, "vars.yaml")


def test_unknown_action_and_schedule_are_errors() -> None:
    text = """
flow: refs
languages: [en]
start: a
nodes:
  a: {kind: hours, schedule: nope, open: b, closed: c}
  b: {kind: action, action: lookup, ok: c, error: c}
  c: {kind: hangup}
"""
    with pytest.raises(FlowInvalid) as info:
        parse_flow(text, "refs.yaml")
    text_errors = str(info.value)
    assert "refs.yaml:6: node 'a': unknown schedule 'nope'" in text_errors
    assert "refs.yaml:7: node 'b': unknown action 'lookup'" in text_errors


def test_option_key_must_be_one_dtmf_key() -> None:
    text = """
flow: keys
languages: [en]
start: m
defaults: {fallback: m, invalid: Sorry., no_input: Sorry.}
nodes:
  m:
    kind: menu
    prompt: Choose.
    options:
      - {key: "12", label: Twelve, goto: m}
      - {key: "A", label: A, goto: m}
"""
    with pytest.raises(FlowInvalid) as info:
        parse_flow(text, "keys.yaml")
    assert "option key '12' is not one DTMF key" in str(info.value)
    assert "option key 'A' is not one DTMF key" in str(info.value)


def test_empty_and_non_mapping_files_are_refused() -> None:
    with pytest.raises(FlowInvalid, match="empty"):
        parse_flow("", "empty.yaml")
    with pytest.raises(FlowInvalid, match="a flow file is a mapping"):
        parse_flow("- a\n- b\n", "list.yaml")


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FlowInvalid, match="cannot read the file"):
        load_flow_file(tmp_path / "missing.yaml")


def test_two_files_with_one_flow_name_are_refused(tmp_path: Path) -> None:
    src = (SHIPPED / "demo_400.yaml").read_text(encoding="utf-8")
    (tmp_path / "a.yaml").write_text(src, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(src, encoding="utf-8")
    with pytest.raises(FlowInvalid, match="used by another file"):
        load_flows_dir(tmp_path)


def collect_flow(pattern: str, timezone: str = "Asia/Shanghai") -> str:
    return f"""
flow: digits
languages: [en]
timezone: {timezone}
start: ask
defaults: {{fallback: bye, invalid: Sorry., no_input: Sorry.}}
nodes:
  ask:
    kind: collect
    prompt: Your code?
    var: code
    min_digits: 6
    max_digits: 6
    pattern: '{pattern}'
    next: bye
  bye:
    kind: hangup
"""


def test_an_unknown_timezone_is_refused_at_check_time_with_its_line() -> None:
    with pytest.raises(FlowInvalid) as info:
        parse_flow(collect_flow("^[0-9]{6}$", timezone="Mars/Olympus"), "tz.yaml")
    assert [(e.line, e.code) for e in info.value.errors] == [(4, "timezone")]
    assert "tz.yaml:4: unknown time zone 'Mars/Olympus'" in str(info.value)


@pytest.mark.parametrize("zone", ["asia/shanghai", "../../etc/passwd", "/etc/localtime",
                                  "zone.tab", "Europe"])
def test_a_timezone_that_is_not_a_zone_is_refused(zone: str) -> None:
    with pytest.raises(FlowInvalid, match="unknown time zone"):
        parse_flow(collect_flow("^[0-9]{6}$", timezone=f'"{zone}"'), "tz.yaml")


def test_a_known_timezone_and_a_plain_pattern_are_accepted() -> None:
    flow = parse_flow(collect_flow("^[0-9]{6}$", timezone="Europe/Paris"), "ok.yaml")
    assert flow.timezone == "Europe/Paris"
    assert parse_flow(collect_flow("^1[3-9][0-9]{4}$"), "ok.yaml").nodes["ask"]


@pytest.mark.parametrize("pattern", ["(0*)*1", "(a+)+$", "(0|00)+1", "(?:[0-9]+){3}",
                                     "([0-9]*)*", "(?P<d>0?){6}"])
def test_a_pattern_that_backtracks_catastrophically_is_refused_with_its_line(
        pattern: str) -> None:
    with pytest.raises(FlowInvalid) as info:
        parse_flow(collect_flow(pattern), "regex.yaml")
    assert [(e.line, e.node, e.code) for e in info.value.errors] == [(14, "ask", "pattern")]
    assert "backtracks exponentially" in str(info.value)
    assert str(info.value).startswith("regex.yaml:14: node 'ask': pattern ")


def test_a_pattern_with_many_variable_quantifiers_is_refused() -> None:
    with pytest.raises(FlowInvalid, match="variable quantifiers"):
        parse_flow(collect_flow("[0-9]*" * 6 + "5"), "regex.yaml")


@pytest.mark.parametrize("pattern", [r"^[0-9]{6}$", r"^\d{6}$", r"^(0|86)?[0-9]{4}$",
                                     r"(?:[0-9]{3}){2}", r"^[1-9][0-9]{5}$", r"[(*+)]{6}"])
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    assert parse_flow(collect_flow(pattern), "ok.yaml").nodes["ask"]
