"""Self-service actions: the generic, configurable HTTP call behind a flow's ``action`` node.

A flow declares ``actions:`` (URL template, method, timeout, mapping of the JSON reply into
flow variables); the interpreter emits ``Act(name, args)``; this runner performs it and
answers with a ``Result`` the interpreter understands. It blocks (run it in a thread pool from
the reactor) and never raises: a slow, failing or nonsense back-end is an ``error`` outcome,
so the caller hears an apology and the flow's fallback within the configured timeout.

HTTP goes through urllib3's connection pools (keep-alive, thread-safe, no retries, no
redirects): about half the CPU per request of httpx, and every call of a busy hotline makes one.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import quote

import urllib3
from urllib3.exceptions import HTTPError, TimeoutError

from ivr_flows.core.effects import Act, Result
from ivr_flows.core.model import ActionSpec, Flow, TextPart, parse_template

log = logging.getLogger(__name__)
MAX_REPLY_BYTES = 256 * 1024


def fill_url(template: str, args: dict[str, str]) -> str:
    """Substitute ``{var}`` in a URL template; every value is percent-encoded (no path tricks)."""
    out = []
    for part in parse_template(template):
        if isinstance(part, TextPart):
            out.append(part.text)
        else:
            out.append(quote(args.get(part.name, ""), safe=""))
    return "".join(out)


def dig(data: Any, path: str) -> str | None:
    """Follow a dotted path ("eta.month", "items.0.name") into decoded JSON; None if absent."""
    cur = data
    for step in path.split("."):
        if isinstance(cur, dict) and step in cur:
            cur = cur[step]
        elif isinstance(cur, list) and step.isdigit() and int(step) < len(cur):
            cur = cur[int(step)]
        else:
            return None
    if cur is None or isinstance(cur, dict | list):
        return None
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


class ActionRunner:
    """Runs flow actions against the back-end at ``base_url`` (relative URLs resolve there).

    ``max_connections`` kept open per back-end host: as many as actions run at once (the
    server's work pool)."""

    def __init__(self, base_url: str, max_connections: int = 32) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = urllib3.PoolManager(maxsize=max_connections, retries=False,
                                        headers={"Accept": "application/json"})

    def close(self) -> None:
        self.http.clear()

    def run(self, flow: Flow, act: Act) -> Result:
        spec = flow.actions.get(act.action)
        if spec is None:
            log.error("flow %s: unknown action %s", flow.name, act.action)
            return Result("error", {})
        started = time.monotonic()
        result = self._call(spec, dict(act.args))
        log.info("action %s/%s -> %s in %.0f ms", flow.name, spec.name, result.outcome,
                 (time.monotonic() - started) * 1000)
        return result

    def _call(self, spec: ActionSpec, args: dict[str, str]) -> Result:
        method, url, body = request_of(spec, args, self.base_url)
        try:
            reply = self.http.request(method, url, json=body, redirect=False,
                                      timeout=urllib3.Timeout(total=spec.timeout_s),
                                      preload_content=False)
            try:
                content = reply.read(MAX_REPLY_BYTES + 1)
            finally:
                reply.release_conn()
        except TimeoutError:
            log.warning("action %s: back-end timed out after %.1f s", spec.name, spec.timeout_s)
            return Result("error", {"error": "timeout"})
        except HTTPError as exc:
            log.warning("action %s: back-end unreachable: %s", spec.name, type(exc).__name__)
            return Result("error", {"error": "unreachable"})
        return interpret(spec, reply.status, content)


def request_of(spec: ActionSpec, args: dict[str, str],
               base_url: str) -> tuple[str, str, dict[str, str] | None]:
    """The HTTP method, absolute URL and JSON body (or None) of one action call."""
    url = fill_url(spec.url, args)
    if not url.startswith(("http://", "https://")):
        url = base_url + "/" + url.lstrip("/")
    body = {k: fill_url(v, args) for k, v in spec.body.items()} if spec.body else None
    return spec.method, url, body


def interpret(spec: ActionSpec, status: int, content: bytes) -> Result:
    """The back-end's answer as a flow ``Result`` (``content``: at most MAX_REPLY_BYTES + 1
    bytes of the body; one more than the limit means the reply was too large)."""
    if status == 404:
        return Result("not_found", {})
    if not 200 <= status < 300:
        log.warning("action %s: back-end answered HTTP %d", spec.name, status)
        return Result("error", {"error": f"http_{status}"})
    if len(content) > MAX_REPLY_BYTES:
        return Result("error", {"error": "reply_too_large"})
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        log.warning("action %s: back-end reply is not JSON", spec.name)
        return Result("error", {"error": "bad_reply"})
    values = {}
    for var, path in spec.result.items():
        v = dig(data, path)
        if v is not None:
            values[var] = v
    return Result("ok", values)
