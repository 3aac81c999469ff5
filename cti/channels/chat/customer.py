"""The customer's frames (docs/REALTIME.md): hello, send, typing, seen, read, end,
leave_message. Runs on the reactor thread; the transport (``cti.realtime``) has already
checked the frame's size, shape and rate.

Identity: a visitor token signed with the configuration's secret (``VisitorTokens``), and
optionally a merchant-signed identity (``verify_identity``) that links the chat to the
customer record of that phone number, so calls and chats share one history.

A web session from the touch menu: ``hello.handoff`` is the token its final page linked
(``ivr_flows.touch.handoff``); the conversation it names is opened at once in the flow's
queue, with the menu's path, entered values and results for the agent (``ChatRoute``), and
joins the customer's history when the session knew their number. Presented again (a reload,
another tab or phone), it resumes that same conversation, never a second one: its holder
becomes the conversation's visitor. A visitor with an open chat already keeps that one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, URLSafeSerializer

from cti.channels.chat.channel import ChatChannel, ChatRoute, LiveChat
from cti.channels.chat.outbox import Outbox
from cti.realtime.core.frames import FrameError, id_field, int_field, text_field
from cti.records.chat import Appended

if TYPE_CHECKING:
    from ivr_flows.touch.handoff import Handoff

log = logging.getLogger(__name__)
MAX_TEXT = 4000
LANGS = ("zh", "en")


class VisitorTokens:
    def __init__(self, secret: str) -> None:
        self._s = URLSafeSerializer(secret, salt="hotline.visitor")

    def new(self) -> tuple[str, str]:
        visitor = "v-" + secrets.token_hex(8)
        return visitor, self.sign(visitor)

    def sign(self, visitor: str) -> str:
        return str(self._s.dumps(visitor))

    def visitor(self, token: object) -> str | None:
        if not isinstance(token, str) or len(token) > 200:
            return None
        try:
            value = self._s.loads(token)
        except BadSignature:
            return None
        return value if isinstance(value, str) and value.startswith("v-") else None


def sign_identity(secret: str, claims: Mapping[str, Any]) -> str:
    """What a merchant's back-end does (documented in the README; used by tests)."""
    body = base64.urlsafe_b64encode(json.dumps(dict(claims)).encode()).decode().rstrip("=")
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def verify_identity(secret: str, token: object, now: float | None = None) -> dict[str, str]:
    """The merchant's signed claims (customer_id, name, phone), or {} if absent/invalid."""
    if not secret or not isinstance(token, str) or len(token) > 2000 or "." not in token:
        return {}
    body, _, mac = token.rpartition(".")
    want = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, mac):
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(claims, dict):
        return {}
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp < (now if now is not None else time.time()):
        return {}
    out = {}
    for key, limit in (("customer_id", 64), ("name", 64), ("phone", 20)):
        value = claims.get(key)
        if isinstance(value, str) and 0 < len(value) <= limit:
            out[key] = value
    return out


@dataclass
class Visitor:
    """The principal of a customer connection."""

    visitor: str
    lang: str
    identity: dict[str, str] = field(default_factory=dict)
    conv: str | None = None
    box: Outbox | None = None


@dataclass
class CustomerFrames:
    channel: ChatChannel
    tokens: VisitorTokens
    merchant_secret: str
    is_open: Callable[[], str | None]  # None: agents answer now; else the reason
    find_open: Callable[[str, Callable[[Any], None]], None]  # visitor -> conv info (async)
    leave: Callable[[Visitor, str, str, str, str, Callable[[str], None]], None]
    # (conv, file id, done(attachment | None)): the uploaded file, looked up off the reactor
    lookup_file: Callable[[str, str, Callable[[Any], None]], None] = (
        lambda conv, fid, done: done(None))
    # a hand-off token from the touch menu -> the hand-off, or None (forged, expired, absent)
    handoffs: Callable[[object], Handoff | None] = lambda token: None
    # "call me back": (visitor, callback id, phone, done(callback id, error)); None = not offered
    callbacks: Callable[[Visitor, str, str, Callable[[str, str], None]], None] | None = None

    # ------------------------------------------------------------------ hello

    def hello(self, conn: Any, frame: Mapping[str, Any]) -> None:
        visitor = self.tokens.visitor(frame.get("visitor"))
        token = frame.get("visitor") if visitor else None
        if visitor is None:
            visitor, token = self.tokens.new()
        lang = frame.get("lang") if frame.get("lang") in LANGS else "zh"
        who = Visitor(visitor, str(lang), verify_identity(self.merchant_secret,
                                                          frame.get("identity")))
        who.box = Outbox(conn)
        conn.principal = who
        raw = frame.get("resume")
        resume: dict[str, Any] = raw if isinstance(raw, dict) else {}
        handoff = self.handoffs(frame["handoff"]) if frame.get("handoff") else None

        def found(info: Any) -> None:
            reason = self.is_open()
            if info is not None:
                who.conv = info.id
                chat = self.channel.chats.get(info.id) or self.channel.restore(
                    info.id, visitor, who.lang, info.created_at, info.last_seq, info.receipts)
                after = resume.get(info.id, 0)
                after = after if isinstance(after, int) and after >= 0 else 0
                conn.send({"t": "welcome", "role": "customer", "visitor": token,
                           "conv": info.id, "open": True, "reason": None})
                assert who.box is not None
                self.channel.follow_as_customer(who.box, info.id, after)
                self._status(conn, chat)
                return
            if handoff is not None:
                self._hand_over(conn, who, handoff, resume, reason)
                return
            conn.send({"t": "welcome", "role": "customer", "visitor": token, "conv": None,
                       "open": reason is None, "reason": reason})

        self.find_open(visitor, found)

    def _hand_over(self, conn: Any, who: Visitor, handoff: Handoff, resume: Mapping[str, Any],
                   reason: str | None) -> None:
        """The touch menu's conversation: resumed if it is open, else opened now in its
        flow's queue (when agents answer: else the page offers to leave a message)."""

        def closed() -> None:
            conn.send({"t": "welcome", "role": "customer", "visitor": self.tokens.sign(
                who.visitor), "conv": None, "open": reason is None, "reason": reason})

        def opened(chat: LiveChat | None, error: str) -> None:
            if chat is None or chat.state in ("ended", "wrap_up"):
                closed()  # this hand-off's chat is over: a new chat is an ordinary one
                return
            who.visitor, who.conv = chat.visitor, chat.conv  # the holder takes it over
            after = resume.get(chat.conv, 0)
            after = after if isinstance(after, int) and after >= 0 else 0
            conn.send({"t": "welcome", "role": "customer", "visitor": self.tokens.sign(
                chat.visitor), "conv": chat.conv, "open": True, "reason": None})
            assert who.box is not None
            self.channel.follow_as_customer(who.box, chat.conv, after)
            self._status(conn, chat)

        live = self.channel.chats.get(handoff.conversation)
        if live is not None:
            opened(live, "")
            return
        if reason is not None:
            closed()
            return
        identities = {"chat": who.visitor}
        identities.update({k: v for k, v in who.identity.items() if k == "phone"})
        if "customer_id" in who.identity:
            identities["account"] = who.identity["customer_id"]
        if handoff.phone:
            identities.setdefault("phone", handoff.phone)
        self.channel.open(who.visitor, who.lang, identities, who.identity.get("name", ""),
                          opened, conv=handoff.conversation, route=route_of(handoff))

    def _status(self, conn: Any, chat: LiveChat) -> None:
        if chat.state in ("connected", "wrap_up") and chat.agent:
            conn.send({"t": "joined", "conv": chat.conv,
                       "name": self.channel.agent_names(chat.agent)})
        elif chat.state in ("waiting", "offered"):
            view = self.channel.service.contact(chat.conv)
            if view is not None and view.position is not None:
                conn.send({"t": "queue", "conv": chat.conv, "position": view.position,
                           "wait_s": None})

    # ------------------------------------------------------------------ the rest

    def frame(self, conn: Any, who: Visitor, frame: Mapping[str, Any]) -> None:
        kind = frame["t"]
        if kind == "send":
            return self.send(conn, who, frame)
        if kind == "leave_message":
            return self.leave_message(conn, who, frame)
        if kind == "callback":
            return self.callback(conn, who, frame)
        chat = self._chat(who, frame)
        if kind == "typing":
            self.channel.typing(chat, "customer")
        elif kind in ("seen", "read"):
            seq = int_field(frame, "seq", 0, 10**9)
            assert who.box is not None  # set by hello; a seq is clamped to what it was sent
            self.channel.receipt(chat, "customer", "delivered" if kind == "seen" else "read",
                                 seq, who.box)
        elif kind == "end":
            self.channel.end(chat, "customer")
        else:
            raise FrameError("unknown_frame", f"no frame {kind!r} for a customer")
        return None

    def callback(self, conn: Any, who: Visitor, frame: Mapping[str, Any]) -> None:
        """``{"t": "callback", "cid", "phone"}``: a call back, stored and in line before
        ``callback_ok`` says so; the same cid again is the same request."""
        cid = id_field(frame, "cid") or ""
        phone = text_field(frame, "phone", 40)
        if self.callbacks is None:
            raise FrameError("not_offered", "callbacks are not offered here")
        request_id = "cb" + hashlib.sha256(f"{who.visitor}\n{cid}".encode()).hexdigest()[:16]

        def done(callback_id: str, error: str) -> None:
            if error:
                conn.send({"t": "error", "code": error, "message": "callback not taken",
                           "ref": cid})
            else:
                conn.send({"t": "callback_ok", "cid": cid, "ref": callback_id})

        self.callbacks(who, request_id, phone, done)

    def _chat(self, who: Visitor, frame: Mapping[str, Any]) -> LiveChat:
        conv = id_field(frame, "conv")
        chat = self.channel.chats.get(conv) if conv == who.conv else None
        if chat is None:
            raise FrameError("no_conversation", "no such open conversation")
        return chat

    def send(self, conn: Any, who: Visitor, frame: Mapping[str, Any]) -> None:
        cid = id_field(frame, "cid")
        conv = frame.get("conv")
        file_id = frame.get("file")
        text = "" if file_id else text_field(frame, "text", MAX_TEXT)
        if not file_id and not text.strip():
            raise FrameError("bad_field", "a message needs text or a file")

        def ack(result: Appended) -> None:
            if result.error or result.message is None:
                conn.send({"t": "error", "code": result.error or "not_stored",
                           "message": "not stored", "ref": cid})
                return
            conn.send({"t": "ack", "conv": result.message.conversation_id, "cid": cid,
                       "seq": result.message.seq})

        def post(chat: LiveChat) -> None:
            if not file_id:
                self.channel.post(chat.conv, "customer", who.visitor, cid, text=text, ack=ack)
                return

            def found(attachment: Any) -> None:
                if attachment is None:
                    conn.send({"t": "error", "code": "no_file",
                               "message": "upload the file first", "ref": cid})
                    return
                self.channel.post(chat.conv, "customer", who.visitor, cid, file=attachment,
                                  ack=ack)

            self.lookup_file(chat.conv, id_field(frame, "file"), found)

        if conv is None and who.conv is None:
            reason = self.is_open()
            if reason is not None:
                raise FrameError(reason, "no agent can take a chat now: leave a message")
            name = who.identity.get("name", "")
            identities = {"chat": who.visitor}  # the visitor's chats share one history
            identities.update({k: v for k, v in who.identity.items() if k == "phone"})
            if "customer_id" in who.identity:
                identities["account"] = who.identity["customer_id"]

            def opened(chat: LiveChat | None, error: str) -> None:
                if chat is None:
                    conn.send({"t": "error", "code": error or "not_opened",
                               "message": "could not open the chat", "ref": cid})
                    return
                who.conv = chat.conv
                assert who.box is not None
                self.channel.follow_as_customer(who.box, chat.conv, 0, fresh=True)
                post(chat)

            self.channel.open(who.visitor, who.lang, identities, name, opened)
            return
        chat = self._chat(who, {"conv": conv if conv is not None else who.conv})
        if chat.state in ("ended", "wrap_up"):
            raise FrameError("conversation_ended", "this chat has ended: start a new one")
        post(chat)

    def leave_message(self, conn: Any, who: Visitor, frame: Mapping[str, Any]) -> None:
        cid = id_field(frame, "cid")
        text = text_field(frame, "text", MAX_TEXT)
        name = text_field(frame, "name", 64, required=False) or ""
        phone = text_field(frame, "phone", 20, required=False) or ""
        if phone and not all(ch.isdigit() or ch in "+- " for ch in phone):
            raise FrameError("bad_field", "phone: digits, +, - and spaces only")
        if not text.strip():
            raise FrameError("bad_field", "a message needs text")
        self.leave(who, cid, text, name, phone,
                   lambda ref: conn.send({"t": "left", "cid": cid, "ref": ref}))


def route_of(handoff: Handoff) -> ChatRoute:
    """Where a handed-over web session waits, and the context stored for its screen pop:
    the IVR segment of a call (``steps``, ``self_service``) plus what the page showed
    (``seen``) and the queue exit's ``attributes``."""
    context: dict[str, Any] = {}
    if handoff.steps:
        context = {"steps": [list(s) for s in handoff.steps],
                   "self_service": [list(p) for p in handoff.self_service],
                   "seen": list(handoff.seen), "attributes": dict(handoff.attributes)}
    return ChatRoute(handoff.queue, handoff.priority, dict(handoff.skills),
                     dict(handoff.attributes), "web", handoff.flow, context)
