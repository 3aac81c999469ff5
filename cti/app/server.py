"""The composition root: every part of the running system is built and wired here, once.

``serve(cfg)`` is what ``hotline run`` does:

1. load and validate every flow (an invalid flow: refuse to start, naming file, line, node);
2. migrate the database and make sure a console user exists;
3. build the components (action runner, prompt store, link signer, SMS sender, ITR app,
   console app, demo back-end, FastAGI factory) and hand each its dependencies explicitly;
4. listen (everything on 127.0.0.1 unless configured), start the sandbox Asterisk if asked,
   and run the Twisted reactor until SIGINT/SIGTERM.

Where does a call go? Asterisk -> ``FastAgiFactory`` (cti/telephony/agi/fastagi.py) ->
``VoiceSession`` (ivr_flows/voice/session.py) -> ``interpreter.step`` -> exits to the dialplan
(asterisk_conf/templates/extensions.conf). A phone page: ``create_itr_app`` (touch/app.py).
"""

from __future__ import annotations

import gc
import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from cti.app.background import Background
from cti.app.callback_wiring import LateAnswers, LateExit
from cti.app.calls_log import calls_log_hook
from cti.app.config import Config, ensure_secrets
from cti.app.itr_records import LateSink, itr_contained, itr_recorder
from cti.demo.backend import create_demo_backend
from cti.telephony.agi.fastagi import FastAgiFactory, listen_fastagi
from ivr_flows.core.model import Flow
from ivr_flows.edges.actions import ActionRunner
from ivr_flows.edges.clock import local_now
from ivr_flows.edges.links import LinkSigner, make_link_sender
from ivr_flows.edges.reactor_actions import ReactorActionRunner
from ivr_flows.edges.sms import OutboxSender, SmsSender, WebhookSender
from ivr_flows.loading.loader import load_flows_dir
from ivr_flows.touch.app import create_itr_app
from ivr_flows.voice.prompts import PromptStore, build_prompts

log = logging.getLogger(__name__)
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
    itr_records: LateSink = field(default_factory=LateSink)  # ITR sessions -> records
    itr_exits: LateExit = field(default_factory=LateExit)  # touch-menu callbacks -> CTI


def make_sms_sender(cfg: Config) -> SmsSender:
    if cfg.sms.sender == "webhook":
        return WebhookSender(cfg.sms.webhook_url, cfg.sms.webhook_token)
    return OutboxSender(Path(cfg.data_dir) / "sms-outbox.jsonl")


def build(cfg: Config, *, with_console: bool = True) -> Components:
    """Validate flows, prepare the database, and wire every component. Raises FlowInvalid."""
    cfg = ensure_secrets(cfg)
    Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
    flows = load_flows_dir(cfg.flows_dir)
    if cfg.demo_open_hours:
        flows = open_around_the_clock(flows)
        log.warning("demo_open_hours: every schedule is open around the clock (a demo switch)")
    runner = ActionRunner(cfg.backend.base_url)
    prompts = PromptStore(cfg.prompt_cache_dir, cfg.prompts.format, cfg.prompts.voices)
    links = LinkSigner(cfg.secret_key, cfg.itr.public_url, cfg.itr.link_ttl_seconds, time.time)
    sms = make_sms_sender(cfg)
    itr_records = LateSink()  # the records writer starts with the CTI (start_cti)
    itr_exits = LateExit()  # callbacks asked in the touch menu (start_callbacks)
    kb_answers = LateAnswers()  # "type your question": the knowledge base, once it is open
    itr_app = create_itr_app(flows, runner, links, local_now, secret_key=cfg.secret_key,
                             sms_sender=sms, on_done=itr_recorder(itr_records),
                             on_exit=itr_exits,
                             chat_url=f"{cfg.chat.origin}/chat/",
                             state_max_age_s=cfg.itr.state_max_age_s,
                             handoff_ttl_s=cfg.itr.handoff_ttl_s, wall=time.time,
                             answers=kb_answers, on_contained=itr_contained(itr_records))
    from cti.records.db import make_session_factory
    from cti.records.migrate import upgrade

    upgrade(cfg.db_url)
    session_factory = make_session_factory(cfg.db_url)
    kb_answers.open(session_factory, cfg.itr.question_min_confidence)
    console_app = None
    if with_console:
        from web_admin.app import create_console_app
        from web_admin.bootstrap import ensure_admin, ensure_demo_agents

        if ensure_admin(session_factory, cfg.data_dir) is not None:
            log.warning("created console user 'admin'; its password is in %s",
                        Path(cfg.data_dir) / "admin-password.txt")
        if cfg.backend.demo:  # the demo's agents get desktop users (README: trying it)
            ensure_demo_agents(session_factory, cfg.data_dir, cfg.asterisk.agents)
        console_app = create_console_app(cfg, session_factory=session_factory,
                                          flows_dir=cfg.flows_dir)
    backend_app = create_demo_backend() if cfg.backend.demo else None
    return Components(cfg, flows, runner, prompts, links, sms, itr_app, console_app, backend_app,
                      session_factory, itr_records, itr_exits)


def open_around_the_clock(flows: dict[str, Flow]) -> dict[str, Flow]:
    """The flows with every schedule open all day, every day, no holidays (the demo switch)."""
    from dataclasses import replace
    from datetime import time as clock_time

    from ivr_flows.core.model import Schedule

    day = ((clock_time(0, 0), clock_time.max),)
    return {name: replace(flow, schedules={
        s: Schedule(s, dict.fromkeys(range(7), day)) for s in flow.schedules})
        for name, flow in flows.items()}


def _web(reactor: Any, pool: Any, app: Flask, host: str, port: int) -> Any:
    """A Flask app on host:port; bodies over the app's MAX_CONTENT_LENGTH are refused (413)
    before they are read (cti/app/bounded_http.py)."""
    from twisted.web.wsgi import WSGIResource

    from cti.app.bounded_http import bounded_site

    limit = int(app.config.get("MAX_CONTENT_LENGTH") or 1024 * 1024)
    site = bounded_site(WSGIResource(reactor, pool, app), limit)
    return reactor.listenTCP(port, site, interface=host)


def serve(cfg: Config, *, with_asterisk: bool = True) -> int:
    from twisted.internet import reactor as global_reactor
    from twisted.python.threadpool import ThreadPool

    reactor: Any = global_reactor  # the one place the global reactor is taken; passed on from here

    c = build(cfg)
    cfg = c.cfg
    logging.getLogger().setLevel(cfg.log_level.upper())
    report = build_prompts(c.prompts, c.flows)
    if getattr(report, "failed", 0):
        log.error("some prompts could not be built; those prompts are skipped in calls")

    work_pool = ThreadPool(minthreads=2, maxthreads=32, name="hotline-work")
    web_pool = ThreadPool(minthreads=2, maxthreads=16, name="hotline-web")
    # Whatever happens (a port in use, any start failure, a normal stop), everything started
    # here is closed in reverse order, so no thread keeps the process alive.
    with ExitStack() as started:
        background = Background()
        started.callback(background.close)
        started.callback(c.runner.close)
        for pool in (work_pool, web_pool):
            pool.start()
            started.callback(pool.stop)
        cti, writer = start_cti(cfg, c, reactor, background)
        started.callback(writer.close, timeout=10.0)
        chat = start_chat(cfg, c, reactor, cti, web_pool)
        started.callback(chat.journal.close, timeout=10.0)
        callbacks = start_callbacks(cfg, c, reactor, cti, chat, web_pool)
        _listen_rest(cfg, c, reactor, cti, work_pool, web_pool, with_asterisk, background,
                     callbacks)
        # Everything built so far lives as long as the process: keep it out of the garbage
        # collector's full passes (a 130-160 ms pause about once a minute under chat load).
        gc.collect()
        gc.freeze()
        reactor.run()
    return 0


def _listen_rest(cfg: Config, c: Components, reactor: Any, cti: Any, work_pool: Any,
                 web_pool: Any, with_asterisk: bool, background: Background,
                 callbacks: Any) -> None:
    from cti.app.speech import start_speech

    # Calls look things up on the reactor (no thread hop per lookup); the touch pages, which
    # run in WSGI threads, keep the blocking runner (c.runner).
    actions = ReactorActionRunner(reactor, cfg.backend.base_url)
    reactor.addSystemEventTrigger("before", "shutdown", actions.close)
    factory = FastAgiFactory(c.flows, c.prompts, actions, make_link_sender(c.links, c.sms),
                             local_now, reactor, work_pool,
                             on_outcome=calls_log_hook(Path(cfg.data_dir) / "calls.jsonl",
                                                       background.submit),
                             after_flow=cti.voice_entry.after_flow,
                             speech=start_speech(cfg, c.flows, reactor),
                             max_connections=cfg.fastagi.max_connections,
                             env_timeout_s=cfg.fastagi.env_timeout_s,
                             allowed_hosts=cfg.fastagi.allowed_hosts)
    listen_fastagi(reactor, factory, cfg.fastagi.host, cfg.fastagi.port, cfg.fastagi.backlog)
    _web(reactor, web_pool, c.itr_app, cfg.itr.host, cfg.itr.port)
    if c.console_app is not None:
        _web(reactor, web_pool, c.console_app, cfg.console.host, cfg.console.port)
    if c.backend_app is not None:
        _web(reactor, web_pool, c.backend_app, cfg.backend.demo_host, cfg.backend.demo_port)

    if with_asterisk and cfg.asterisk.sandbox:
        from cti.app.sandbox import start_sandbox, stop_sandbox

        start_sandbox(cfg)
        reactor.addSystemEventTrigger("before", "shutdown", stop_sandbox, cfg)
    start_ami(cfg, cti, reactor, callbacks)

    log.info("Hotline is up: touch menu http://%s:%d/  console http://%s:%d/  FastAGI %s:%d  "
             "chat %s/chat/  agent desktop %s/desk/", cfg.itr.host, cfg.itr.port,
             cfg.console.host, cfg.console.port, cfg.fastagi.host, cfg.fastagi.port,
             cfg.chat.origin, cfg.chat.origin)
    if with_asterisk and cfg.asterisk.sandbox:
        log.info("call it: SIP to %s@%s:%d (e.g. sipp -sn uac ... or a softphone)",
                 next(iter(cfg.asterisk.dids), "?"), cfg.asterisk.sip_host, cfg.asterisk.sip_port)


def start_cti(cfg: Config, c: Components, reactor: Any,
              background: Background) -> tuple[Any, Any]:
    """The routing service, its records writer, agent sessions, and the agent API listener."""

    from cti.agents.http_api import MAX_BODY as API_MAX_BODY
    from cti.app.bounded_http import bounded_site
    from cti.app.wiring import build_cti
    from cti.channels.voice.comfort import comfort_file
    from cti.records.writer import RecordWriter
    from cti.service.agent_sessions import AgentStore

    # A 100 ms batch window: a call's IVR part is ~8 events submitted at once when the flow
    # ends; one transaction per call costs ~2.7 ms CPU, ten calls per transaction ~0.9 ms
    # each. Submit->commit stays well under the records' 200 ms p99 latency floor.
    writer = RecordWriter(c.session_factory, spill_dir=Path(cfg.data_dir) / "records-spill",
                          batch_ms=RECORDS_BATCH_MS)
    c.itr_records.submit = writer.submit  # touch sessions are recorded from now on
    ok = False
    try:
        cti = build_cti(cfg, c.flows, reactor, writer, c.prompts.say_text,
                        comfort_file(cfg.prompt_cache_dir))
        cti.api.session_agent = desk_session_agent(reactor, c.session_factory)
        # Listen first: a port in use must not restore agents or close calls of another run.
        reactor.listenTCP(cfg.cti.api_port, bounded_site(cti.api, API_MAX_BODY),
                          interface=cfg.cti.api_host)
        store = AgentStore(Path(cfg.data_dir) / "agents.json", cti.gateway, cti.profiles,
                           background.submit, cfg.cti.chat_while_voice)
        store.restore()  # at start, before the reactor runs: reading the file may block
        close_interrupted_calls(c.session_factory, cti.service)
        ok = True
    finally:
        if not ok:
            writer.close(timeout=5.0)  # its thread would keep the process alive
    reactor.addSystemEventTrigger("before", "shutdown", store.save)
    reactor.addSystemEventTrigger("before", "shutdown", cti.service.stop)
    return cti, writer


def start_chat(cfg: Config, c: Components, reactor: Any, cti: Any, web_pool: Any) -> Any:
    """Chat and the agent desktop (cti/app/chat_wiring.py): the realtime site on
    ``[chat] host:port``; conversations open at the last stop are queued again."""
    from cti.app.chat_wiring import build_chat, listen_chat, restore_open_chats

    parts = build_chat(cfg, c.flows, reactor, cti, c.session_factory, web_pool)
    try:
        listen_chat(cfg, parts, reactor, web_pool)
        restore_open_chats(parts, c.session_factory)
    except Exception:
        parts.journal.close(timeout=5.0)
        raise
    return parts


def start_callbacks(cfg: Config, c: Components, reactor: Any, cti: Any, chat: Any,
                    pool: Any) -> Any:
    """Callbacks (cti/app/callback_wiring.py): offered on the desktops, asked for in the
    voice queue, by a flow's callback exit and in the touch menu; the requests still to
    call at the last stop go back in line."""
    from cti.app import callback_wiring as wiring

    channel = wiring.build_callbacks(cfg, c.flows, reactor, cti, c.session_factory, pool)
    wiring.attach_chat(channel, chat, cfg.callback.queue)
    cti.voice_entry.callbacks = channel
    cti.voice_entry.callback_key = cfg.callback.voice_key
    c.itr_exits.fn = wiring.itr_exit(channel, reactor)
    wiring.restore(channel, c.session_factory)
    return channel


def desk_session_agent(reactor: Any, session_factory: Any) -> Any:
    """token -> Deferred(agent id | None): a desktop session, read in a thread."""
    from twisted.internet.threads import deferToThread

    from cti.records import desk_sessions

    def agent_of(token: str) -> str | None:
        info = desk_sessions.lookup(session_factory, token)
        return info.agent_id if info is not None else None

    return lambda token: deferToThread(agent_of, token)


def close_interrupted_calls(session_factory: Any, service: Any) -> int:
    """Calls that were in progress when the CTI stopped went to the dialplan's fallback
    (their FastAGI connection closed): end them in the records, saying so."""
    from cti.records.core.events import Ended
    from cti.records.history import open_interactions

    with session_factory() as session:
        ids = open_interactions(session, channel="voice")
    for iid in ids:
        service.record(iid, Ended("system", "cti_restart", "fallback"))
    if ids:
        log.warning("cti: %d call(s) were cut by the last stop; recorded as ended "
                    "(they went to the dialplan fallback)", len(ids))
    return len(ids)


def start_ami(cfg: Config, cti: Any, reactor: Any, callbacks: Any = None) -> Any:
    """The AMI client: agent phones' state and answers feed routing; resync on reconnect."""
    from twisted.internet.endpoints import TCP4ClientEndpoint

    from cti.telephony.ami.bridge import TelephonyBridge
    from cti.telephony.ami.client import AmiClient
    from cti.telephony.ami.events import AgentMap

    agents = AgentMap.from_agents(cfg.asterisk.agents)
    client = AmiClient(TCP4ClientEndpoint(reactor, cfg.asterisk.ami_host, cfg.asterisk.ami_port),
                       username=cfg.asterisk.ami_user, secret=cfg.asterisk.ami_secret,
                       agents=agents, clock=reactor)
    client.subscribe(TelephonyBridge(cti.gateway, cti.voice, agents).on_ami)

    def hang_up(channel: str) -> Any:  # a transfer from the desktop ends the agent's leg
        return client.send_action("Hangup", {"Channel": channel})

    cti.voice.hang_up = hang_up
    if callbacks is not None:
        from cti.app.callback_wiring import attach_ami

        attach_ami(callbacks, client)
    client.start()
    reactor.addSystemEventTrigger("before", "shutdown", client.stop)
    return client
