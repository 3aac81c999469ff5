"""The agent desktop's frames (docs/REALTIME.md), on the reactor thread.

A desktop connection is authorised by the desktop session cookie (``DeskSessions``: a
server-side session, so signing out ends it); the agent then sees only their own offers and
contacts. State changes go through the agent use cases (``AgentDesk``), chats through the
chat channel; what the engine changes comes back on the gateway's change stream and is
pushed as an ``agent`` frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cti.agents.desk import AgentDesk, AgentError, personal_skill
from cti.channels.chat.channel import ChatChannel, LiveChat
from cti.channels.chat.outbox import Outbox
from cti.realtime.core.frames import FrameError, id_field, text_field
from cti.records.chat import Appended
from cti.routing.agents import AgentView
from cti.routing.queues import ContactView
from cti.service.gateway import Change, Gateway

log = logging.getLogger(__name__)
MAX_TEXT = 4000


class VoiceTransfers(Protocol):
    """What the desktop needs of the voice channel (``VoiceChannel.transfer``)."""

    def transfer(self, contact_id: str, agent_id: str, queue: str,
                 skills: Mapping[str, int], to: str) -> str: ...


@dataclass
class DeskAgent:
    """The principal of a desktop connection."""

    agent_id: str
    user_id: int
    name: str
    session: str
    box: Outbox | None = None
    resume: dict[str, int] = field(default_factory=dict)


class CallbackOffers(Protocol):
    """What the desktop needs of the callback channel (``CallbackChannel``)."""

    def accept(self, contact_id: str, agent_id: str) -> bool: ...

    def reject(self, contact_id: str, agent_id: str) -> bool: ...

    def offered_to(self, agent_id: str) -> list[Any]: ...

    def offer_frame(self, live: Any, expires_in: float) -> dict[str, Any]: ...


PHONE_MEDIA = ("voice", "callback")  # contacts on the agent's phone: a card, no transcript


def call_card(view: ContactView) -> dict[str, Any]:
    """A call (or a callback) as the desktop shows it: ringing the agent's phone, or
    connected."""
    return {"t": "card", "contact": view.contact_id, "medium": view.media, "conv": None,
            "customer": view.customer, "queue": view.queue, "since": "",
            "state": "ringing" if view.state == "offered" else "connected"}


def agent_frame(view: AgentView, voice_card: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"t": "agent", "state": view.state, "reason": view.reason or "",
            "chats": view.chat_load, "max_chats": view.max_chats,
            "voice": view.voice_load > 0, "offered": view.offered}


@dataclass
class AgentFrames:
    desk: AgentDesk
    gateway: Gateway
    chat: ChatChannel
    ready_on_sign_in: bool = False  # else signed in not ready ("login") until Ready
    voice: VoiceTransfers | None = None  # the voice channel, for transferring calls
    callbacks: CallbackOffers | None = None  # the callback channel: its offers' answers
    _unsubscribe: Callable[[], None] | None = None
    _calls: dict[str, str] = field(default_factory=dict)  # voice contact -> its agent
    _wrapping: dict[str, str] = field(default_factory=dict)  # ended call -> agent wrapping up

    def start(self) -> None:
        self._unsubscribe = self.gateway.subscribe(self._changed)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _changed(self, change: Change) -> None:
        if change.kind == "agent" and isinstance(change.view, AgentView):
            self._wrap_ups_over(change.view)
            if change.key in self.chat.desks:
                self.chat.to_agent(change.key, agent_frame(change.view))
        elif change.kind == "contact":
            self._voice_card(change.key, change.view)

    def _voice_card(self, contact_id: str, view: object) -> None:
        """Calls show on the desktop too: ringing the agent's phone (an offer card without
        buttons: the phone answers), then the call card while connected."""
        if isinstance(view, ContactView) and view.media not in PHONE_MEDIA:
            return
        if isinstance(view, ContactView) and view.media == "callback" and \
                view.state == "offered":
            return  # the callback channel sends its offer (accept / reject) itself
        agent = view.agent if isinstance(view, ContactView) else None
        before = self._calls.get(contact_id)
        if before is not None and (agent != before or not isinstance(view, ContactView)
                                   or view.state not in ("offered", "connected")):
            del self._calls[contact_id]
            if contact_id in self.gateway.agent(before).wrap_up:  # the call ended: wrap up
                self._wrapping[contact_id] = before
                self.chat.to_agent(before, {**call_card(view), "state": "wrap_up"}
                                   if isinstance(view, ContactView) else
                                   {"t": "card_gone", "contact": contact_id})
            else:
                self.chat.to_agent(before, {"t": "card_gone", "contact": contact_id})
                self.chat.to_agent(before, {"t": "offer_gone", "contact": contact_id,
                                            "why": "cancelled"})
        if not isinstance(view, ContactView) or agent is None:
            return
        if view.state in ("offered", "connected"):
            self._calls[contact_id] = agent
            self.chat.to_agent(agent, call_card(view))

    def _wrap_ups_over(self, view: AgentView) -> None:
        """The engine ended wrap-ups on its own (``cti.wrap_up_s`` passed, or all at once):
        their cards go, with no code recorded."""
        for chat in self.chat.held_by(view.agent_id):
            if chat.state == "wrap_up" and chat.conv not in view.wrap_up:
                self.chat.wrap_up_over(chat, view.agent_id)
        for contact, agent in list(self._wrapping.items()):
            if agent == view.agent_id and contact not in view.wrap_up:
                del self._wrapping[contact]
                self.chat.to_agent(agent, {"t": "card_gone", "contact": contact})

    def voice_cards_of(self, agent_id: str) -> list[dict[str, Any]]:
        views = (self.gateway.contact(cid) for cid, a in self._calls.items() if a == agent_id)
        return [call_card(v) for v in views if v is not None]

    # ------------------------------------------------------------------ hello

    def hello(self, conn: Any, who: DeskAgent, frame: Mapping[str, Any]) -> None:
        """The session was checked by the caller (cookie -> DeskAgent)."""
        who.box = Outbox(conn)
        conn.principal = who
        conn.send({"t": "welcome", "role": "agent", "agent": who.agent_id, "name": who.name})
        self.chat.follow_as_agent(who.box, who.agent_id)
        view = self.gateway.agent(who.agent_id)
        if view.state == "logged_out":
            try:
                view = self.desk.login(who.agent_id, ready=self.ready_on_sign_in)
            except AgentError as exc:
                conn.send({"t": "error", "code": exc.code, "message": exc.message,
                           "ref": None})
        conn.send(agent_frame(view))
        raw = frame.get("resume")
        resume: dict[str, Any] = raw if isinstance(raw, dict) else {}
        who.resume = {k: v for k, v in list(resume.items())[:100] if isinstance(k, str)
                      and isinstance(v, int) and not isinstance(v, bool) and v >= 0}
        for chat in self.chat.held_by(who.agent_id):
            if chat.state == "offered":
                conn.send(self.chat.offer_frame(chat, self.chat.settings.offer_s))
                continue
            conn.send(self.chat.card(chat))
            after = resume.get(chat.conv, 0)
            self.chat.resume_agent(who.box, chat.conv,
                                   after if isinstance(after, int) and after >= 0 else 0)
        for card in self.voice_cards_of(who.agent_id):
            conn.send(card)
        if self.callbacks is not None:
            for live in self.callbacks.offered_to(who.agent_id):
                conn.send(self.callbacks.offer_frame(live, self.chat.settings.offer_s))

    # ------------------------------------------------------------------ frames

    def frame(self, conn: Any, who: DeskAgent, frame: Mapping[str, Any]) -> None:
        kind = frame["t"]
        handler = getattr(self, f"_f_{kind}", None)
        if handler is None:
            raise FrameError("unknown_frame", f"no frame {kind!r} for an agent")
        try:
            handler(conn, who, frame)
        except AgentError as exc:
            raise FrameError(exc.code, exc.message) from None

    def _own(self, who: DeskAgent, frame: Mapping[str, Any], key: str = "conv") -> LiveChat:
        conv = id_field(frame, key)
        chat = self.chat.chats.get(conv)
        if chat is None or chat.agent != who.agent_id:
            raise FrameError("not_yours", "no such contact of yours")
        return chat

    def _f_state(self, conn: Any, who: DeskAgent, frame: Mapping[str, Any]) -> None:
        state = frame.get("state")
        if state == "ready":
            if self.gateway.agent(who.agent_id).state == "logged_out":
                self.desk.login(who.agent_id)
            self.desk.ready(who.agent_id)
        elif state == "not_ready":
            if self.gateway.agent(who.agent_id).state == "logged_out":
                self.desk.login(who.agent_id)
            self.desk.not_ready(who.agent_id, frame.get("reason") or "break")
        elif state == "logout":
            self.desk.logout(who.agent_id)
        else:
            raise FrameError("bad_field", "state is ready, not_ready or logout")
        conn.send(agent_frame(self.gateway.agent(who.agent_id)))

    def _f_accept(self, conn: Any, who: DeskAgent, frame: Mapping[str, Any]) -> None:
        if self.callbacks is not None and self.callbacks.accept(
                id_field(frame, "contact") or "", who.agent_id):
            return  # the agent's phone rings now, then the customer's
        chat = self._own(who, frame, "contact")
        if not self.chat.accept(chat, who.agent_id):
            raise FrameError("not_offered", "this offer is no longer yours")
        assert who.box is not None  # from where this desktop already is (a re-offer after a
        self.chat.resume_agent(who.box, chat.conv,  # restart), else the whole transcript
                               who.box.sent.get(chat.conv) or who.resume.get(chat.conv, 0))

    def _f_reject(self, conn: Any, who: DeskAgent, frame: Mapping[str, Any]) -> None:
        if self.callbacks is not None and self.callbacks.reject(
                id_field(frame, "contact") or "", who.agent_id):
            return
        chat = self._own(who, frame, "contact")
        if not self.chat.reject(chat, who.agent_id):
            raise FrameError("not_offered", "this offer is no longer yours")

    def _f_send(self, conn: Any, who: DeskAgent, frame: Mapping[str, Any]) -> None:
        chat = self._own(who, frame)
        if chat.state != "connected":
            raise FrameError("conversation_ended", "this chat has ended")
        cid = id_field(frame, "cid")
        text = text_field(frame, "text", MAX_TEXT)
        if not text.strip():
            raise FrameError("bad_field", "a message needs text")

        def ack(result: Appended) -> None:
            if result.error or result.message is None:
                conn.send({"t": "error", "code": result.error or "not_stored",
                           "message": "not stored", "ref": cid})
            else:
                conn.send({"t": "ack", "conv": chat.conv, "cid": cid,
                           "seq": result.message.seq})

        self.chat.post(chat.conv, "agent", who.agent_id, cid, text=text, ack=ack)

    def _f_typing(self, conn: Any, who: DeskAgent, frame: Mapping[str, Any]) -> None:
        self.chat.typing(self._own(who, frame), "agent")

    def _f_seen(self, conn: Any, who: DeskAgent, frame: Mapping[str, Any]) -> None:
        self._receipt(who, frame, "delivered")

    def _f_read(self, conn: Any, who: DeskAgent, frame: Mapping[str, Any]) -> None:
        self._receipt(who, frame, "read")

    def _receipt(self, who: DeskAgent, frame: Mapping[str, Any], kind: str) -> None:
        seq = frame.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise FrameError("bad_field", "seq is a whole number")
        assert who.box is not None  # set by hello; a seq is clamped to what it was sent
        self.chat.receipt(self._own(who, frame), "agent", kind, seq, who.box)

    def _f_end(self, conn: Any, who: DeskAgent, frame: Mapping[str, Any]) -> None:
        chat = self._own(who, frame)
        self.chat.end(chat, "agent")

    def _f_wrapup(self, conn: Any, who: DeskAgent, frame: Mapping[str, Any]) -> None:
        contact = id_field(frame, "contact")
        if self._wrapping.get(contact or "") == who.agent_id:  # a call's wrap-up
            code = text_field(frame, "code", 32) or ""
            notes = text_field(frame, "notes", 2000, required=False) or ""
            self.desk.wrap_up(who.agent_id, code, notes, contact=contact or "")
            del self._wrapping[contact or ""]
            self.chat.to_agent(who.agent_id, {"t": "card_gone", "contact": contact})
            conn.send(agent_frame(self.gateway.agent(who.agent_id)))
            return
        chat = self._own(who, frame, "contact")
        if chat.state != "wrap_up":
            raise FrameError("not_in_wrap_up", "end the chat first")
        code = text_field(frame, "code", 32)
        notes = text_field(frame, "notes", 2000, required=False) or ""
        self.desk.wrap_up(who.agent_id, code, notes, contact=chat.conv, record=False)
        self.chat.wrapped_up(chat, who.agent_id, code, notes)
        conn.send(agent_frame(self.gateway.agent(who.agent_id)))

    def _f_transfer(self, conn: Any, who: DeskAgent, frame: Mapping[str, Any]) -> None:
        """A connected chat or call, to a queue (``queue``) or to one agent (``agent``, or a
        ``queue`` of ``agent:<id>``: logged in and not the sender)."""
        contact = id_field(frame, "contact") or ""
        if self._calls.get(contact) == who.agent_id:
            self._transfer_call(conn, who, contact, frame)
            return
        chat = self._own(who, frame, "contact")
        if chat.state != "connected":
            raise FrameError("not_connected", "only a connected chat can be transferred")
        settings = self.chat.settings
        queue, skills, to = self._target(who, frame, settings.queue, settings.skills)
        self.chat.transfer(chat, who.agent_id, queue, skills, to)

    def _transfer_call(self, conn: Any, who: DeskAgent, contact: str,
                       frame: Mapping[str, Any]) -> None:
        view = self.gateway.contact(contact)
        if self.voice is None or view is None or view.state != "connected" or \
                view.agent != who.agent_id:
            raise FrameError("not_connected", "only a connected call can be transferred")
        queue, skills, to = self._target(who, frame, view.queue, {})
        refused = self.voice.transfer(contact, who.agent_id, queue, skills, to)
        if refused:
            raise FrameError(refused, "this call cannot be transferred now")
        conn.send({"t": "transferring", "contact": contact, "to": to})

    def _target(self, who: DeskAgent, frame: Mapping[str, Any], own_queue: str,
                queue_skills: Mapping[str, int]) -> tuple[str, dict[str, int], str]:
        """(queue, skills, what the records say it went to) for a transfer frame: one agent
        is reached through the contact's own queue with that agent's personal skill."""
        target = frame.get("agent")
        queue_field = frame.get("queue")
        if target is None and isinstance(queue_field, str) and queue_field.startswith("agent:"):
            target = queue_field.removeprefix("agent:")  # the desktop's one target list
            frame = {**frame, "agent": target}
        if target is not None:
            agent = id_field(frame, "agent") or ""
            view = self.gateway.agent(agent)
            if agent == who.agent_id or agent not in self.desk.profiles or \
                    view.state == "logged_out":
                raise FrameError("agent_unavailable", "that agent is not signed in")
            return own_queue, {**queue_skills, personal_skill(agent): 1}, agent
        queue = id_field(frame, "queue") or ""
        if queue not in {q.name for q in self.gateway.queues()}:
            raise FrameError("unknown_queue", "no such queue")
        return queue, dict(queue_skills), queue
