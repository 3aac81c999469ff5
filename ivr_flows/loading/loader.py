"""Flow files (YAML) to ``ivr_flows.core.model`` objects, with every error located.

``parse_flow(text, source)`` is pure: it takes the file's text and a name for messages.
``load_flow_file`` / ``load_flows_dir`` are the thin file-reading edge. The structural
checks (which keys a node may have, their types) live here; graph checks (gotos, reachability,
loops without input, language coverage) live in ``ivr_flows.core.validate``.
"""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Any

from ivr_flows.core import model as m
from ivr_flows.core.errors import FlowError, FlowInvalid
from ivr_flows.loading.yaml_lines import Located, load_located

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
TIMEOUT_RANGE = (1, 60)
RETRY_RANGE = (0, 5)
DIGITS_RANGE = (1, 32)
HTTP_METHODS = {"GET", "POST"}

TOP_KEYS = {"flow", "title", "languages", "default_language", "timezone", "start",
            "defaults", "schedules", "actions", "nodes"}
COMMON = {"kind", "prompt"}
NODE_KEYS: dict[str, set[str]] = {
    "menu": COMMON | {"options", "timeout", "retries", "invalid", "no_input", "fallback", "speech"},
    "collect": COMMON | {"var", "min_digits", "max_digits", "pattern", "next", "timeout",
                         "retries", "invalid", "no_input", "fallback", "terminator"},
    "say": COMMON | {"next"},
    "action": COMMON | {"action", "args", "ok", "not_found", "error"},
    "branch": {"kind", "var", "cases", "default"},
    "hours": {"kind", "schedule", "open", "closed"},
    "queue": COMMON | {"queue", "priority", "skills", "attributes"},
    "callback": COMMON | {"queue", "number_var"},
    "send_link": COMMON | {"resume", "next", "error"},
    "transfer": COMMON | {"to"},
    "hangup": COMMON,
}
OPTION_KEYS = {"key", "label", "goto", "phrases", "set"}
ACTION_KEYS = {"method", "url", "timeout", "result", "body"}


class _Reader:
    """Collects errors while turning a located document into model objects."""

    def __init__(self, doc: Located, source: str) -> None:
        self.doc = doc
        self.source = source
        self.errors: list[FlowError] = []
        self.languages: tuple[str, ...] = ()

    def err(self, path: tuple[Any, ...], message: str, code: str = "invalid") -> None:
        node = path[1] if len(path) >= 2 and path[0] == "nodes" else None
        self.errors.append(FlowError(self.source, self.doc.line(*path), node, message, code))

    # -- typed getters -------------------------------------------------------------------
    def text(self, d: dict[str, Any], key: str, path: tuple[Any, ...], default: str | None = None,
             pattern: re.Pattern[str] | None = None) -> str:
        if key not in d:
            if default is None:
                self.err(path, f"missing '{key}'", "missing")
                return ""
            return default
        v = d[key]
        if isinstance(v, int | float) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str) or not v.strip():
            self.err((*path, key), f"'{key}' must be non-empty text", "type")
            return ""
        if pattern is not None and not pattern.match(v):
            self.err((*path, key), f"'{key}' has an invalid value {v!r}", "value")
        return v

    def number(self, d: dict[str, Any], key: str, path: tuple[Any, ...], default: int,
               bounds: tuple[int, int]) -> int:
        v = d.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            self.err((*path, key), f"'{key}' must be a whole number", "type")
            return default
        lo, hi = bounds
        if not lo <= v <= hi:
            self.err((*path, key), f"'{key}' is {v}, out of range {lo}..{hi}", "range")
        return v

    def mapping(self, v: Any, path: tuple[Any, ...], what: str) -> dict[str, Any]:
        if v is None:
            return {}
        if not isinstance(v, dict):
            self.err(path, f"{what} must be a mapping", "type")
            return {}
        return v

    def unknown_keys(self, d: dict[str, Any], allowed: set[str], path: tuple[Any, ...],
                     what: str) -> None:
        for k in d:
            if k not in allowed:
                self.err((*path, k), f"unknown key '{k}' in {what} (allowed: "
                         f"{', '.join(sorted(allowed))})", "unknown_key")

    def prompt(self, v: Any, path: tuple[Any, ...], what: str = "prompt") -> m.Prompt:
        if isinstance(v, str):
            if len(self.languages) == 1:
                return m.Prompt({self.languages[0]: v})
            self.err(path, f"{what} must give text per language ({', '.join(self.languages)})",
                     "language")
            return m.Prompt({})
        d = self.mapping(v, path, what)
        texts: dict[str, str] = {}
        audio: dict[str, str] = {}
        for lang, text in d.items():
            if lang == "audio":
                for a_lang, a_file in self.mapping(text, (*path, "audio"), "audio").items():
                    audio[str(a_lang)] = str(a_file)
                continue
            if lang not in self.languages:
                self.err((*path, lang), f"{what} has text in undeclared language '{lang}'",
                         "language")
                continue
            if not isinstance(text, str) or not text.strip():
                self.err((*path, lang), f"{what} text for '{lang}' must be non-empty", "language")
                continue
            texts[lang] = text.strip()
        for lang in self.languages:
            if lang not in texts and d:
                self.err(path, f"{what} has no text in declared language '{lang}'", "language")
        return m.Prompt(texts, audio)

    def opt_prompt(self, d: dict[str, Any], key: str, path: tuple[Any, ...]) -> m.Prompt | None:
        return self.prompt(d[key], (*path, key), key) if key in d else None


def _time(s: str) -> time:
    h, _, mi = s.strip().partition(":")
    return time(int(h), int(mi or 0)) if h != "24" else time(23, 59, 59, 999999)


def _days(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.lower().split(","):
        a, _, b = part.strip().partition("-")
        lo, hi = WEEKDAYS[a], WEEKDAYS[b or a]
        out.extend(range(lo, hi + 1))
    return out


def _schedule(r: _Reader, name: str, v: Any) -> m.Schedule:
    path = ("schedules", name)
    d = r.mapping(v, path, "a schedule")
    r.unknown_keys(d, {"weekly", "holidays"}, path, "a schedule")
    weekly: dict[int, list[tuple[time, time]]] = {}
    for days, windows in r.mapping(d.get("weekly"), (*path, "weekly"), "weekly").items():
        wpath = (*path, "weekly", days)
        try:
            day_list = _days(str(days))
            spans = [windows] if isinstance(windows, str) else list(windows or [])
            for span in spans:
                start_s, _, end_s = str(span).partition("-")
                start, end = _time(start_s), _time(end_s)
                if not start < end:
                    raise ValueError(f"window {span!r} ends before it starts")
                for day in day_list:
                    weekly.setdefault(day, []).append((start, end))
        except (KeyError, ValueError, TypeError) as exc:
            r.err(wpath, f"bad opening hours {days!r}: {windows!r} ({exc}); "
                  "write e.g. mon-fri: \"09:00-18:00\"", "schedule")
    holidays: set[date] = set()
    raw_holidays = d.get("holidays") or []
    for i, h in enumerate(raw_holidays if isinstance(raw_holidays, list) else [raw_holidays]):
        try:
            holidays.add(h if isinstance(h, date) else date.fromisoformat(str(h)))
        except ValueError:
            r.err((*path, "holidays", i), f"holiday {h!r} is not a date (YYYY-MM-DD)", "schedule")
    return m.Schedule(name, {k: tuple(v) for k, v in weekly.items()}, frozenset(holidays))


def _action(r: _Reader, name: str, v: Any) -> m.ActionSpec:
    path = ("actions", name)
    d = r.mapping(v, path, "an action")
    r.unknown_keys(d, ACTION_KEYS, path, "an action")
    method = r.text(d, "method", path, "GET").upper()
    if method not in HTTP_METHODS:
        r.err((*path, "method"), f"method must be one of {sorted(HTTP_METHODS)}", "value")
    url = r.text(d, "url", path)
    timeout = d.get("timeout", 3)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 30:
        r.err((*path, "timeout"), "timeout must be a number of seconds in (0, 30]", "range")
        timeout = 3
    result = {str(k): str(p) for k, p in r.mapping(d.get("result"), (*path, "result"),
                                                   "result").items()}
    body = {str(k): str(p) for k, p in r.mapping(d.get("body"), (*path, "body"), "body").items()}
    return m.ActionSpec(name, method, url, float(timeout), result, body)


def _retry(r: _Reader, d: dict[str, Any], path: tuple[Any, ...],
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


def _options(r: _Reader, v: Any, path: tuple[Any, ...]) -> tuple[m.Option, ...]:
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


def _node(r: _Reader, node_id: str, v: Any, defaults: dict[str, Any]) -> m.Node | None:
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
            return m.MenuNode(node_id, line, p, _options(r, d.get("options"), (*path, "options")),
                              _retry(r, d, path, defaults), bool(speech))
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
                                  text(d, "number_var", path, "caller", pattern=NAME), prompt)
        case "send_link":
            return m.SendLinkNode(node_id, line, text(d, "resume", path), text(d, "next", path),
                                  text(d, "error", path), prompt)
        case "transfer":
            return m.TransferNode(node_id, line, text(d, "to", path,
                                                      pattern=re.compile(r"^[A-Za-z0-9_+-]+$")),
                                  prompt)
        case _:
            return m.HangupNode(node_id, line, prompt)


def build_flow(doc: Located, source: str) -> tuple[m.Flow | None, list[FlowError]]:
    r = _Reader(doc, source)
    top = doc.value
    if not isinstance(top, dict):
        return None, [FlowError(source, 1, None, "a flow file is a mapping (flow:, nodes:, ...)")]
    r.unknown_keys(top, TOP_KEYS, (), "the flow")
    name = r.text(top, "flow", (), pattern=NAME)
    langs = top.get("languages")
    if not isinstance(langs, list) or not langs or not all(isinstance(x, str) for x in langs):
        r.err(("languages",) if "languages" in top else (),
              "'languages' must be a non-empty list such as [zh, en]", "language")
        langs = ["en"]
    r.languages = tuple(langs)
    default_lang = r.text(top, "default_language", (), r.languages[0])
    if default_lang not in r.languages:
        r.err(("default_language",), f"default_language {default_lang!r} is not declared",
              "language")
    defaults = r.mapping(top.get("defaults"), ("defaults",), "defaults")
    r.unknown_keys(defaults, {"timeout", "retries", "fallback", "invalid", "no_input"},
                   ("defaults",), "defaults")
    schedules = {str(k): _schedule(r, str(k), v)
                 for k, v in r.mapping(top.get("schedules"), ("schedules",), "schedules").items()}
    actions = {str(k): _action(r, str(k), v)
               for k, v in r.mapping(top.get("actions"), ("actions",), "actions").items()}
    raw_nodes = r.mapping(top.get("nodes"), ("nodes",), "nodes")
    if not raw_nodes:
        r.err(("nodes",) if "nodes" in top else (), "a flow needs 'nodes'", "missing")
    nodes: dict[str, m.Node] = {}
    for node_id, v in raw_nodes.items():
        node = _node(r, str(node_id), v, defaults)
        if node is not None:
            nodes[node.id] = node
    title = r.prompt(top["title"], ("title",), "title").text if "title" in top else {}
    flow = m.Flow(name, source, r.languages, default_lang, r.text(top, "start", ()),
                  r.text(top, "timezone", (), "UTC"), nodes, actions, schedules, title)
    return flow, r.errors


def parse_flow(text: str, source: str = "<flow>") -> m.Flow:
    """Parse and fully validate a flow file's text; raise FlowInvalid listing every error."""
    from ivr_flows.core.validate import validate  # graph checks; no cycle at import time

    doc, errors = load_located(text, source)
    if doc is None:
        raise FlowInvalid(errors)
    flow, more = build_flow(doc, source)
    errors = errors + more
    if flow is not None:
        raw_nodes = doc.value.get("nodes") if isinstance(doc.value, dict) else None
        declared = (frozenset(str(k) for k in raw_nodes) if isinstance(raw_nodes, dict)
                    else frozenset())
        errors += validate(flow, doc, declared)
    if errors or flow is None:
        raise FlowInvalid(sorted(errors, key=lambda e: (e.line, e.message)))
    return flow


def load_flow_file(path: str | Path) -> m.Flow:
    """The file-reading edge: read one flow file and parse it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        error = FlowError(str(p), 1, None, f"cannot read the file: {exc}", "io")
        raise FlowInvalid([error]) from None
    return parse_flow(text, str(p))


def load_flows_dir(path: str | Path) -> dict[str, m.Flow]:
    """Every ``*.yaml`` flow in a folder, by flow name; all errors of all files together."""
    flows: dict[str, m.Flow] = {}
    errors: list[FlowError] = []
    for file in sorted(Path(path).glob("*.yaml")):
        try:
            flow = load_flow_file(file)
        except FlowInvalid as exc:
            errors.extend(exc.errors)
            continue
        if flow.name in flows:
            errors.append(FlowError(str(file), 1, None,
                                    f"flow name {flow.name!r} is used by another file too"))
        flows[flow.name] = flow
    if errors:
        raise FlowInvalid(errors)
    return flows
