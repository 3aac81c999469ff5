"""The chat channel: conversations as contacts of the one routing engine (reactor thread).

Implements ``cti.service.channel.Channel`` for chat. A conversation's id is also its
engine contact id and its records interaction id. What a chat is made of:

- **the transcript** lives only in the records database (``cti/records/chat.py``), written
  by the chat journal's thread (``cti/records/chat_journal.py``, group commit). A message
  is acknowledged to its sender, and shown to anyone, only after it is committed; the
  journal's answer hops back to the reactor with ``callFromThread``;
- **the live part** (who is connected, which agent holds it, the offer timer) is here;
- **connections** are ``cti.realtime`` connections; ``Outbox`` per connection keeps every
  conversation's messages in ``seq`` order without gaps, including across a resume (a
  replay from the store runs while live messages for that conversation are held back).

Where a chat goes: widget ``send`` (``customer.py``) -> ``open``/``post`` here -> the
journal commits -> ``ack`` to the sender, ``msg`` to both sides -> the engine offers the
contact (``deliver(Offer)``) -> the agent's desktop shows the offer (``cti/agents/desktop``)
-> ``accept`` -> ``Connect`` -> the customer sees the agent join.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from cti.channels.chat.bot import ChatBot, bot_name
from cti.channels.chat.model import ChatRoute, ChatSettings, Journal, LiveChat
from cti.channels.chat.outbox import Outbox
from cti.channels.chat.receipts import Marks, ReceiptWriter
from cti.records.chat import Appended, FileRef, NewMessage, StoredMessage
from cti.records.core.events import Ended, InteractionStarted, IvrSegment, RecordEvent, WrapUp
from cti.routing import commands as c
from cti.routing import events as e
from cti.service.service import CtiService

log = logging.getLogger(__name__)
__all__ = ["ChatChannel", "ChatRoute", "ChatSettings", "Journal", "LiveChat"]  # model.py's too


class ChatChannel:
    medium = "chat"

    def __init__(self, service: CtiService, journal: Journal, reactor: Any,
                 settings: ChatSettings, agent_names: Callable[[str], str],
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.service = service
        self.journal = journal
        self.reactor = reactor
        self.settings = settings
        self.agent_names = agent_names
        self.wall = wall
        self.chats: dict[str, LiveChat] = {}
        self.customers: dict[str, set[Outbox]] = {}  # conv -> customer connections
        self.desks: dict[str, set[Outbox]] = {}  # agent id -> desktop connections
        self.on_agent_event: list[Callable[[str, dict[str, Any]], None]] = []
        # Left messages and conversations restored after a restart, waiting for a staffed
        # queue (``dispatch_pending`` runs whenever an agent's state changes).
        self.pending: dict[str, LiveChat] = {}
        self.is_open: Callable[[], str | None] = lambda: None
        self.receipts = ReceiptWriter(journal, reactor)  # .flush() at a clean stop
        self.bot: ChatBot | None = None  # bot first: it answers new chats before the queue

    # ------------------------------------------------------------------ Channel protocol

    def deliver(self, contact_id: str, command: c.Command) -> None:
        chat = self.chats.get(contact_id)
        if chat is None:
            return
        match command:
            case c.Offer():
                self._offer(chat, command.agent_id)
            case c.CancelOffer():
                self._offer_gone(chat, command.agent_id, "cancelled")
            case c.Connect():
                self._connected(chat, command.agent_id)
            case c.Announce():
                self.to_customer(chat.conv, {"t": "queue", "conv": chat.conv,
                                             "position": command.position,
                                             "wait_s": _round(command.ewt_s)})
            case c.ExitContact():
                self._finish(chat, "system", f"queue_exit:{command.reason}", queue_exit=True)
            case _:
                pass

    def find(self, transport_key: str) -> str | None:
        return transport_key if transport_key in self.chats else None

    # ------------------------------------------------------------------ connections

    def follow_as_customer(self, box: Outbox, conv: str, after: int,
                           fresh: bool = False) -> None:
        """``fresh``: the conversation was opened just now, empty: nothing to replay."""
        box.name_of = self._name_of
        self.customers.setdefault(conv, set()).add(box)
        if fresh:
            box.sent.setdefault(conv, 0)
        else:  # the messages it missed, then the agent's receipt marks
            self._replay(box, conv, after, marks_of="agent")

    def follow_as_agent(self, box: Outbox, agent_id: str) -> None:
        box.name_of = self._name_of
        self.desks.setdefault(agent_id, set()).add(box)

    def _name_of(self, m: StoredMessage) -> str:
        """The name a message shows: the agent's display name, the bot's; customers' none."""
        if m.sender == "system":
            return bot_name(m.author, getattr(self.chats.get(m.conversation_id), "lang", ""))
        return self.agent_names(m.author) if m.sender == "agent" else ""

    def sign_out(self, agent_id: str, session: str) -> int:
        """A desktop session ended (signed out): its open sockets stop working at once."""
        closed = 0
        for box in list(self.desks.get(agent_id, ())):
            conn: Any = box.conn
            if getattr(conn.principal, "session", None) == session:
                conn.send({"t": "error", "code": "session_ended",
                           "message": "signed out", "ref": None})
                conn.close(4401, "signed out")
                self.drop(box)
                closed += 1
        return closed

    def resume_agent(self, box: Outbox, conv: str, after: int) -> None:
        """A desktop (re)joins a chat: what it missed, then the customer's receipt marks."""
        self._replay(box, conv, after, marks_of="customer")

    def drop(self, box: Outbox) -> None:
        for boxes in (*self.customers.values(), *self.desks.values()):
            boxes.discard(box)

    def _replay(self, box: Outbox, conv: str, after: int, marks_of: str | None = None) -> None:
        from cti.records.chat import messages_after

        box.start_replay(conv, after)

        def done(messages: list[StoredMessage]) -> None:
            chat = self.chats.get(conv)
            if chat is not None and messages:
                chat.top_seq = max(chat.top_seq, messages[-1].seq)
            box.finish_replay(conv, list(messages))
            if chat is not None and marks_of is not None:
                for frame in chat.marks.frames(conv, marks_of):
                    box.conn.send(frame)

        self.journal.read(messages_after, conv, after, self.settings.replay_limit,
                          callback=self._on_reactor(done))

    # ------------------------------------------------------------------ pushing frames

    def to_customer(self, conv: str, frame: dict[str, Any]) -> None:
        for box in list(self.customers.get(conv, ())):
            box.conn.send(frame)

    def to_agent(self, agent_id: str, frame: dict[str, Any]) -> None:
        for box in list(self.desks.get(agent_id, ())):
            box.conn.send(frame)
        for listener in self.on_agent_event:
            listener(agent_id, frame)

    def to_both(self, chat: LiveChat, frame: dict[str, Any]) -> None:
        self.to_customer(chat.conv, frame)
        if chat.agent is not None and chat.state in ("connected", "wrap_up"):
            self.to_agent(chat.agent, frame)

    def _fan_out(self, m: StoredMessage) -> None:
        chat = self.chats.get(m.conversation_id)
        if chat is not None:
            chat.top_seq = max(chat.top_seq, m.seq)
        boxes = list(self.customers.get(m.conversation_id, ()))
        if chat is not None and chat.agent is not None and chat.state in ("connected",
                                                                           "wrap_up"):
            boxes += list(self.desks.get(chat.agent, ()))
        for box in boxes:
            if not box.live(m):
                self._replay(box, m.conversation_id, box.sent.get(m.conversation_id, 0))
        if self.bot is not None and chat is not None and chat.state == "bot":
            self.bot.stored(self, chat, m)

    # ------------------------------------------------------------------ the customer's side

    def open(self, visitor: str, lang: str, identities: Mapping[str, str], name: str,
             done: Callable[[LiveChat | None, str], None],
             customer_id: int | None = None, *, conv: str = "",
             route: ChatRoute | None = None) -> None:
        """Open a new conversation (stored first), then queue it; ``done(chat, error)``.
        ``conv``: its id when the caller chose it (a hand-off token's: opening it again gives
        the same conversation, or ``conversation_ended``); ``route``: a web session's queue
        and context instead of the chat's."""
        from cti.records.chat import open_conversation

        conv = conv or "chat-" + secrets.token_hex(10)
        now = self.wall()

        def stored(info: Any) -> None:
            if conv in self.chats:  # the same id opened twice at once (a hand-off token)
                done(self.chats[conv], "")
                return
            if getattr(info, "state", "open") != "open":
                done(None, "conversation_ended")
                return
            owner = getattr(info, "visitor", visitor) or visitor
            chat = LiveChat(conv, owner, lang, name, dict(identities), opened_at=now,
                            route=route)
            self.chats[conv] = chat
            medium, flow = (route.channel, route.flow) if route else ("chat", "")
            self.service.record(conv, lambda: InteractionStarted(medium, dict(identities),
                                                                 "", flow))
            if route is not None and route.context:
                self._record_context(conv, route, now)
            done(chat, "")  # the customer follows the conversation first: then the queue
            if self.bot is not None and route is None:  # bot first: queued when it hands over
                chat.state = "bot"
                return
            self._enqueue(chat, priority=route.priority if route else 0)  # frame reaches them

        self.journal.read(partial(open_conversation, visitor=visitor, lang=lang, now=now,
                                  customer_id=customer_id), conv,
                          callback=self._on_reactor(stored))

    def restore(self, conv: str, visitor: str, lang: str, opened_at: datetime,
                last_seq: int = 0, marks: Mapping[str, int] | None = None) -> LiveChat:
        """A conversation still open in the store after a restart: queue it again, first
        (or keep it pending until an agent is there), with its stored receipt marks."""
        chat = self.chats.get(conv)
        if chat is None:
            chat = LiveChat(conv, visitor, lang, opened_at=opened_at, state="pending",
                            marks=Marks.of(marks or {}), top_seq=last_seq)
            self.chats[conv] = chat
            self.pending[conv] = chat
            self.dispatch_pending()
        return chat

    def leave_message(self, visitor: str, lang: str, cid: str, text: str, name: str,
                      phone: str, done: Callable[[str], None]) -> None:
        """No agent now: the message is stored as a conversation of its own, acknowledged,
        and queued as a chat contact as soon as an agent is staffed (the next shift)."""
        from cti.records.chat import open_conversation

        conv = "chat-" + secrets.token_hex(10)
        now = self.wall()
        identities = {"phone": phone} if phone else {}

        def opened(_: Any) -> None:
            chat = LiveChat(conv, visitor, lang, name, identities, state="pending",
                            opened_at=now)
            self.chats[conv] = chat
            self.service.record(conv, lambda: InteractionStarted("chat", identities))

            def stored(result: Appended) -> None:
                if result.error:
                    log.error("chat: a left message was not stored: %s", result.error)
                    return
                done(conv)
                self.pending[conv] = chat
                self.dispatch_pending()

            self.journal.submit(NewMessage(conv, "customer", visitor, cid, "text", text, None,
                                           now), self._on_reactor(stored))

        self.journal.read(partial(open_conversation, visitor=visitor, lang=lang, now=now),
                          conv, callback=self._on_reactor(opened))

    def dispatch_pending(self) -> None:
        if not self.pending or self.is_open() is not None:
            return
        for conv, chat in list(self.pending.items()):
            del self.pending[conv]
            chat.state = "waiting"
            self._enqueue(chat, priority=10)

    def _record_context(self, conv: str, route: ChatRoute, now: datetime) -> None:
        """A web session's IVR segment, as stored (its data keeps the pop's extra keys)."""
        try:
            self.service.records.submit(RecordEvent(conv, now, IvrSegment.KIND,
                                                    dict(route.context), f"{conv}-ivr"))
        except ValueError as exc:  # an EventError: the conversation goes on without it
            log.error("records: cannot record the context of %s: %s", conv, exc)

    def _queue_of(self, chat: LiveChat) -> str:
        return chat.route.queue if chat.route is not None else self.settings.queue

    def hand_over(self, chat: LiveChat, reason: str) -> None:
        """The bot hands its conversation to the queue, as any new chat (the agent gets the
        whole transcript, the bot's messages included)."""
        if chat.state == "handing_over":
            log.info("chat %s: the bot hands over (%s)", chat.conv, reason)
            chat.state = "waiting"
            self._enqueue(chat, priority=0)

    def _enqueue(self, chat: LiveChat, priority: int) -> None:
        route = chat.route
        skills = route.skills if route is not None else self.settings.skills
        attributes = {"channel": "chat", "language": chat.lang}
        if route is not None:
            attributes = {**route.attributes, "channel": route.channel, "language": chat.lang}
        self.service.add_contact(self, e.ContactArrived(
            chat.conv, "chat", self._queue_of(chat), priority, dict(skills), attributes,
            chat.name or chat.visitor))
        view = self.service.contact(chat.conv)
        if view is not None and view.position is not None:
            ewt = next((q.ewt_s for q in self.service.queues() if q.name == view.queue), None)
            self.to_customer(chat.conv, {"t": "queue", "conv": chat.conv,
                                         "position": view.position, "wait_s": _round(ewt)})

    def post(self, conv: str, sender: str, author: str, cid: str, *, text: str = "",
             file: Mapping[str, Any] | None = None,
             ack: Callable[[Appended], None]) -> None:
        """Store one message; when committed: ``ack`` (sender) and ``msg`` to both sides."""
        ref = None if not file else FileRef(str(file["id"]), str(file["name"]),
                                            str(file["type"]), int(file["size"]))
        item = NewMessage(conv, sender, author, cid, "file" if file else "text", text, ref,
                          self.wall())

        def committed(result: Appended) -> None:
            ack(result)
            if result.error is None and not result.duplicate and result.message is not None:
                self._fan_out(result.message)

        if self.settings.ack_first:
            return self._post_unsafely(item, ack)
        self.journal.submit(item, self._on_reactor(committed))
        return None

    def _post_unsafely(self, item: NewMessage, ack: Callable[[Appended], None]) -> None:
        """``ack_first`` (benchmark only): seq from memory, ack and deliver, store later."""
        chat = self.chats.get(item.conversation_id)
        if chat is None:
            ack(Appended(None, error="no_conversation"))
            return
        key = (item.sender, item.client_id)
        if key in chat.sent:
            ack(Appended(chat.sent[key], duplicate=True))
            return
        chat.last_seq += 1
        m = StoredMessage(item.conversation_id, chat.last_seq, item.sender, item.author,
                          item.client_id, item.kind, item.body, item.attachment, item.at)
        chat.sent[key] = m
        ack(Appended(m))
        self._fan_out(m)
        self.journal.submit(item, lambda result: None)

    def typing(self, chat: LiveChat, sender: str) -> None:
        frame = {"t": "typing", "conv": chat.conv, "from": sender}
        if sender == "customer":
            if chat.agent is not None and chat.state == "connected":
                self.to_agent(chat.agent, frame)
        else:
            self.to_customer(chat.conv, frame)

    def receipt(self, chat: LiveChat, reader: str, kind: str, seq: int, box: Outbox) -> None:
        """``reader`` (on ``box``) has seen or read up to ``seq``: clamped to what it was
        sent, it raises its mark (else ignored), is stored soon and goes to the other side."""
        seq = min(seq, box.sent.get(chat.conv, 0), chat.top_seq)
        if not chat.marks.raise_to(reader, kind, seq):
            return
        self.receipts.changed(chat.conv, chat.marks)
        frame = {"t": "receipt", "conv": chat.conv, "kind": kind, "seq": seq}
        if reader == "customer":
            if chat.agent is not None and chat.state in ("connected", "wrap_up"):
                self.to_agent(chat.agent, frame)
        else:
            self.to_customer(chat.conv, frame)

    def end(self, chat: LiveChat, by: str) -> None:
        solved = self.bot is not None and chat.state == "bot" and self.bot.finished(chat.conv)
        self._finish(chat, by, "bot_solved" if solved else f"ended_by_{by}",
                     exit_="bot" if solved else "")  # projection: outcome contained

    # ------------------------------------------------------------------ the agent's side

    def accept(self, chat: LiveChat, agent_id: str) -> bool:
        if chat.state != "offered" or chat.agent != agent_id:
            return False
        self._cancel_timer(chat)
        self.service.connected(chat.conv, agent_id)
        return True

    def reject(self, chat: LiveChat, agent_id: str) -> bool:
        if chat.state != "offered" or chat.agent != agent_id:
            return False
        self._cancel_timer(chat)
        chat.state, chat.agent = "waiting", None
        self.to_agent(agent_id, {"t": "offer_gone", "contact": chat.conv, "why": "rejected"})
        self.service.rejected(chat.conv, agent_id)
        return True

    def wrapped_up(self, chat: LiveChat, agent_id: str, code: str, notes: str) -> None:
        self.service.record(chat.conv, lambda: WrapUp(agent_id, code, notes))
        self.wrap_up_over(chat, agent_id)

    def wrap_up_over(self, chat: LiveChat, agent_id: str) -> None:
        """The chat is done for good: forget it, take its card off the desktop (once)."""
        if self.chats.get(chat.conv) is not chat:
            return
        self.chats.pop(chat.conv, None)
        self.customers.pop(chat.conv, None)
        self.service.forget_contact(chat.conv)
        self.to_agent(agent_id, {"t": "card_gone", "contact": chat.conv})

    def transfer(self, chat: LiveChat, agent_id: str, queue: str,
                 skills: Mapping[str, int], to: str) -> None:
        """Hand a connected chat on: it leaves this agent (no wrap-up: recorded as
        transferred) and waits again, first in line, in ``queue`` with ``skills`` (a
        transfer to one agent requires that agent's personal skill)."""
        if chat.state != "connected" or chat.agent != agent_id:
            return
        self.service.record(chat.conv, lambda: WrapUp(agent_id, "transferred", to))
        self.service.ended(chat.conv)
        self.service.apply(e.WrapUpEnded(agent_id, chat.conv))
        self.to_agent(agent_id, {"t": "card_gone", "contact": chat.conv})
        chat.state, chat.agent = "waiting", None
        self.to_customer(chat.conv, {"t": "transferred", "conv": chat.conv})
        self.service.add_contact(self, e.ContactArrived(
            chat.conv, "chat", queue, 10, dict(skills),
            {"channel": "chat", "language": chat.lang, "transferred_from": agent_id},
            chat.name or chat.visitor))

    def held_by(self, agent_id: str) -> list[LiveChat]:
        return [ch for ch in self.chats.values()
                if ch.agent == agent_id and ch.state in ("offered", "connected", "wrap_up")]

    def card(self, chat: LiveChat) -> dict[str, Any]:
        return {"t": "card", "contact": chat.conv, "medium": "chat", "conv": chat.conv,
                "customer": chat.name or chat.identities.get("phone", "") or chat.visitor,
                "queue": self._queue_of(chat), "since": chat.opened_at.isoformat(),
                "state": chat.state}

    def offer_frame(self, chat: LiveChat, expires_in: float) -> dict[str, Any]:
        return {"t": "offer", "contact": chat.conv, "medium": "chat", "conv": chat.conv,
                "customer": chat.name or chat.identities.get("phone", "") or chat.visitor,
                "queue": self._queue_of(chat), "expires_in": round(expires_in)}

    # ------------------------------------------------------------------ engine commands

    def _offer(self, chat: LiveChat, agent_id: str) -> None:
        chat.state, chat.agent = "offered", agent_id
        self._cancel_timer(chat)
        chat.offer_timer = self.reactor.callLater(self.settings.offer_s, self._timed_out,
                                                  chat.conv, agent_id)
        self.to_agent(agent_id, self.offer_frame(chat, self.settings.offer_s))

    def _timed_out(self, conv: str, agent_id: str) -> None:
        chat = self.chats.get(conv)
        if chat is None or chat.state != "offered" or chat.agent != agent_id:
            return
        chat.offer_timer = None
        chat.state, chat.agent = "waiting", None
        self.to_agent(agent_id, {"t": "offer_gone", "contact": conv, "why": "timeout"})
        self.service.timed_out(conv, agent_id)

    def _offer_gone(self, chat: LiveChat, agent_id: str, why: str) -> None:
        self._cancel_timer(chat)
        if chat.state == "offered" and chat.agent == agent_id:
            chat.state, chat.agent = "waiting", None
        self.to_agent(agent_id, {"t": "offer_gone", "contact": chat.conv, "why": why})

    def _connected(self, chat: LiveChat, agent_id: str) -> None:
        chat.state, chat.agent = "connected", agent_id
        self.to_agent(agent_id, {"t": "offer_gone", "contact": chat.conv, "why": "accepted"})
        self.to_agent(agent_id, self.card(chat))
        self.to_customer(chat.conv, {"t": "joined", "conv": chat.conv,
                                     "name": self.agent_names(agent_id)})

    def _finish(self, chat: LiveChat, by: str, reason: str, queue_exit: bool = False,
                exit_: str = "") -> None:
        from cti.records.chat import end_conversation

        if chat.state in ("ended", "wrap_up"):
            return
        self._cancel_timer(chat)
        was_connected = chat.state == "connected"
        previous = chat.state
        chat.state = "wrap_up" if was_connected else "ended"
        ended_by = "caller" if by == "customer" else by  # the records' word for the customer
        self.service.record(chat.conv, lambda: Ended(ended_by, reason, exit_ or (
            "" if was_connected else ("queue" if queue_exit else ""))))
        self.journal.read(end_conversation, chat.conv, self.wall(),
                          callback=lambda _: None)
        frame = {"t": "ended", "conv": chat.conv, "by": by}
        self.to_customer(chat.conv, frame)
        if was_connected and chat.agent is not None:
            self.to_agent(chat.agent, frame)
            self.to_agent(chat.agent, self.card(chat))
            self.service.ended(chat.conv)
        else:
            if previous == "offered" and chat.agent is not None:
                self.to_agent(chat.agent, {"t": "offer_gone", "contact": chat.conv,
                                           "why": "cancelled"})
            self.pending.pop(chat.conv, None)
            if not queue_exit and previous in ("waiting", "offered"):
                self.service.abandoned(chat.conv)
            self.chats.pop(chat.conv, None)
            self.service.forget_contact(chat.conv)

    def _cancel_timer(self, chat: LiveChat) -> None:
        if chat.offer_timer is not None and chat.offer_timer.active():
            chat.offer_timer.cancel()
        chat.offer_timer = None

    def _on_reactor(self, fn: Callable[[Any], None]) -> Callable[[Any], None]:
        """A journal callback (journal thread) that runs ``fn`` on the reactor thread."""
        reactor = self.reactor

        def hop(result: Any) -> None:
            reactor.callFromThread(fn, result)

        return hop


def _round(ewt: float | None) -> int | None:
    return None if ewt is None else round(ewt)

