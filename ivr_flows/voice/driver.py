"""How a call's code talks to its AGI transport: a generator of requests.

A voice session (``ivr_flows.voice.session``), the speech dialogue and the CTI's queue wait
are written once, for every transport, as generators. They *yield* requests and *receive*
their answers:

- ``Send(line)``: an AGI command line (formatted by ``agi_codec``); the transport answers
  with the ``Reply`` that Asterisk sent back.
- ``Work(fn)``: blocking work (prompt synthesis, a self-service action, texting a link); the
  transport runs ``fn()`` (in a thread pool on FastAGI, inline in a classic AGI process) and
  answers with its return value, or throws its exception into the generator. Work that can
  run without blocking also carries ``start``: a function that begins it and returns a
  Twisted ``Deferred``; a transport on the reactor (FastAGI) calls that instead of hopping
  to a thread, a blocking transport runs ``fn`` (and work with only a ``start`` is an error
  there).

The FastAGI protocol drives a ``Driver`` with its replies as they arrive, the pyst2 script
and tests with ``drive_blocking``. A caller who hangs up is ``CallerGone``; a command
Asterisk refuses is ``AgiFailed``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from ivr_flows.voice import agi_codec as agi

T = TypeVar("T")


@dataclass(frozen=True)
class Send:
    line: str


@dataclass(frozen=True)
class Work:
    fn: Callable[[], Any] | None
    what: str = ""
    start: Callable[[], Any] | None = None  # -> Deferred; for transports on the reactor


class NeedsReactor(RuntimeError):
    """Work that only runs on the reactor reached a blocking transport."""


Request = Send | Work
Driver = Generator[Request, Any, T]


class CallerGone(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AgiFailed(Exception):
    """Asterisk refused one of our commands (510/520/unknown): a bug on our side."""


def gone_reason(reply: agi.Reply) -> str:
    return {"hangup": "caller_hangup", "dead": "dead_channel",
            "closed": "connection_lost"}.get(reply.kind, "caller_hangup")


def drive_blocking(gen: Driver[T], send: Callable[[str], agi.Reply]) -> T:
    """Run a driver to its end with a blocking ``send(line) -> Reply`` (classic AGI, tests)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration as stop:
            return cast(T, stop.value)
        value, error = None, None
        if isinstance(request, Send):
            value = send(request.line)
        elif request.fn is None:
            error = NeedsReactor(f"{request.what or 'work'} can only run on the reactor")
        else:
            try:
                value = request.fn()
            except Exception as exc:  # noqa: BLE001 - thrown into the driver, which decides
                error = exc
