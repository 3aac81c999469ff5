"""The composition root: every part of the running system is built and wired here, once.

``serve(cfg)`` is what ``hotline run`` does:

1. load and validate every flow (an invalid flow: refuse to start, naming file, line, node);
2. migrate the database and make sure a console user exists;
3. build the components (action runner, prompt store, link signer, SMS sender, ITR app,
   console app, demo back-end, FastAGI factory) and hand each its dependencies explicitly;
4. listen (everything on 127.0.0.1 unless configured), start the sandbox Asterisk if asked,
   and run the Twisted reactor until SIGINT/SIGTERM.

Where does a call go? Asterisk -> ``FastAgiFactory`` (cti/telephony/agi/fastagi.py) ->
``VoiceSession`` (renderer.py) -> ``interpreter.step`` -> exits back to the dialplan
(asterisk_conf/templates/extensions.conf). A phone page: ``create_itr_app`` (touch/app.py).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from cti.app.config import REPO_ROOT, Config, ensure_secrets
from cti.demo.backend import create_demo_backend
from cti.telephony.agi.fastagi import FastAgiFactory, listen_fastagi
from ivr_flows.core.model import Flow
from ivr_flows.edges.actions import ActionRunner
from ivr_flows.edges.clock import local_now
from ivr_flows.edges.links import LinkSigner
from ivr_flows.edges.sms import OutboxSender, SmsSender, WebhookSender
from ivr_flows.loading.loader import load_flows_dir
from ivr_flows.touch.app import create_itr_app
from ivr_flows.voice.prompts import PromptStore, build_prompts
from ivr_flows.voice.renderer import CallOutcome, make_link_sender

log = logging.getLogger(__name__)
SANDBOX = REPO_ROOT / "asterisk_conf" / "sandbox.sh"
RECORDS_BATCH_MS = 100.0


@dataclass
class Components:
    """What ``build`` wires together; tests build it too and serve parts of it."""

    cfg: Config
    flows: dict[str, Flow]
    runner: ActionRunner
    prompts: PromptStore
    links: LinkSigner
    sms: SmsSender
    itr_app: Flask
    console_app: Flask | None
    backend_app: Flask | None
    session_factory: Any  # records (SQLAlchemy sessions), only touched in cti.records


def make_sms_sender(cfg: Config) -> SmsSender:
    if cfg.sms.sender == "webhook":
        return WebhookSender(cfg.sms.webhook_url, cfg.sms.webhook_token)
    return OutboxSender(Path(cfg.data_dir) / "sms-outbox.jsonl")


def build(cfg: Config, *, with_console: bool = True) -> Components:
    """Validate flows, prepare the database, and wire every component. Raises FlowInvalid."""
    cfg = ensure_secrets(cfg)
    Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
    flows = load_flows_dir(cfg.flows_dir)
    runner = ActionRunner(cfg.backend.base_url)
    prompts = PromptStore.from_config(cfg)
    links = LinkSigner(cfg.secret_key, cfg.itr.public_url, cfg.itr.link_ttl_seconds, time.time)
    sms = make_sms_sender(cfg)
    itr_app = create_itr_app(flows, runner, links, local_now, secret_key=cfg.secret_key,
                             sms_sender=sms)
    from cti.records.db import make_session_factory
    from cti.records.migrate import upgrade

    upgrade(cfg.db_url)
    session_factory = make_session_factory(cfg.db_url)
    console_app = None
    if with_console:
        from web_admin.app import create_console_app
        from web_admin.bootstrap import ensure_admin

        if ensure_admin(session_factory, cfg.data_dir) is not None:
            log.warning("created console user 'admin'; its password is in %s",
                        Path(cfg.data_dir) / "admin-password.txt")
        console_app = create_console_app(cfg, session_factory=session_factory,
                                          flows_dir=cfg.flows_dir)
    backend_app = create_demo_backend() if cfg.backend.demo else None
    return Components(cfg, flows, runner, prompts, links, sms, itr_app, console_app, backend_app,
                      session_factory)


def outcome_record(outcome: CallOutcome) -> dict[str, Any]:
    """One finished call as plain JSON data (a line of ``<data_dir>/calls.jsonl``)."""
    ex = outcome.exit
    return {
        "flow": outcome.flow, "uniqueid": outcome.uniqueid, "ended": outcome.ended,
        "reason": outcome.reason, "commands": outcome.commands,
        "exit": None if ex is None else {
            "kind": ex.kind, "node": ex.node, "target": ex.target, "priority": ex.priority,
            "skills": dict(ex.skills), "attributes": dict(ex.attributes), "reason": ex.reason},
        "path": [[p.node, p.input] for p in outcome.path],
        "state": dict(outcome.state),
    }


def call_log_writer(path: Path) -> Callable[[CallOutcome], None]:
    """The FastAGI ``on_outcome`` hook: append each finished call to ``path`` as one JSON line
    (what the handler saw and did; the end-to-end tests read it). The file stays open (one
    line written and flushed per call, no open/close per call); it is reopened if it was
    moved away or deleted (log rotation)."""
    state: dict[str, Any] = {"fh": None, "ino": None}

    def open_log() -> Any:
        fh = state["fh"]
        try:
            ino = path.stat().st_ino
        except OSError:
            ino = None
        if fh is None or ino != state["ino"]:
            if fh is not None:
                fh.close()
            fh = path.open("a", encoding="utf-8")
            state["fh"], state["ino"] = fh, os.fstat(fh.fileno()).st_ino
        return fh

    def write(outcome: CallOutcome) -> None:
        try:
            fh = open_log()
            fh.write(json.dumps(outcome_record(outcome), ensure_ascii=False, default=str) + "\n")
            fh.flush()
        except OSError as exc:
            log.warning("calls log %s not written: %s", path, exc.strerror)
            state["fh"] = None

    return write


def _web(reactor: Any, pool: Any, app: Flask, host: str, port: int) -> Any:
    from twisted.web.server import Site
    from twisted.web.wsgi import WSGIResource

    return reactor.listenTCP(port, Site(WSGIResource(reactor, pool, app)), interface=host)


def start_sandbox(cfg: Config, instance: str = "main") -> None:
    """Render the Asterisk configuration and start the sandbox Asterisk (building it first)."""
    from asterisk_conf.render import agi_bind_dirs, render

    out = render(cfg, Path(cfg.data_dir) / "asterisk" / instance, instance=instance)
    env = {"HOTLINE_SANDBOX_DIR": str(cfg.sandbox_dir), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["bash", str(SANDBOX), "agi-venv"], check=True, env=env)  # builds if needed
    # Prompt cache (Asterisk plays its files), data and flows dirs (classic AGI reads them).
    binds = [arg for d in agi_bind_dirs(cfg) for arg in ("--bind", str(d))]
    subprocess.run(["bash", str(SANDBOX), "start", instance, str(out), "--agi", *binds],
                   check=True, env=env)


def stop_sandbox(cfg: Config, instance: str = "main") -> None:
    env = {"HOTLINE_SANDBOX_DIR": str(cfg.sandbox_dir), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["bash", str(SANDBOX), "stop", instance], check=False, env=env)


def serve(cfg: Config, *, with_asterisk: bool = True) -> int:
    from twisted.internet import reactor as global_reactor
    from twisted.python.threadpool import ThreadPool

    reactor: Any = global_reactor  # the one place the global reactor is taken; passed on from here

    c = build(cfg)
    cfg = c.cfg
    logging.getLogger().setLevel(cfg.log_level.upper())
    report = build_prompts(cfg, c.flows)
    if getattr(report, "failed", 0):
        log.error("some prompts could not be built; those prompts are skipped in calls")

    work_pool = ThreadPool(minthreads=2, maxthreads=32, name="hotline-work")
    web_pool = ThreadPool(minthreads=2, maxthreads=16, name="hotline-web")
    for pool in (work_pool, web_pool):
        pool.start()
        reactor.addSystemEventTrigger("during", "shutdown", pool.stop)
    writer: Any = None
    try:
        writer = _listen_all(cfg, c, reactor, work_pool, web_pool, with_asterisk)
    except BaseException:
        # A port in use (or any start failure) must end the process, not leave it hanging
        # on the non-daemon threads of the pools and the records writer.
        for pool in (work_pool, web_pool):
            pool.stop()
        if writer is not None:
            writer.close(timeout=5.0)
        c.runner.close()
        raise
    reactor.run()
    c.runner.close()
    writer.close(timeout=10.0)
    return 0


def _listen_all(cfg: Config, c: Components, reactor: Any, work_pool: Any, web_pool: Any,
                with_asterisk: bool) -> Any:
    """Start the CTI and every listener; returns the records writer (closed at exit)."""
    cti, writer = start_cti(cfg, c, reactor)
    try:
        _listen_rest(cfg, c, reactor, cti, work_pool, web_pool, with_asterisk)
    except BaseException:
        writer.close(timeout=5.0)
        raise
    return writer


def _listen_rest(cfg: Config, c: Components, reactor: Any, cti: Any, work_pool: Any,
                 web_pool: Any, with_asterisk: bool) -> None:
    from ivr_flows.voice.speech_dialogue import start_speech

    factory = FastAgiFactory(c.flows, c.prompts, c.runner, make_link_sender(c.links, c.sms),
                             local_now, reactor, work_pool,
                             on_outcome=call_log_writer(Path(cfg.data_dir) / "calls.jsonl"),
                             after_flow=cti.after_flow,
                             speech=start_speech(cfg, c.flows, reactor))
    listen_fastagi(reactor, factory, cfg.fastagi.host, cfg.fastagi.port, cfg.fastagi.backlog)
    _web(reactor, web_pool, c.itr_app, cfg.itr.host, cfg.itr.port)
    if c.console_app is not None:
        _web(reactor, web_pool, c.console_app, cfg.console.host, cfg.console.port)
    if c.backend_app is not None:
        _web(reactor, web_pool, c.backend_app, cfg.backend.demo_host, cfg.backend.demo_port)

    if with_asterisk and cfg.asterisk.sandbox:
        start_sandbox(cfg)
        reactor.addSystemEventTrigger("before", "shutdown", stop_sandbox, cfg)
    start_ami(cfg, cti, reactor)

    log.info("Hotline is up: touch menu http://%s:%d/  console http://%s:%d/  FastAGI %s:%d",
             cfg.itr.host, cfg.itr.port, cfg.console.host, cfg.console.port,
             cfg.fastagi.host, cfg.fastagi.port)
    if with_asterisk and cfg.asterisk.sandbox:
        log.info("call it: SIP to %s@%s:%d (e.g. sipp -sn uac ... or a softphone)",
                 next(iter(cfg.asterisk.dids), "?"), cfg.asterisk.sip_host, cfg.asterisk.sip_port)


def start_cti(cfg: Config, c: Components, reactor: Any) -> tuple[Any, Any]:
    """The routing service, its records writer, agent sessions, and the agent API listener."""
    from twisted.web.server import Site

    from cti.app.wiring import build_cti
    from cti.channels.voice.comfort import comfort_file
    from cti.records.writer import RecordWriter
    from cti.service.agent_sessions import AgentStore

    # A 100 ms batch window: a call's IVR part is ~8 events submitted at once when the flow
    # ends; one transaction per call costs ~2.7 ms CPU, ten calls per transaction ~0.9 ms
    # each. Submit->commit stays well under the records' 200 ms p99 latency floor.
    writer = RecordWriter(c.session_factory, spill_dir=Path(cfg.data_dir) / "records-spill",
                          batch_ms=RECORDS_BATCH_MS)
    try:
        cti = build_cti(cfg, c.flows, reactor, writer, c.prompts.say_text,
                        comfort_file(cfg.prompt_cache_dir))
        # Listen first: a port in use must not restore agents or close calls of another run.
        reactor.listenTCP(cfg.cti.api_port, Site(cti.api), interface=cfg.cti.api_host)
        store = AgentStore(Path(cfg.data_dir) / "agents.json", cti.service, cti.profiles)
        store.restore()
        close_interrupted_calls(c.session_factory, cti.service)
    except BaseException:
        writer.close(timeout=5.0)  # its thread would keep the process alive
        raise
    reactor.addSystemEventTrigger("before", "shutdown", store.save)
    reactor.addSystemEventTrigger("before", "shutdown", cti.service.stop)
    return cti, writer


def close_interrupted_calls(session_factory: Any, service: Any) -> int:
    """Calls that were in progress when the CTI stopped went to the dialplan's fallback
    (their FastAGI connection closed): end them in the records, saying so."""
    from cti.records.history import open_interactions

    with session_factory() as session:
        ids = open_interactions(session, channel="voice")
    for iid in ids:
        service.record(iid, "ended", by="system", reason="cti_restart", exit="fallback")
    if ids:
        log.warning("cti: %d call(s) were cut by the last stop; recorded as ended "
                    "(they went to the dialplan fallback)", len(ids))
    return len(ids)


def start_ami(cfg: Config, cti: Any, reactor: Any) -> Any:
    """The AMI client: agent phones' state and answers feed routing; resync on reconnect."""
    from twisted.internet.endpoints import TCP4ClientEndpoint

    from cti.telephony.ami.bridge import TelephonyBridge
    from cti.telephony.ami.client import AmiClient
    from cti.telephony.ami.events import AgentMap

    agents = AgentMap.from_agents(cfg.asterisk.agents)
    client = AmiClient(TCP4ClientEndpoint(reactor, cfg.asterisk.ami_host, cfg.asterisk.ami_port),
                       username=cfg.asterisk.ami_user, secret=cfg.asterisk.ami_secret,
                       agents=agents, clock=reactor)
    client.subscribe(TelephonyBridge(cti.service, agents).on_ami)
    client.start()
    reactor.addSystemEventTrigger("before", "shutdown", client.stop)
    return client
