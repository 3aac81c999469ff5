"""One node of a flow file (and its options and retry settings) into model objects.

Which keys each node kind may have, and their types and ranges, are checked here; the
graph checks (gotos, reachability, loops) come later, in ``ivr_flows.core.validate``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ivr_flows.core import model as m
from ivr_flows.loading.patterns import pattern_problem
from ivr_flows.loading.reader import NAME, Reader

TIMEOUT_RANGE = (1, 60)
RETRY_RANGE = (0, 5)
DIGITS_RANGE = (1, 32)
COMMON = {"kind", "prompt", "screen"}  # screen: the touch page's text
NODE_KEYS: dict[str, set[str]] = {
    "menu": COMMON | {"options", "timeout", "retries", "invalid", "no_input", "fallback", "speech",
                      "question"},
    "collect": COMMON | {"var", "min_digits", "max_digits", "pattern", "next", "timeout",
                         "retries", "invalid", "no_input", "fallback", "terminator"},
    "say": COMMON | {"next"},
    "action": COMMON | {"action", "args", "ok", "not_found", "error"},
    "branch": {"kind", "var", "cases", "default"},
    "hours": {"kind", "schedule", "open", "closed"},
    "queue": COMMON | {"queue", "priority", "skills", "attributes"},
    "callback": COMMON | {"queue", "number_var", "priority"},
    "send_link": COMMON | {"resume", "next", "error"},
    "transfer": COMMON | {"to"},
    "hangup": COMMON,
}
OPTION_KEYS = {"key", "label", "goto", "phrases", "set"}
DEFAULTS_KEYS = {"timeout", "retries", "fallback", "invalid", "no_input"}


def _retry(r: Reader, d: dict[str, Any], path: tuple[Any, ...],
           defaults: dict[str, Any]) -> m.Retry:
    own: dict[str, Any] = {k: d[k] for k in ("timeout", "retries", "fallback", "invalid",
                                             "no_input") if k in d}
    merged: dict[str, Any] = {**defaults, **own}
    timeout = r.number(merged, "timeout", path, 5, TIMEOUT_RANGE)
    retries = r.number(merged, "retries", path, 2, RETRY_RANGE)
    fallback = r.text(merged, "fallback", path)
    if "invalid" not in merged or "no_input" not in merged:
        r.err(path, "needs 'invalid' and 'no_input' prompts (here or in 'defaults')", "missing")
    invalid = r.prompt(merged.get("invalid", {}), (*path, "invalid") if "invalid" in d
                       else ("defaults", "invalid"), "invalid")
    no_input = r.prompt(merged.get("no_input", {}), (*path, "no_input") if "no_input" in d
                        else ("defaults", "no_input"), "no_input")
    return m.Retry(timeout, retries, invalid, no_input, fallback)


def _options(r: Reader, v: Any, path: tuple[Any, ...]) -> tuple[m.Option, ...]:
    if not isinstance(v, list) or not v:
        r.err(path, "a menu needs a non-empty list of 'options'", "missing")
        return ()
    out: list[m.Option] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(v):
        opath = (*path, i)
        d = r.mapping(raw, opath, "an option")
        r.unknown_keys(d, OPTION_KEYS, opath, "an option")
        key = r.text(d, "key", opath)
        if key and key not in m.DTMF_KEYS:
            r.err((*opath, "key"), f"option key {key!r} is not one DTMF key (0-9, *, #)", "key")
        if key in seen:
            r.err((*opath, "key"), f"duplicate option key {key!r} (also option {seen[key] + 1})",
                  "duplicate_key")
        seen.setdefault(key, i)
        if "label" not in d:
            r.err(opath, f"option {key!r} has no 'label'", "missing")
        label = r.prompt(d.get("label", {}), (*opath, "label"), f"option {key!r} label").text
        phrases: dict[str, tuple[str, ...]] = {}
        for lang, words in r.mapping(d.get("phrases"), (*opath, "phrases"), "phrases").items():
            if lang not in r.languages:
                r.err((*opath, "phrases", lang), f"phrases in undeclared language '{lang}'",
                      "language")
            items = [words] if isinstance(words, str) else list(words or [])
            phrases[lang] = tuple(str(w).strip() for w in items if str(w).strip())
        sets = {str(k): str(val) for k, val in r.mapping(d.get("set"), (*opath, "set"),
                                                         "set").items()}
        if "lang" in sets and sets["lang"] not in r.languages:
            r.err((*opath, "set"), f"sets lang to undeclared language {sets['lang']!r}", "language")
        out.append(m.Option(key, label, r.text(d, "goto", opath), phrases, sets))
    return tuple(out)


def parse_node(r: Reader, node_id: str, v: Any, defaults: dict[str, Any]) -> m.Node | None:
    """One node; its optional ``screen`` (what the touch page shows instead of the spoken
    prompt) is checked like a prompt: a text per declared language, file:line on errors."""
    node = _node(r, node_id, v, defaults)
    if node is None or not isinstance(v, dict) or "screen" not in v \
            or "screen" not in NODE_KEYS[node.kind]:
        return node
    return replace(node, screen=r.opt_prompt(v, "screen", ("nodes", node_id)))


def _node(r: Reader, node_id: str, v: Any, defaults: dict[str, Any]) -> m.Node | None:
    path = ("nodes", node_id)
    if not NAME.match(node_id):
        r.err(path, "node ids are letters, digits and _ (starting with a letter)", "name")
    d = r.mapping(v, path, "a node")
    kind = d.get("kind")
    if kind not in NODE_KEYS:
        r.err((*path, "kind") if "kind" in d else path,
              f"unknown node kind {kind!r} (known: {', '.join(sorted(NODE_KEYS))})",
              "unknown_kind")
        return None
    r.unknown_keys(d, NODE_KEYS[kind], path, f"a {kind} node")
    line = r.doc.line(*path)
    prompt = r.opt_prompt(d, "prompt", path)
    needs_prompt = kind in ("menu", "collect", "say")
    if needs_prompt and prompt is None:
        r.err(path, f"a {kind} node needs a 'prompt'", "missing")
    p = prompt or m.Prompt({})
    text = r.text
    match kind:
        case "menu":
            speech = d.get("speech", False)
            if not isinstance(speech, bool):
                r.err((*path, "speech"), "'speech' must be true or false", "type")
                speech = False
            options = _options(r, d.get("options"), (*path, "options"))
            question = d.get("question", "")
            if question and str(question) not in {o.key for o in options}:
                r.err((*path, "question"), "'question' is the key of this menu's option that "
                      "reaches a person (e.g. \"0\")", "question")
                question = ""
            return m.MenuNode(node_id, line, p, options, _retry(r, d, path, defaults),
                              bool(speech), question=str(question or ""))
        case "collect":
            lo = r.number(d, "min_digits", path, 1, DIGITS_RANGE)
            hi = r.number(d, "max_digits", path, lo, DIGITS_RANGE)
            if lo > hi:
                r.err((*path, "min_digits"), f"min_digits {lo} is above max_digits {hi}", "range")
            pattern = d.get("pattern")
            if pattern is not None:
                try:
                    re.compile(str(pattern))
                except re.error as exc:
                    r.err((*path, "pattern"), f"pattern is not a valid regular expression: {exc}",
                          "value")
                    pattern = None
            if pattern is not None and (problem := pattern_problem(str(pattern))) is not None:
                r.err((*path, "pattern"), f"pattern {str(pattern)!r} {problem}", "pattern")
                pattern = None
            term = text(d, "terminator", path, "#")
            if term not in m.DTMF_KEYS:
                r.err((*path, "terminator"), "terminator must be one DTMF key", "key")
            return m.CollectNode(node_id, line, p, text(d, "var", path, pattern=NAME), lo, hi,
                                 None if pattern is None else str(pattern),
                                 text(d, "next", path), _retry(r, d, path, defaults), term)
        case "say":
            return m.SayNode(node_id, line, p, text(d, "next", path))
        case "action":
            outcomes = {o: text(d, o, path) for o in ("ok", "error")}
            if "not_found" in d:
                outcomes["not_found"] = text(d, "not_found", path)
            args = {str(k): str(a) for k, a in r.mapping(d.get("args"), (*path, "args"),
                                                         "args").items()}
            return m.ActionNode(node_id, line, text(d, "action", path), args, outcomes, prompt)
        case "branch":
            cases = {str(k): str(g) for k, g in r.mapping(d.get("cases"), (*path, "cases"),
                                                          "cases").items()}
            return m.BranchNode(node_id, line, text(d, "var", path), cases,
                                text(d, "default", path))
        case "hours":
            return m.HoursNode(node_id, line, text(d, "schedule", path), text(d, "open", path),
                               text(d, "closed", path))
        case "queue":
            skills: dict[str, int] = {}
            for s, level in r.mapping(d.get("skills"), (*path, "skills"), "skills").items():
                if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 100:
                    r.err((*path, "skills", s), f"skill level for {s!r} must be 0..100", "range")
                    continue
                skills[str(s)] = level
            attrs = {str(k): str(a) for k, a in r.mapping(d.get("attributes"),
                                                          (*path, "attributes"),
                                                          "attributes").items()}
            return m.QueueNode(node_id, line, text(d, "queue", path, pattern=NAME),
                               r.number(d, "priority", path, 5, (0, 10)), skills, attrs, prompt)
        case "callback":
            return m.CallbackNode(node_id, line, text(d, "queue", path, pattern=NAME),
                                  text(d, "number_var", path, "caller", pattern=NAME), prompt,
                                  priority=r.number(d, "priority", path, 5, (0, 10)))
        case "send_link":
            return m.SendLinkNode(node_id, line, text(d, "resume", path), text(d, "next", path),
                                  text(d, "error", path), prompt)
        case "transfer":
            return m.TransferNode(node_id, line, text(d, "to", path,
                                                      pattern=re.compile(r"^[A-Za-z0-9_+-]+$")),
                                  prompt)
        case _:
            return m.HangupNode(node_id, line, prompt)
