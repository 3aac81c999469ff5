"""Property tests: any input sequence on any valid flow ends in a defined state."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr_flows.core.effects import (
    Ask,
    Back,
    Digits,
    Exit,
    Input,
    Result,
    Say,
    SetLanguage,
    Speech,
    Tap,
    Timeout,
)
from ivr_flows.core.interpreter import start, step
from ivr_flows.core.model import Flow
from ivr_flows.loading.loader import parse_flow

LANGS = ["zh", "en"]
KEYS = list("0123456789*#")


def _text(label: str) -> dict[str, str]:
    return {"zh": f"提示{label}", "en": f"Prompt {label}"}


@st.composite
def flows(draw: st.DrawFn) -> Flow:
    """A random valid flow: automatic nodes only move forward, so no loop lacks input."""
    n = draw(st.integers(3, 12))
    nodes: dict[str, dict[str, Any]] = {}
    ends = ["hangup", "queue", "callback", "transfer"]

    def later(i: int) -> str:
        return f"n{draw(st.integers(min(i + 1, n - 1), n - 1))}"

    def anywhere() -> str:
        return f"n{draw(st.integers(0, n - 1))}"

    for i in range(n):
        last = i == n - 1
        kind = draw(st.sampled_from(ends)) if last else draw(st.sampled_from(
            ["menu", "menu", "collect", "say", "action", "branch", "hours", *ends]))
        node: dict[str, Any] = {"kind": kind}
        if kind == "menu":
            keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=5, unique=True))
            node["prompt"] = _text(f"menu{i}")
            node["options"] = [{"key": k, "label": _text(k), "goto": anywhere(),
                                "phrases": {"en": [f"word{k}"]}} for k in keys]
            node["fallback"] = later(i) if not last else f"n{i}"
            node["retries"] = draw(st.integers(0, 2))
            node["speech"] = draw(st.booleans())
        elif kind == "collect":
            lo = draw(st.integers(1, 4))
            node.update(prompt=_text(f"collect{i}"), var="entered", min_digits=lo,
                        max_digits=draw(st.integers(lo, 6)), next=anywhere(), fallback=later(i))
        elif kind == "say":
            node.update(prompt={"zh": "值{caller:digits}", "en": "Value {caller:number}"},
                        next=later(i))
        elif kind == "action":
            node.update(action="lookup", args={"x": "{caller}"}, ok=later(i), error=later(i),
                        not_found=later(i))
        elif kind == "branch":
            node.update(var="status", cases={"a": later(i), "b": later(i)}, default=later(i))
        elif kind == "hours":
            node.update(schedule="office", open=later(i), closed=later(i))
        elif kind == "queue":
            node.update(queue="service", priority=3, skills={"general": 1},
                        attributes={"v": "{caller}"})
        elif kind == "callback":
            node.update(queue="callbacks", number_var="caller")
        elif kind == "transfer":
            node.update(to="agent1001")
        nodes[f"n{i}"] = node
    # Keep only nodes reachable from the start (unreachable ones are a validation error).
    seen: set[str] = set()
    todo = ["n0"]
    while todo:
        nid = todo.pop()
        if nid in seen:
            continue
        seen.add(nid)
        nd = nodes[nid]
        for key in ("next", "fallback", "ok", "error", "not_found", "default", "open", "closed"):
            if key in nd:
                todo.append(nd[key])
        todo += [o["goto"] for o in nd.get("options", [])]
        todo += list(nd.get("cases", {}).values())
    doc = {
        "flow": "random", "languages": LANGS, "start": "n0",
        "defaults": {"fallback": "n0", "invalid": _text("invalid"), "no_input": _text("silence")},
        "schedules": {"office": {"weekly": {"mon-fri": "09:00-18:00"}}},
        "actions": {"lookup": {"url": "/x/{caller}", "result": {"status": "status"}}},
        "nodes": {k: v for k, v in nodes.items() if k in seen},
    }
    return parse_flow(yaml.safe_dump(doc, allow_unicode=True), "random.yaml")


inputs = st.one_of(
    st.builds(Digits, st.text(alphabet="0123456789*#a\n", max_size=8)),
    st.builds(Tap, st.sampled_from([*KEYS, "x"])),
    st.builds(Speech, st.sampled_from(["word1", "word2", "", "nonsense"]),
              st.floats(0, 1)),
    st.just(Timeout()),
    st.just(Back()),
    st.builds(SetLanguage, st.sampled_from(["zh", "en", "fr"])),
    st.builds(Result, st.sampled_from(["ok", "not_found", "error", "weird"]),
              st.fixed_dictionaries({"status": st.sampled_from(["a", "b", "c"])})),
)


def check_effects(flow: Flow, effects: tuple[object, ...]) -> None:
    for e in effects:
        if isinstance(e, Say | Ask):
            assert e.prompt.lang in flow.languages
            assert e.prompt.parts, f"empty prompt {e.prompt.key}"
            assert e.prompt.key.split(".")[0] in flow.nodes
        if isinstance(e, Ask):
            assert e.node in flow.nodes and e.timeout_s >= 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow=flows(), seq=st.lists(inputs, max_size=25),
       minutes=st.integers(0, 7 * 24 * 60), lang=st.sampled_from(LANGS))
def test_any_input_sequence_ends_in_a_defined_state(flow: Flow, seq: list[Input], minutes: int,
                                                    lang: str) -> None:
    now = datetime(2026, 11, 23) + timedelta(minutes=minutes)
    state, effects = start(flow, now, lang=lang, vars={"caller": "13800138000"})
    check_effects(flow, effects)
    for inp in seq:
        state, effects = step(flow, state, inp, now)
        check_effects(flow, effects)
        assert state.node in flow.nodes
        assert state.waiting in ("input", "result", "done")
        if state.waiting == "done":
            assert state.exit is not None
        if effects and state.waiting == "input":
            assert isinstance(effects[-1], Ask), "waiting for input without asking: dead air"
        if effects and state.waiting == "done":
            assert isinstance(effects[-1], Exit)


@settings(max_examples=100, deadline=None)
@given(flow=flows(), minutes=st.integers(0, 7 * 24 * 60))
def test_a_silent_caller_always_reaches_an_exit(flow: Flow, minutes: int) -> None:
    """Timeouts and failing back-ends alone lead to an exit: never endless dead air.

    (In these random flows every fallback moves forward, as the demo flow's do.)"""
    now = datetime(2026, 11, 23) + timedelta(minutes=minutes)
    state, _ = start(flow, now)
    for _ in range(200):
        if state.waiting == "done":
            break
        inp: Input = Timeout() if state.waiting == "input" else Result("error")
        state, _ = step(flow, state, inp, now)
    assert state.waiting == "done" and state.exit is not None


@given(minutes=st.integers(0, 7 * 24 * 60))
def test_a_silent_caller_on_the_demo_line_reaches_a_person_or_a_goodbye(
        demo_flow: Flow, minutes: int) -> None:
    now = datetime(2026, 11, 23) + timedelta(minutes=minutes)
    state, _ = start(demo_flow, now)
    for _ in range(50):
        if state.waiting == "done":
            break
        state, _ = step(demo_flow, state, Timeout(), now)
    assert state.exit is not None and state.exit.kind in ("queue", "hangup")
