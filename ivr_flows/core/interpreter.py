"""The flow interpreter: ``step(flow, state, input, now) -> (state, effects)``.

Pure: no I/O, no clock (``now`` is the flow's local wall-clock time, passed in), no globals.
Voice (AGI) and touch (ITR) renderers drive the same function; what differs is only how they
show effects and where inputs come from. The inputs, effects and the small serialisable
``State`` are in ``ivr_flows.core.effects``.

``start`` begins a session; ``step`` applies one input. Automatic nodes (say, branch, hours)
are walked until the flow waits for the caller (``Ask``), for a result (``Act``,
``SendLink``) or ends (``Exit``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from ivr_flows.core import model as m
from ivr_flows.core.effects import (
    Act,
    Ask,
    Back,
    Choice,
    Digits,
    Effect,
    Exit,
    Input,
    Result,
    Say,
    SendLink,
    SetLanguage,
    Speech,
    Spoken,
    State,
    Tap,
    Timeout,
    Value,
)

MAX_AUTOMATIC_STEPS = 64  # a validated flow never gets near; a guard, not a feature
MAX_HISTORY = 16
MAX_VAR_LEN = 256
SPEECH_MIN_CONFIDENCE = 0.5

# ---------------------------------------------------------------- helpers


def clean_value(value: str) -> str:
    """Variables are untrusted: keep printable characters only, bounded length."""
    out = "".join(ch for ch in str(value) if unicodedata.category(ch)[0] != "C")
    return out[:MAX_VAR_LEN]


def render(prompt: m.Prompt, key: str, state: State) -> Spoken:
    lang = state.lang if state.lang in prompt.text else next(iter(prompt.text), state.lang)
    parts: list[m.TextPart | Value] = []
    for part in m.parse_template(prompt.text.get(lang, "")):
        if isinstance(part, m.TextPart):
            parts.append(part)
        else:
            parts.append(Value(state.vars.get(part.name, ""), part.say_as))
    return Spoken(key, lang, tuple(parts), prompt.audio.get(lang))


def _fill(template: str, values: Mapping[str, str]) -> str:
    return "".join(p.text if isinstance(p, m.TextPart) else values.get(p.name, "")
                   for p in m.parse_template(template))


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s\W_]+", " ", text).strip()


def _ask(node: m.MenuNode | m.CollectNode, state: State) -> Ask:
    prompt = render(node.prompt, f"{node.id}.prompt", state)
    if isinstance(node, m.MenuNode):
        choices = tuple(Choice(o.key, o.label.get(state.lang, next(iter(o.label.values()), "")))
                        for o in node.options)
        phrases = {o.key: o.phrases.get(state.lang, ()) for o in node.options} if node.speech \
            else {}
        return Ask(node.id, prompt, choices, 1, 1, node.retry.timeout_s, "", phrases)
    return Ask(node.id, prompt, (), node.min_digits, node.max_digits, node.retry.timeout_s,
               node.terminator)


# ---------------------------------------------------------------- running


def _enter(flow: m.Flow, state: State, target: str) -> State:
    return replace(state, node=target, attempts=0, waiting="input")


def _finish(state: State, exit_: Exit) -> tuple[State, list[Effect]]:
    return replace(state, waiting="done", exit=exit_), [exit_]


def _run(flow: m.Flow, state: State, now: datetime,
         effects: list[Effect]) -> tuple[State, tuple[Effect, ...]]:
    """Walk automatic nodes until the flow waits for the caller, a result, or exits."""
    for _ in range(MAX_AUTOMATIC_STEPS):
        node = flow.nodes[state.node]

        def say(p: m.Prompt | None, st: State = state, nid: str = node.id) -> None:
            if p is not None and p.text:
                effects.append(Say(render(p, f"{nid}.prompt", st)))

        match node:
            case m.MenuNode() | m.CollectNode():
                effects.append(_ask(node, state))
                return replace(state, waiting="input"), tuple(effects)
            case m.SayNode():
                say(node.prompt)
                state = _enter(flow, state, node.next)
            case m.ActionNode():
                say(node.prompt)
                spec = flow.actions[node.action]
                args = {k: _fill(v, state.vars) for k, v in node.args.items()}
                effects.append(Act(spec.name, args))
                return replace(state, waiting="result"), tuple(effects)
            case m.SendLinkNode():
                say(node.prompt)
                effects.append(SendLink(node.id, node.resume, state.vars.get("caller", "")))
                return replace(state, waiting="result"), tuple(effects)
            case m.BranchNode():
                state = _enter(flow, state, node.cases.get(state.vars.get(node.var, ""),
                                                           node.default))
            case m.HoursNode():
                is_open = flow.schedules[node.schedule].is_open(now)
                state = _enter(flow, state, node.open if is_open else node.closed)
            case m.QueueNode():
                say(node.prompt)
                attrs = {k: _fill(v, state.vars) for k, v in node.attributes.items()}
                st, more = _finish(state, Exit("queue", node.id, node.queue, node.priority,
                                               dict(node.skills), attrs))
                return st, tuple(effects + more)
            case m.CallbackNode():
                say(node.prompt)
                number = state.vars.get(node.number_var, "")
                st, more = _finish(state, Exit("callback", node.id, node.queue, node.priority,
                                               attributes={"number": number}))
                return st, tuple(effects + more)
            case m.TransferNode():
                say(node.prompt)
                st, more = _finish(state, Exit("transfer", node.id, node.to))
                return st, tuple(effects + more)
            case m.HangupNode():
                say(node.prompt)
                st, more = _finish(state, Exit("hangup", node.id, reason="flow"))
                return st, tuple(effects + more)
    st, more = _finish(state, Exit("hangup", state.node, reason="loop"))
    return st, tuple(effects + more)


def start(flow: m.Flow, now: datetime, *, lang: str | None = None,
          vars: Mapping[str, str] | None = None, at: str | None = None,
          history: tuple[str, ...] = ()) -> tuple[State, tuple[Effect, ...]]:
    """Begin a session at the flow's start (or at node ``at``, for a link sent to a phone)."""
    language = lang if lang in flow.languages else flow.default_language
    node = at if at in flow.nodes else flow.start
    clean = {k: clean_value(v) for k, v in (vars or {}).items()}
    clean["lang"] = language
    state = State(flow.name, node, language, clean, history=history[-MAX_HISTORY:])
    return _run(flow, state, now, [])


def _wrong(flow: m.Flow, node: m.MenuNode | m.CollectNode, state: State, silent: bool,
           now: datetime) -> tuple[State, tuple[Effect, ...]]:
    """A wrong or missing answer: say why and ask again, or after the retries, fall back."""
    attempts = state.attempts + 1
    prompt = node.retry.no_input if silent else node.retry.invalid
    key = f"{node.id}.{'no_input' if silent else 'invalid'}"
    effects: list[Effect] = [Say(render(prompt, key, state))]
    if attempts > node.retry.retries:
        return _run(flow, _enter(flow, state, node.retry.fallback), now, effects)
    state = replace(state, attempts=attempts)
    effects.append(_ask(node, state))
    return state, tuple(effects)


def _go(flow: m.Flow, state: State, target: str, now: datetime,
        sets: Mapping[str, str] | None = None) -> tuple[State, tuple[Effect, ...]]:
    new_vars = {**state.vars, **(sets or {})}
    lang = new_vars.get("lang", state.lang)
    if lang not in flow.languages:
        lang = state.lang
    new_vars["lang"] = lang
    history = (*state.history, state.node)[-MAX_HISTORY:]
    moved = replace(state, node=target, vars=new_vars, lang=lang, attempts=0,
                    history=history, waiting="input")
    return _run(flow, moved, now, [])


def _choose(node: m.MenuNode, state: State, inp: Input) -> m.Option | None:
    if isinstance(inp, Digits | Tap):
        key = inp.digits if isinstance(inp, Digits) else inp.key
        return next((o for o in node.options if o.key == key), None)
    if isinstance(inp, Speech) and inp.confidence >= SPEECH_MIN_CONFIDENCE:
        heard = _normalise(inp.text)
        if not heard:
            return None
        for opt in node.options:
            for phrase in opt.phrases.get(state.lang, ()):
                if _normalise(phrase) == heard:
                    return opt
        for opt in node.options:
            for phrase in opt.phrases.get(state.lang, ()):
                p = _normalise(phrase)
                if p and (p in heard if len(p) > 1 else False):
                    return opt
    return None


def step(flow: m.Flow, state: State, inp: Input,
         now: datetime) -> tuple[State, tuple[Effect, ...]]:
    """Apply one caller input (or action result) to a session."""
    if state.waiting == "done" or state.node not in flow.nodes:
        return state, ()
    node = flow.nodes[state.node]

    if isinstance(inp, SetLanguage):
        if inp.lang not in flow.languages or state.waiting != "input":
            return state, ()
        state = replace(state, lang=inp.lang, vars={**state.vars, "lang": inp.lang})
        return _run(flow, state, now, [])
    if isinstance(inp, Back):
        if state.waiting != "input":
            return state, ()
        if not state.history:
            return _run(flow, state, now, [])
        back = replace(state, node=state.history[-1], history=state.history[:-1], attempts=0)
        return _run(flow, back, now, [])

    if state.waiting == "result":
        if not isinstance(inp, Result):
            return state, ()  # callers' keys while a lookup runs are ignored, not lost in state
        return _result(flow, node, state, inp, now)
    if isinstance(inp, Result):
        return state, ()

    if isinstance(node, m.MenuNode):
        if isinstance(inp, Timeout):
            return _wrong(flow, node, state, True, now)
        opt = _choose(node, state, inp)
        if opt is None:
            return _wrong(flow, node, state, False, now)
        return _go(flow, state, opt.goto, now, opt.set)
    if isinstance(node, m.CollectNode):
        if isinstance(inp, Timeout):
            return _wrong(flow, node, state, True, now)
        if not isinstance(inp, Digits):
            return _wrong(flow, node, state, False, now)
        digits = inp.digits.rstrip(node.terminator) if node.terminator else inp.digits
        if not (digits.isdigit() and digits.isascii()
                and node.min_digits <= len(digits) <= node.max_digits
                and (node.pattern is None or re.fullmatch(node.pattern, digits))):
            return _wrong(flow, node, state, False, now)
        return _go(flow, state, node.next, now, {node.var: digits})
    return state, ()


def _result(flow: m.Flow, node: m.Node, state: State, res: Result,
            now: datetime) -> tuple[State, tuple[Effect, ...]]:
    if isinstance(node, m.ActionNode):
        outcome = res.outcome if res.outcome in node.outcomes else "error"
        target = node.outcomes[outcome]
        values = {k: clean_value(v) for k, v in res.values.items()} if outcome == "ok" else {}
    elif isinstance(node, m.SendLinkNode):
        target = node.next if res.outcome == "ok" else node.on_error
        values = {}
    else:
        return state, ()
    moved = replace(state, node=target, vars={**state.vars, **values}, attempts=0,
                    waiting="input")
    return _run(flow, moved, now, [])
