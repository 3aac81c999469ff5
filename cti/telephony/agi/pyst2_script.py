"""Classic (process-per-call) AGI: ``AGI(hotline-agi,<flow>)`` in the dialplan.

The same ``VoiceSession`` driver as FastAGI, run blocking; pyst2's ``asterisk.agi.AGI`` is the
transport (environment, SIGHUP flag, writing commands). The process's entry point (reading
the configuration, building the parts) is ``cti.app.agi_main``; this module is only the
transport. pyst2's faults are worked around here:

- every command line comes from ``agi_codec`` (validated, escaped), never from pyst2's
  ``_quote``, and is written with ``send_command``;
- replies are read by ``agi_codec.ReplyReader`` from pyst2's input stream, so the bare
  ``HANGUP`` line, ``result=-1`` and ``511`` all mean "caller gone" instead of a crash;
- pyst2 writes every line it sees to its ``stderr`` (caller IDs, digits): we hand it a sink;
- over a socket it needs text-mode files (``makefile("rw", encoding="utf-8", newline="\\n")``).
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from asterisk.agi import AGI

from ivr_flows.core.model import Flow
from ivr_flows.edges.links import LinkSender
from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.driver import drive_blocking
from ivr_flows.voice.exits import flow_name, reject
from ivr_flows.voice.prompt_plan import Prompts
from ivr_flows.voice.session import CallOutcome, Clock, Runner, VoiceSession

log = logging.getLogger(__name__)


class _Sink(io.StringIO):
    """Where pyst2's chatter goes (it would otherwise log caller IDs and digits)."""

    def write(self, s: str) -> int:
        return len(s)


class PystTransport:
    """Blocking ``send(line) -> Reply`` over a pyst2 ``AGI`` object."""

    def __init__(self, conn: AGI) -> None:
        self.agi = conn
        self._reader = agi.ReplyReader()
        self.closed = False

    def send(self, line: str) -> agi.Reply:
        if self.closed:
            return agi.Reply.closed()
        if getattr(self.agi, "_got_sighup", False):  # Asterisk's SIGHUP: the caller hung up
            return agi.Reply("hangup")
        try:
            self.agi.send_command(line)
            while True:
                raw = self.agi.stdin.readline()
                if isinstance(raw, bytes):
                    raw = raw.decode("utf-8", "replace")
                if raw == "":
                    self.closed = True
                    return agi.Reply.closed("end of input")
                reply = self._reader.feed(raw)
                if reply is not None:
                    return reply
        except OSError as exc:  # EPIPE and friends: Asterisk has gone
            self.closed = True
            return agi.Reply.closed(type(exc).__name__)


def run_call(conn: AGI, flows: Mapping[str, Flow], prompts: Prompts, runner: Runner,
             send_link: LinkSender, clock: Clock) -> CallOutcome | None:
    """One call over an AGI connection; ``None`` when its flow is unknown (fallback runs)."""
    env = {str(k): str(v) for k, v in conn.env.items()}
    transport = PystTransport(conn)
    name = flow_name(env)
    flow = flows.get(name) if name else None
    if flow is None:
        log.warning("agi: unknown flow %r; handing the call to the dialplan fallback", name)
        drive_blocking(reject("unknown_flow"), transport.send)
        return None
    session = VoiceSession(flow, prompts, runner, send_link, clock, env)
    outcome = drive_blocking(session.run(), transport.send)
    log.info("call ended: %s", outcome.summary())
    return outcome


def _text_stream(binary: Any, write: bool) -> TextIO:
    if write:
        return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="\n",
                                write_through=True)
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="\n")


def stdio_agi() -> AGI:
    """The AGI connection of a process Asterisk started: text-mode stdin/stdout (pyst2 writes
    ``str``), its chatter to a sink."""
    return AGI(stdin=_text_stream(sys.stdin.buffer, False),
               stdout=_text_stream(sys.stdout.buffer, True), stderr=_Sink())


def refuse(conn: AGI, reason: str) -> None:
    """A call this process cannot run at all (bad configuration): the dialplan fallback."""
    drive_blocking(reject(reason), PystTransport(conn).send)
