"""Wiring of chat and the agent desktop: the chat journal, the chat channel, the customer
and agent frames, the realtime application, its web site (pages + ``/ws``), and the
restart recovery of conversations that were open when the process stopped.

Called by the composition root (``cti.app.server``) after ``start_cti``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cti.agents.desk import parse_skills
from cti.agents.desktop import pages as desk_pages
from cti.agents.desktop.agent_ws import AgentFrames, DeskAgent
from cti.app.config import Config
from cti.app.realtime import RealtimeApp
from cti.app.realtime_site import create_realtime_web_app
from cti.channels.chat import pages as chat_pages
from cti.channels.chat.bot import BotSettings, Candidate, ChatBot, candidates
from cti.channels.chat.channel import ChatChannel, ChatSettings, LiveChat
from cti.channels.chat.customer import CustomerFrames, Visitor, VisitorTokens
from cti.knowledge.live import LiveKnowledge
from cti.records import chat as store
from cti.records import desk_sessions
from cti.records.chat_journal import ChatJournal
from cti.records.db import make_session_factory
from ivr_flows.core.model import Flow
from ivr_flows.edges.clock import local_now
from ivr_flows.touch.handoff import HandoffCodec

log = logging.getLogger(__name__)


@dataclass
class ChatParts:
    journal: ChatJournal
    channel: ChatChannel
    app: RealtimeApp
    web: Any  # the Flask app of the realtime site
    tokens: VisitorTokens

    def agents_stop(self) -> None:
        self.app.agents.stop()
        self.channel.receipts.flush()  # the receipt marks not stored yet, before the close
        self.journal.close(timeout=10.0)


def chat_is_open(cfg: Config, flows: Mapping[str, Flow], gateway: Any) -> str | None:
    """None when a chat can reach an agent now; else ``after_hours`` or ``no_agents``."""
    chat = cfg.chat
    flow = flows.get(chat.flow) or next(iter(flows.values()), None)
    if not chat.ignore_hours and flow is not None and chat.schedule in flow.schedules:
        if not flow.schedules[chat.schedule].is_open(local_now(flow)):
            return "after_hours"
    staffed = next((q.agents_ready for q in gateway.queues() if q.name == chat.queue), 0)
    return None if staffed > 0 else "no_agents"


def build_chat(cfg: Config, flows: Mapping[str, Flow], reactor: Any, cti: Any,
               session_factory: Any, web_pool: Any) -> ChatParts:
    from twisted.internet.threads import deferToThreadPool

    # The journal has an engine of its own without pre-ping: it retries on outages itself,
    # and a ping per transaction was a third of its PostgreSQL round trips (bench/chat).
    journal = ChatJournal(make_session_factory(cfg.db_url, pre_ping=False))
    names: dict[str, str] = {}
    settings = ChatSettings(queue=cfg.chat.queue, skills=parse_skills(cfg.chat.skills),
                            offer_s=float(cfg.cti.ring_timeout_s),
                            ack_first=cfg.chat.ack_before_store)
    if cfg.chat.ack_before_store:
        log.warning("chat: ack_before_store is on: acknowledged messages can be lost in a "
                    "crash (a benchmark setting, never for production)")
    channel = ChatChannel(cti.service, journal, reactor, settings,
                          lambda agent: names.get(agent, agent))
    knowledge = LiveKnowledge(session_factory)  # one index: the bot's and the desktop's
    if cfg.chat.bot_first:
        channel.bot = ChatBot(bot_ranker(knowledge, reactor, web_pool), BotSettings(
            min_confidence=min(max(cfg.chat.bot_min_confidence, 0.0), 1.0)))
    tokens = VisitorTokens(cfg.secret_key)

    def find_open(visitor: str, done: Any) -> None:
        journal.read(store.find_open_conversation, visitor,
                     callback=lambda info: reactor.callFromThread(done, info))

    def leave(who: Visitor, cid: str, text: str, name: str, phone: str, done: Any) -> None:
        channel.leave_message(who.visitor, who.lang, cid, text, name, phone, done)

    def lookup_file(conv: str, file_id: str, done: Any) -> None:
        journal.read(chat_pages.attachment_of, conv, file_id,
                     callback=lambda info: reactor.callFromThread(done, info))

    customers = CustomerFrames(channel, tokens, cfg.chat.merchant_secret,
                               lambda: chat_is_open(cfg, flows, cti.gateway), find_open, leave,
                               lookup_file, handoffs=HandoffCodec(cfg.secret_key,
                                                                  cfg.itr.handoff_ttl_s).read)
    agents = AgentFrames(cti.desk, cti.gateway, channel,
                         ready_on_sign_in=cfg.chat.ready_on_sign_in, voice=cti.voice)
    agents.start()

    def sessions(token: str, done: Any) -> None:
        def found(info: desk_sessions.DeskSessionInfo | None) -> None:
            if info is None:
                done(None)
                return
            names[info.agent_id] = info.username
            done(DeskAgent(info.agent_id, info.user_id, info.username, token))

        d = deferToThreadPool(reactor, web_pool, desk_sessions.lookup, session_factory, token)
        def failed(failure: Any) -> None:
            log.error("desk session lookup failed: %s", failure.value)
            done(None)

        d.addCallbacks(found, failed)

    app = RealtimeApp(customers, agents, sessions)
    channel.is_open = lambda: chat_is_open(cfg, flows, cti.gateway)

    def agent_changed(change: Any) -> None:
        if change.kind == "agent" and channel.pending:
            reactor.callLater(0, channel.dispatch_pending)

    cti.gateway.subscribe(agent_changed)

    def live_context(agent_id: str, contact_id: str) -> dict[str, Any] | None:
        chat: LiveChat | None = channel.chats.get(contact_id)
        if chat is not None and chat.agent == agent_id:
            return {"name": chat.name, "identities": dict(chat.identities),
                    "context": {"channel": "chat", "language": chat.lang,
                                "queue": settings.queue}}
        view = cti.gateway.contact(contact_id)
        if view is not None and view.agent == agent_id:
            return {"name": view.customer, "identities": {"phone": view.customer}
                    if view.customer else {}, "context": {"attributes": dict(view.attributes),
                                                           "queue": view.queue}}
        return None

    def agent_holds(agent: str, conv: str) -> bool:
        return bool(cti.gateway.from_thread(live_context, agent, conv))

    def desk_agent_of_request() -> str | None:
        info = desk_pages.current_agent()
        return info.agent_id if info is not None else None

    files_dir = Path(cfg.data_dir) / "chat-files"
    files_dir.mkdir(parents=True, exist_ok=True)
    web = create_realtime_web_app(
        cfg.secret_key,
        chat_pages.ChatPageDeps(session_factory, files_dir, cfg.chat.max_file_bytes,
                                tokens.visitor, desk_agent_of_request, agent_holds),
        desk_pages.DeskDeps(session_factory,
                            lambda a, c: cti.gateway.from_thread(live_context, a, c),
                            lambda: sorted(q.name for q in cti.gateway.from_thread(
                                cti.gateway.queues)),
                            tuple((code, code.replace("_", " ")) for code in
                                  cfg.chat.wrap_up_codes),
                            secure_cookie=cfg.chat.public_url.startswith("https:"),
                            history=history_rows, context=contact_context,
                            agents=lambda: sorted(a.agent_id for a in cti.gateway.from_thread(
                                cti.gateway.agents) if a.state != "logged_out"),
                            signed_out=lambda agent, token: cti.gateway.from_thread(
                                channel.sign_out, agent, token)),
        tuple(cfg.chat.allowed_origins), cfg.chat.max_file_bytes + 256 * 1024)
    web.extensions["hotline_kb"] = knowledge  # the desktop's suggestions route reads it
    return ChatParts(journal, channel, app, web, tokens)


def bot_ranker(knowledge: LiveKnowledge, reactor: Any, pool: Any) -> Any:
    """The bot's ``rank``: ``knowledge.suggest`` on the web pool (it reads the database),
    its answer back on the reactor; a failure ranks nothing (the bot then hands over)."""
    from twisted.internet.threads import deferToThreadPool

    def rank(texts: Sequence[str], lang: str, done: Callable[[list[Candidate]], None]) -> None:
        d = deferToThreadPool(reactor, pool, knowledge.suggest, list(texts), 3, lang)

        def failed(failure: Any) -> None:
            log.error("chat bot: ranking failed: %s", failure.value)
            done([])

        d.addCallbacks(lambda found: done(candidates(found)), failed)

    return rank


def history_rows(sf: Any, identities: Mapping[str, str],
                 current: str = "") -> list[dict[str, Any]]:
    """The customer's unified history (calls, chats, ITR) for the screen pop, newest first;
    ``current`` (the contact on screen) is left out: it is the pop's context."""
    from cti.records.customers import find_customer, normalize
    from cti.records.history import customer_history

    with sf() as session:
        customer = None
        for kind, value in identities.items():
            try:
                customer = find_customer(session, normalize(kind, value))
            except ValueError:
                continue
            if customer is not None:
                break
        if customer is None:
            return []
        rows = customer_history(session, customer, limit=20)
    items = rows.items if hasattr(rows, "items") else rows
    return [{"id": r.id, "channel": r.channel, "outcome": r.outcome, "agent": r.agent,
             "started_at": r.started_at.isoformat() if r.started_at else None,
             "wrap_up_code": r.wrap_up_code, "wrap_up_notes": r.wrap_up_notes,
             "ivr_path": list(r.ivr_path), "self_service": list(r.self_service)}
            for r in items if r.id != current]


def contact_context(sf: Any, contact_id: str) -> dict[str, Any]:
    """What this contact did before reaching the agent (a call's IVR path and self-service
    results, as recorded when its flow ended; a web session's from the touch menu, with
    the results its pages showed (``seen``) and its queue exit's ``attributes``)."""
    from cti.records.core.events import IvrSegment
    from cti.records.history import get_interaction, interaction_timeline

    with sf() as session:
        row = get_interaction(session, contact_id)
        events = interaction_timeline(session, contact_id) if row is not None else []
    if row is None:
        return {}
    entered: dict[str, str] = {}
    extra: dict[str, Any] = {}
    for event in events:
        if event.type == IvrSegment.KIND:
            for step in event.data.get("steps", []):
                if isinstance(step, list) and len(step) == 2 and step[1]:
                    entered[str(step[0])] = str(step[1])
            seen, attributes = event.data.get("seen"), event.data.get("attributes")
            if isinstance(seen, list):  # a web session: what its pages showed
                extra["seen"] = [str(text) for text in seen][:8]
            if isinstance(attributes, dict):
                extra["attributes"] = {str(k): str(v) for k, v in attributes.items()}
    return {"ivr_path": list(row.ivr_path), "self_service": list(row.self_service),
            "entered": entered, **extra}


def restore_open_chats(parts: ChatParts, session_factory: Any) -> int:
    """Conversations open in the store when the process stopped go back in the queue."""
    infos = store.open_conversations(session_factory)
    for info in infos:  # with their receipt marks and the seq reached
        parts.channel.restore(info.id, info.visitor, info.lang, info.created_at,
                              info.last_seq, info.receipts)
    if infos:
        log.warning("chat: %d conversation(s) open at the last stop are queued again",
                    len(infos))
    return len(infos)


def listen_chat(cfg: Config, parts: ChatParts, reactor: Any, web_pool: Any) -> Any:
    """The realtime site on ``[chat] host:port``: pages, attachments and ``/ws``."""
    from twisted.web.wsgi import WSGIResource

    from cti.app.bounded_http import bounded_request
    from cti.realtime.server import RealtimeLimits, make_ws_resource, realtime_site

    chat = cfg.chat
    limits = RealtimeLimits(max_frame_bytes=chat.max_frame_bytes, frames_per_s=chat.frames_per_s,
                            max_connections=chat.max_connections)
    origins = {chat.origin, f"http://{chat.host}:{chat.port}", *chat.allowed_origins}
    if chat.host == "127.0.0.1":
        origins.add(f"http://localhost:{chat.port}")
    ws = make_ws_resource(reactor, parts.app, limits, sorted(origins))
    site = realtime_site(ws, WSGIResource(reactor, web_pool, parts.web), {})
    site.requestFactory = bounded_request(int(parts.web.config["MAX_CONTENT_LENGTH"]))
    port = reactor.listenTCP(chat.port, site, interface=chat.host)
    reactor.addSystemEventTrigger("before", "shutdown", parts.agents_stop)
    return port
