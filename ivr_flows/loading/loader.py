"""Flow files (YAML) to ``ivr_flows.core.model`` objects, with every error located.

``parse_flow(text, source)`` takes the file's text and a name for messages (it reads no file;
it does look the flow's time zone up in the system's tz database, so that a zone that would
fail at run time fails ``flows check`` instead). ``load_flow_file`` / ``load_flows_dir`` are
the thin file-reading edge; a file larger than ``MAX_FILE_BYTES`` is refused unparsed. The
structural checks (which keys a node may have, their types) live in ``reader`` and ``nodes`` (nodes)
and here (the top level, schedules, actions); graph checks (gotos, reachability, loops
without input, reserved names) live in ``ivr_flows.core.validate``.
"""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr_flows.core import model as m
from ivr_flows.core.errors import FlowError, FlowInvalid
from ivr_flows.core.located import Located
from ivr_flows.loading.nodes import DEFAULTS_KEYS, parse_node
from ivr_flows.loading.reader import NAME, Reader
from ivr_flows.loading.yaml_lines import load_located

WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
HTTP_METHODS = {"GET", "POST"}
TOP_KEYS = {"flow", "title", "languages", "default_language", "timezone", "start",
            "defaults", "schedules", "actions", "nodes"}
ACTION_KEYS = {"method", "url", "timeout", "result", "body"}
MAX_FILE_BYTES = 1_000_000  # the demo flow is 12 kB


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


def _schedule(r: Reader, name: str, v: Any) -> m.Schedule:
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


def _action(r: Reader, name: str, v: Any) -> m.ActionSpec:
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


def _known_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, malformed, not a zone file
        return False
    return True


def _timezone(r: Reader, top: dict[str, Any]) -> str:
    name = r.text(top, "timezone", (), "UTC")
    if name and not _known_timezone(name):
        r.err(("timezone",), f"unknown time zone {name!r}: write an IANA name such as "
              "Asia/Shanghai, Europe/Paris or UTC", "timezone")
    return name


def build_flow(doc: Located, source: str) -> tuple[m.Flow | None, list[FlowError]]:
    r = Reader(doc, source)
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
    r.unknown_keys(defaults, DEFAULTS_KEYS, ("defaults",), "defaults")
    schedules = {str(k): _schedule(r, str(k), v)
                 for k, v in r.mapping(top.get("schedules"), ("schedules",), "schedules").items()}
    actions = {str(k): _action(r, str(k), v)
               for k, v in r.mapping(top.get("actions"), ("actions",), "actions").items()}
    raw_nodes = r.mapping(top.get("nodes"), ("nodes",), "nodes")
    if not raw_nodes:
        r.err(("nodes",) if "nodes" in top else (), "a flow needs 'nodes'", "missing")
    nodes: dict[str, m.Node] = {}
    for node_id, v in raw_nodes.items():
        node = parse_node(r, str(node_id), v, defaults)
        if node is not None:
            nodes[node.id] = node
    title = r.prompt(top["title"], ("title",), "title").text if "title" in top else {}
    flow = m.Flow(name, source, r.languages, default_lang, r.text(top, "start", ()),
                  _timezone(r, top), nodes, actions, schedules, title)
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
        with p.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            error = FlowError(str(p), 1, None, f"the file is larger than {MAX_FILE_BYTES} "
                              "bytes, too large for a flow", "size")
            raise FlowInvalid([error])
        text = data.decode("utf-8")
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
