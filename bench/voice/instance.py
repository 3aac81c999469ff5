"""The bench's own pieces of configuration: its Config, its prompts, its sandbox instance
(the project's render plus the native menu and the bench's logging), and the caller."""

from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import replace
from pathlib import Path

from asterisk_conf.render import ExtraDialplan
from bench.sipp import BENCH_CALLER, uac_scenario
from bench.voice.plan import (
    AMI_PORT,
    BACKEND_URL,
    BENCH_MODULES,
    BYE_TIMEOUT_S,
    CLASSIC_DID,
    CONSOLE_PORT,
    DIGITS,
    FASTAGI_DID,
    FASTAGI_PORT,
    FLOW,
    ITR_PORT,
    KEY,
    LOOPBACK,
    NATIVE_CONTEXT,
    NATIVE_DID,
    PROMPTS,
    RTP_END,
    RTP_START,
    SIP_PORT,
    VOICE,
)
from cti.app.config import Config
from cti.app.sandbox import Sandbox
from ivr_flows.voice.prompts import PromptStore


def make_config(data_dir: Path, prompts_dir: Path, sandbox_dir: str) -> Config:
    cfg = Config(data_dir=str(data_dir), flows_dir=str(VOICE),
                 secret_key=secrets.token_urlsafe(32), log_level="WARNING")
    # The demo back-end runs as its own process (bench/voice/backend.py), not in the server;
    # the rendered hotline-agi.toml (classic AGI) takes its base_url from here too.
    backend = replace(cfg.backend, base_url=BACKEND_URL, demo=False)
    itr = replace(cfg.itr, port=ITR_PORT, public_url=f"http://{LOOPBACK}:{ITR_PORT}")
    cfg = replace(cfg, backend=backend, itr=itr,
                  console=replace(cfg.console, port=CONSOLE_PORT))
    ast = replace(cfg.asterisk, sip_port=SIP_PORT, ami_port=AMI_PORT,
                  ami_secret=secrets.token_urlsafe(24), rtp_start=RTP_START, rtp_end=RTP_END,
                  dids={FASTAGI_DID: FLOW}, sandbox_dir=sandbox_dir)
    prompts = replace(cfg.prompts, cache_dir=str(prompts_dir))
    return replace(cfg, asterisk=ast, fastagi=replace(cfg.fastagi, port=FASTAGI_PORT),
                   prompts=prompts)


def prompt_files(prompts_dir: Path) -> dict[str, str]:
    """The bench flow's fixed prompts (built here if missing): what native Read/Playback play."""
    store = PromptStore(prompts_dir, "wav", {"en": "en-us"})
    return {key: store.text_file("en", text) for key, text in PROMPTS.items()}


def native_dialplan(files: dict[str, str], backend_url: str) -> ExtraDialplan:
    """bench/voice/native.conf filled in (prompt files, back-end URL), on its own DID."""
    native = (VOICE / "native.conf").read_text()
    for key, value in {**files, "backend_url": backend_url}.items():
        native = native.replace(f"@{{{key}}}", value)
    left = re.findall(r"@\{\w+\}", native)
    if left:
        raise RuntimeError(f"native.conf has placeholders the bench does not fill: {left}")
    return ExtraDialplan(NATIVE_DID, NATIVE_CONTEXT, native, BENCH_MODULES)


def render_bench(box: Sandbox, out: Path, files: dict[str, str], *, verbose: bool) -> Path:
    """The bench instance's configuration: the project's render with the native menu as its
    extra dialplan, then the bench's logging (one NOTICE line per call, or ``verbose``)."""
    if out.exists():
        shutil.rmtree(out)
    box.render(out, extra_dialplan=native_dialplan(files, box.cfg.backend.base_url))
    ext = out / "extensions.conf"
    text = ext.read_text()
    for needle in (f"exten => {NATIVE_DID},1,Goto({NATIVE_CONTEXT},s,1)",
                   f"AGI(hotline-agi,{FLOW}", f"exten => {CLASSIC_DID},1,"):
        if needle not in text:
            raise RuntimeError(f"rendered extensions.conf has no {needle!r}: template changed?")
    # The per-call completion line as a NOTICE (same text), so throughput runs can log no
    # verbose output at all and still count finished flows.
    after = "exten => s,1,Verbose(1,HOTLINE after-flow "
    if after not in text:
        raise RuntimeError(f"rendered extensions.conf has no {after!r}: template changed?")
    ext.write_text(text.replace(after, "exten => s,1,Log(NOTICE,HOTLINE after-flow "))
    # Throughput runs log one NOTICE line per call (the after-flow / done lines), no verbose;
    # latency runs log every dialplan step and AGI command with millisecond timestamps.
    (out / "logger.conf").write_text(
        "[general]\ndateformat = %F %T.%3q\n\n[logfiles]\n"
        f"messages.log => notice,warning,error{',verbose(3)' if verbose else ''}\n")
    return out


def scenario_xml(menu_pause_ms: int = 3000, code_pause_ms: int = 500, gap_ms: int = 150,
                 bye_timeout_ms: int = int(BYE_TIMEOUT_S * 1000)) -> str:
    """The bench's caller: wait for the menu, key 1, wait, digits 5678 (SIP INFO), then the
    BYE within ``bye_timeout_ms`` (no pause after the last digit: a BYE during a pause aborts
    the call). The first pause is long on purpose: AGI drops DTMF that arrives between
    commands, and a process-per-call AGI script needs time to start before it plays the menu."""
    return uac_scenario(steps=[(menu_pause_ms, KEY), (code_pause_ms, DIGITS)], gap_ms=gap_ms,
                        bye_timeout_ms=bye_timeout_ms, info_duration_ms=100,
                        label=BENCH_CALLER)
