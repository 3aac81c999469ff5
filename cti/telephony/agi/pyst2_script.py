"""Classic (process-per-call) AGI: ``AGI(hotline-agi,<flow>)`` in the dialplan.

The same ``VoiceSession`` driver as FastAGI, run blocking; pyst2's ``asterisk.agi.AGI`` is the
transport (environment, SIGHUP flag, writing commands). Its faults are worked around here:

- every command line comes from ``agi_codec`` (validated, escaped), never from pyst2's
  ``_quote``, and is written with ``send_command``;
- replies are read by ``agi_codec.ReplyReader`` from pyst2's input stream, so the bare
  ``HANGUP`` line, ``result=-1`` and ``511`` all mean "caller gone" instead of a crash;
- pyst2 writes every line it sees to its ``stderr`` (caller IDs, digits): we hand it a sink;
- over a socket it needs text-mode files (``makefile("rw", encoding="utf-8", newline="\\n")``).
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from asterisk.agi import AGI

from cti.app.config import Config, ConfigError, ensure_secrets, load_config
from ivr_flows.core.errors import FlowInvalid
from ivr_flows.core.model import Flow
from ivr_flows.edges.actions import ActionRunner
from ivr_flows.edges.clock import local_now
from ivr_flows.edges.links import LinkSigner
from ivr_flows.edges.sms import OutboxSender, SmsSender, WebhookSender
from ivr_flows.loading.loader import load_flows_dir
from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.prompts import PromptStore
from ivr_flows.voice.renderer import (
    CallOutcome,
    Clock,
    Prompts,
    Runner,
    SendLink,
    VoiceSession,
    drive_blocking,
    flow_name,
    make_link_sender,
    reject,
)

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
             send_link: SendLink, clock: Clock) -> CallOutcome | None:
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


def link_sender(cfg: Config) -> SendLink:
    """``send_link`` from the configuration (the same choice the server makes)."""
    links = LinkSigner(cfg.secret_key, cfg.itr.public_url, cfg.itr.link_ttl_seconds, time.time)
    sms: SmsSender
    if cfg.sms.sender == "webhook":
        sms = WebhookSender(cfg.sms.webhook_url, cfg.sms.webhook_token)
    else:
        sms = OutboxSender(Path(cfg.data_dir) / "sms-outbox.jsonl")
    return make_link_sender(links, sms)


def _text_stream(binary: Any, write: bool) -> TextIO:
    if write:
        return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="\n",
                                write_through=True)
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hotline-agi``: Asterisk starts one process per call."""
    parser = argparse.ArgumentParser(prog="hotline-agi", add_help=True)
    parser.add_argument("--config", default=None, help="Hotline TOML configuration file")
    args, _ = parser.parse_known_args(argv)  # the flow comes from agi_arg_1, not argv
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="hotline-agi %(levelname)s %(name)s: %(message)s")
    conn = AGI(stdin=_text_stream(sys.stdin.buffer, False),
               stdout=_text_stream(sys.stdout.buffer, True), stderr=_Sink())
    try:
        cfg = ensure_secrets(load_config(args.config))
        flows = load_flows_dir(cfg.flows_dir)
    except (ConfigError, FlowInvalid, OSError) as exc:
        log.error("cannot start: %s", exc)
        drive_blocking(reject("config_error"), PystTransport(conn).send)
        return 1
    level = getattr(logging, cfg.log_level.upper(), logging.WARNING)
    logging.getLogger().setLevel(level if isinstance(level, int) else logging.WARNING)
    runner = ActionRunner(cfg.backend.base_url)
    try:
        run_call(conn, flows, PromptStore.from_config(cfg), runner, link_sender(cfg), local_now)
    finally:
        runner.close()
    return 0  # how the call went is in the channel variables (HOTLINE_DONE), not here


if __name__ == "__main__":
    raise SystemExit(main())
