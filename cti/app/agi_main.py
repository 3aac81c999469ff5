"""``hotline-agi``: the composition root of a classic (process-per-call) AGI process.

Asterisk starts one process per call (``AGI(hotline-agi,<flow>,--config=...)``). This reads
the configuration and the flows, builds the prompt store, action runner and link sender the
same way the server does, and runs the call over pyst2
(``cti.telephony.agi.pyst2_script``). A process that cannot start (bad configuration, an
invalid flow) clears HOTLINE_DONE so the dialplan's fallback takes the call.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from cti.app.config import Config, ConfigError, ensure_secrets, load_config
from cti.telephony.agi.pyst2_script import refuse, run_call, stdio_agi
from ivr_flows.core.errors import FlowInvalid
from ivr_flows.edges.actions import ActionRunner
from ivr_flows.edges.clock import local_now
from ivr_flows.edges.links import LinkSender, LinkSigner, make_link_sender
from ivr_flows.edges.sms import OutboxSender, SmsSender, WebhookSender
from ivr_flows.loading.loader import load_flows_dir
from ivr_flows.voice.prompts import PromptStore

log = logging.getLogger(__name__)


def link_sender(cfg: Config) -> LinkSender:
    """``send_link`` from the configuration (the same choice the server makes)."""
    links = LinkSigner(cfg.secret_key, cfg.itr.public_url, cfg.itr.link_ttl_seconds, time.time)
    sms: SmsSender
    if cfg.sms.sender == "webhook":
        sms = WebhookSender(cfg.sms.webhook_url, cfg.sms.webhook_token)
    else:
        sms = OutboxSender(Path(cfg.data_dir) / "sms-outbox.jsonl")
    return make_link_sender(links, sms)


def prompt_store(cfg: Config) -> PromptStore:
    return PromptStore(cfg.prompt_cache_dir, cfg.prompts.format, cfg.prompts.voices)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hotline-agi``: Asterisk starts one process per call."""
    parser = argparse.ArgumentParser(prog="hotline-agi", add_help=True)
    parser.add_argument("--config", default=None, help="Hotline TOML configuration file")
    args, _ = parser.parse_known_args(argv)  # the flow comes from agi_arg_1, not argv
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="hotline-agi %(levelname)s %(name)s: %(message)s")
    conn = stdio_agi()
    try:
        cfg = ensure_secrets(load_config(args.config))
        flows = load_flows_dir(cfg.flows_dir)
    except (ConfigError, FlowInvalid, OSError) as exc:
        log.error("cannot start: %s", exc)
        refuse(conn, "config_error")
        return 1
    level = getattr(logging, cfg.log_level.upper(), logging.WARNING)
    logging.getLogger().setLevel(level if isinstance(level, int) else logging.WARNING)
    runner = ActionRunner(cfg.backend.base_url)
    try:
        run_call(conn, flows, prompt_store(cfg), runner, link_sender(cfg), local_now)
    finally:
        runner.close()
    return 0  # how the call went is in the channel variables (HOTLINE_DONE), not here


if __name__ == "__main__":
    raise SystemExit(main())
