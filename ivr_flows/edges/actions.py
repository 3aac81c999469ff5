"""Self-service actions: the generic, configurable HTTP call behind a flow's ``action`` node.

A flow declares ``actions:`` (URL template, method, timeout, mapping of the JSON reply into
flow variables); the interpreter emits ``Act(name, args)``; this runner performs it and
answers with a ``Result`` the interpreter understands. It blocks (run it in a thread pool from
the reactor) and never raises: a slow, failing or nonsense back-end is an ``error`` outcome,
so the caller hears an apology and the flow's fallback within the configured timeout.

The timeout is a deadline for the whole exchange (connect, request, headers, body): a
back-end that drips its answer a byte at a time is cut off when it passes, not after the
last byte. The reply body is read up to ``MAX_REPLY_BYTES`` and no further. Error outcomes
carry ``{"error": code}``: ``timeout``, ``unreachable``, ``http_<status>``,
``reply_too_large``, ``bad_reply`` (not JSON, or nested too deep to decode) and
``unsafe_argument`` (a value that would change the request's path: nothing is sent).

HTTP goes through urllib3's connection pools (keep-alive, thread-safe, no retries, no
redirects): about half the CPU per request of httpx, and every call of a busy hotline makes one.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import socket
import time
from typing import Any
from urllib.parse import quote

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError
from urllib3.exceptions import TimeoutError as HTTPTimeout

from ivr_flows.core.effects import Act, Result
from ivr_flows.core.model import ActionSpec, Flow, Part, TextPart, VarPart, parse_template

log = logging.getLogger(__name__)
MAX_REPLY_BYTES = 256 * 1024  # a longer reply body is an error; reading stops just past this
# What a path segment must never come out as once a value is in it: clients and servers fold
# them away ("/orders/.." is "/"), so the request would reach another resource.
_FOLDED_SEGMENTS = frozenset({"", ".", ".."})


class UnsafeArgument(ValueError):
    """A value that would change the request's path (its segment would be empty, ``.`` or
    ``..``). ``code`` is stable; ``name`` is the variable (never its value: caller input)."""

    code = "unsafe_argument"

    def __init__(self, name: str) -> None:
        super().__init__(f"the value of {name} would change the request path")
        self.name = name


def _fill(parts: tuple[Part, ...], args: dict[str, str]) -> str:
    return "".join(p.text if isinstance(p, TextPart) else quote(args.get(p.name, ""), safe="")
                   for p in parts)


def _fill_segment(segment: str, args: dict[str, str]) -> str:
    parts = parse_template(segment)
    filled = _fill(parts, args)
    if filled in _FOLDED_SEGMENTS:
        names = [p.name for p in parts if isinstance(p, VarPart)]
        if names:
            raise UnsafeArgument(names[0])
    return filled


def fill_url(template: str, args: dict[str, str]) -> str:
    """Substitute ``{var}`` in a URL template. Every value is percent-encoded as one path
    segment (``/ ? # %`` included), so it can neither add segments nor start a query; a
    value whose path segment would come out empty, ``.`` or ``..`` raises ``UnsafeArgument``.
    Values in the query part only get encoded."""
    cut = min((i for i in (template.find("?"), template.find("#")) if i >= 0),
              default=len(template))
    path = "/".join(_fill_segment(seg, args) for seg in template[:cut].split("/"))
    return path + _fill(parse_template(template[cut:]), args)


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


class _DeadlineReader(io.RawIOBase):
    """A socket's reads, each one allowed only what is left until ``deadline`` (a socket
    timeout alone restarts at every read, so a peer dripping bytes would never trip it)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the action's deadline has passed")  # what socket.timeout is
        self._sock.settimeout(left)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """A response read against one deadline: urllib3 has just set the socket's timeout to
    what is left of the request's total timeout (``Timeout(total=...)``), so headers and
    body must arrive within that, however they trickle in."""

    def __init__(self, sock: socket.socket, debuglevel: int = 0, method: str | None = None,
                 url: str | None = None) -> None:
        super().__init__(sock, debuglevel, method, url)
        left = sock.gettimeout()
        if left is not None:
            self.fp.close()
            self.fp = io.BufferedReader(_DeadlineReader(sock, time.monotonic() + left))


class _DeadlineHTTPConnection(HTTPConnection):
    response_class = _DeadlineResponse


class _DeadlineHTTPSConnection(HTTPSConnection):
    response_class = _DeadlineResponse


class _DeadlineHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


class ActionRunner:
    """Runs flow actions against the back-end at ``base_url`` (relative URLs resolve there).

    ``max_connections`` kept open per back-end host: as many as actions run at once (the
    server's work pool)."""

    def __init__(self, base_url: str, max_connections: int = 32) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = urllib3.PoolManager(maxsize=max_connections, retries=False,
                                        headers={"Accept": "application/json"})
        self.http.pool_classes_by_scheme = {"http": _DeadlineHTTPPool,
                                            "https": _DeadlineHTTPSPool}

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
        try:
            method, url, body = request_of(spec, args, self.base_url)
        except UnsafeArgument as exc:
            return refused(spec, exc)
        try:
            reply = self.http.request(method, url, json=body, redirect=False,
                                      timeout=urllib3.Timeout(total=spec.timeout_s),
                                      preload_content=False)
            try:
                content = reply.read(MAX_REPLY_BYTES + 1)
                if len(content) > MAX_REPLY_BYTES:
                    reply.close()  # the rest is left unread: this connection is done
            finally:
                reply.release_conn()
        except HTTPTimeout:
            log.warning("action %s: back-end timed out after %.1f s", spec.name, spec.timeout_s)
            return Result("error", {"error": "timeout"})
        except HTTPError as exc:
            log.warning("action %s: back-end unreachable: %s", spec.name, type(exc).__name__)
            return Result("error", {"error": "unreachable"})
        return interpret(spec, reply.status, content)


def request_of(spec: ActionSpec, args: dict[str, str],
               base_url: str) -> tuple[str, str, dict[str, str] | None]:
    """The HTTP method, absolute URL and JSON body (or None) of one action call;
    ``UnsafeArgument`` if a value would change the URL's path."""
    url = fill_url(spec.url, args)
    if not url.startswith(("http://", "https://")):
        url = base_url + "/" + url.lstrip("/")
    body = {k: _fill(parse_template(v), args) for k, v in spec.body.items()} \
        if spec.body else None
    return spec.method, url, body


def refused(spec: ActionSpec, exc: UnsafeArgument) -> Result:
    """The outcome of a call not made because of ``exc``."""
    log.warning("action %s: not sent: %s", spec.name, exc)
    return Result("error", {"error": exc.code})


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
