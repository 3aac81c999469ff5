"""A queued call's driver: a caller whose flow ended in "to queue" waits here.

The FastAGI connection that ran the IVR stays open: this driver (a generator of AGI
requests, driven by the same trampoline as ``ivr_flows.voice.session.VoiceSession``) enters
the call into the voice channel (``channel.py``), so into the routing engine as a contact,
and then, until the call is over:

- plays comfort audio in short chunks and, between chunks, acts on what the engine decided
  for this contact (its ``VoiceContact`` inbox): announce position and estimated wait,
  ring an agent, leave through an exit;
- rings an agent with ``EXEC Dial(PJSIP/<agent>,<timeout>)`` (``MixMonitor`` first when the
  queue records): answered -> talk, and the call ends when either side hangs up; no answer ->
  ``OfferTimedOut`` (the engine makes the agent "missed" and keeps the caller at the head);
  busy/unavailable -> ``OfferRejected``;
- a caller who hangs up while waiting or ringing is an abandon;
- a caller may press ``callback_key`` during the comfort audio or an announcement instead
  of waiting (offered when the caller's number can be dialled back): a callback is stored
  with this call's place in line (``cti/channels/callback/``), the call leaves the queue
  (not an abandon: ended with exit "callback") and the caller is told so; a queue that sends
  the caller away with its "callback offer" exit does the same, so "we will call you back"
  is only said once a callback really waits;
- a call its agent transferred (``VoiceChannel.transfer`` hung up the agent's leg, so Dial
  returns ANSWER with the caller still there) waits again, first in line, in the new queue
  or for the one agent it was sent to: recorded as a wrap-up "transferred" of the first
  agent, then offered, connected and ended like any call.

What the caller hears (position, expected wait, apology) comes from the message catalogue
(``ivr_flows/core/messages.py``, ``queue.*``).

``HOTLINE_DONE`` is cleared as soon as the call enters the queue, so if Hotline dies while the
caller waits, the dialplan's fallback (apology + backup queue) takes the call.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, Protocol

from twisted.internet.defer import Deferred

from cti.channels.voice.channel import VoiceChannel, VoiceContact, VoiceQueueSettings
from cti.records.core.events import Ended, Recording, WrapUp
from cti.routing import commands as c
from cti.routing import events as e
from cti.service.service import CtiService
from ivr_flows.core.effects import Exit
from ivr_flows.core.messages import FALLBACK_LANGUAGE, has_message, message
from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.driver import CallerGone, Driver, Send, Work

log = logging.getLogger(__name__)

SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")
ENDPOINT = re.compile(r"[A-Za-z0-9_-]{1,64}")

class CallbackRequests(Protocol):
    """``CallbackChannel.request`` (cti/channels/callback/channel.py)."""

    def __call__(self, number: object, *, queue: str, lang: str, source: str,
                 done: Callable[[str, str], None], priority: int = 0,
                 skills: Mapping[str, int] | None = None,
                 attributes: Mapping[str, str] | None = None, place_at: Any = None,
                 callback_id: str | None = None) -> None: ...


DIALLABLE = re.compile(r"\+?[0-9]{3,20}")
CALLBACK_OPTION_EVERY_S = 60.0  # announcements may come every few seconds: not the option
TRANSFER_PRIORITY = 10  # a transferred caller has waited already: first in line
Speak = Callable[[str, str], str]  # (lang, text) -> prompt file (blocking, run in a thread)


@dataclass
class VoiceQueueSession:
    channel: VoiceChannel
    settings: VoiceQueueSettings
    speak: Speak
    interaction_id: str
    uniqueid: str
    exit: Exit
    lang: str
    caller: str
    agent_endpoints: Mapping[str, str]  # agent id -> PJSIP endpoint
    contact: VoiceContact | None = None
    connected_to: str | None = None
    callbacks: CallbackRequests | None = None  # where "call me back" requests go
    callback_key: str = ""  # the key that asks for one while waiting ("" = not offered)
    _option_said_at: float | None = None  # when the callback option was last announced

    @property
    def service(self) -> CtiService:
        return self.channel.service

    def run(self) -> Driver[str]:
        """Wait, ring, talk. Returns how the call ended (for the log and the records)."""
        try:
            yield from self._command(agi.set_variable("HOTLINE_DONE", ""))
            self.contact = self.channel.enter(self.uniqueid, e.ContactArrived(
                self.interaction_id, "voice", self.exit.target, self.exit.priority,
                dict(self.exit.skills), dict(self.exit.attributes), customer=self.caller))
            return (yield from self._wait())
        except CallerGone as gone:
            return self._caller_left(gone.reason)
        finally:
            if self.contact is not None:
                self.channel.leave(self.contact)

    # ------------------------------------------------------------------ waiting

    def _wait(self) -> Driver[str]:
        assert self.contact is not None
        while True:
            while (command := self._next_command()) is not None:
                ended = yield from self._act(command)
                if ended is not None:
                    return ended
            if (yield from self._play(self.settings.comfort_file)):
                ended = yield from self._to_callback()
                if ended is not None:
                    return ended

    def _offers_callback(self) -> bool:
        return bool(self.callbacks is not None and self.callback_key and
                    DIALLABLE.fullmatch(self.caller))

    def _play(self, path: str) -> Driver[bool]:
        """Play a file; True if the caller pressed the callback key during it."""
        key = self.callback_key if self._offers_callback() else ""
        reply = yield from self._command(agi.stream_file(path, key))
        return bool(key) and reply.result == str(ord(key))

    def _next_command(self) -> c.Command | None:
        """What to do next: an offer or an exit first (they must not wait behind
        announcements), then the newest announcement only (an older one is out of date;
        announcements longer than their interval would otherwise pile up for ever)."""
        assert self.contact is not None
        inbox = self.contact.inbox
        while inbox:
            pending = list(inbox)
            urgent = next((i for i, cmd in enumerate(pending)
                           if isinstance(cmd, c.Offer | c.ExitContact)), None)
            if urgent is not None:
                command = pending[urgent]
                del inbox[urgent]
                if isinstance(command, c.Offer) and any(
                        isinstance(later, c.CancelOffer) and later.agent_id == command.agent_id
                        for later in pending[urgent + 1:]):
                    continue  # the engine took the offer back while the caller heard a chunk
                return command
            command = inbox.popleft()
            if isinstance(command, c.Announce) and any(isinstance(x, c.Announce) for x in inbox):
                continue
            return command
        return None

    def _act(self, command: c.Command) -> Driver[str | None]:
        match command:
            case c.Announce():
                return (yield from self._announce(command.position, command.ewt_s))
            case c.Offer():
                return (yield from self._ring(command.agent_id))
            case c.ExitContact():
                return (yield from self._leave(command))
            case _:
                pass  # Connect / CancelOffer / Overflow: nothing to do on the line
        return None

    def _announce(self, position: int, ewt_s: float | None) -> Driver[str | None]:
        """Position, expected wait and (when offered) the callback key; a caller who
        presses it during the announcement leaves with a callback (returns how it ended)."""
        lang = self._spoken_language("queue.position")
        texts = [message("queue.position", lang, position=position)]
        if ewt_s is not None and ewt_s > 0:
            texts.append(message("queue.expected_wait", lang,
                                 minutes=max(1, round(ewt_s / 60))))
        now = time.monotonic()
        if self._offers_callback() and (self._option_said_at is None or
                                        now - self._option_said_at >= CALLBACK_OPTION_EVERY_S):
            self._option_said_at = now  # the key works all along; it is said now and then
            texts.append(message("queue.callback_option", lang, key=self.callback_key))
        for text in texts:
            if self.contact is not None and any(isinstance(x, c.Offer | c.ExitContact)
                                                for x in self.contact.inbox):
                return None  # an agent (or the exit) first: the rest is out of date
            path = yield Work(partial(self.speak, lang, text), "announce")
            if path and (yield from self._play(path)):
                return (yield from self._to_callback())
        return None

    # ------------------------------------------------------------------ ringing an agent

    def _ring(self, agent_id: str) -> Driver[str | None]:
        assert self.contact is not None
        endpoint = self.agent_endpoints.get(agent_id, agent_id)
        if not ENDPOINT.fullmatch(endpoint):
            self.service.rejected(self.contact.contact_id, agent_id)
            return None
        late_s = time.monotonic() - self.contact.offered_at
        if late_s > 2:
            log.info("voice: offer of %s to %s waited %.1f s for a prompt to end",
                     self.contact.contact_id, agent_id, late_s)
        offer_timeout = self._ring_timeout()
        self.channel.ringing(self.contact, agent_id)
        if self.exit.target in self.settings.record_queues and self.settings.recordings_dir:
            path = f"{self.settings.recordings_dir}/{SAFE_ID.sub('_', self.interaction_id)}.wav"
            yield from self._command(agi.exec_("MixMonitor", [path, "b"]))
            self.service.record(self.interaction_id, Recording(path))
        try:
            # g: when the agent hangs up, the caller's channel goes on (to HOTLINE_DONE and
            # the dialplan's hangup), instead of Dial hanging it up under the AGI
            yield from self._command(agi.exec_("Dial", [f"PJSIP/{endpoint}", str(offer_timeout),
                                                        "g"]))
        except CallerGone:
            self.contact.ringing = None
            answered = self.contact.accepted or (yield from self._dead_variable("DIALSTATUS")) \
                == "ANSWER"
            if not answered:
                raise
            self._connected(agent_id)
            self.service.ended(self.contact.contact_id)
            self.service.record(self.interaction_id, Ended("caller", "hangup"))
            return "caller_hangup"
        status = yield from self._variable("DIALSTATUS")
        self.contact.ringing = None
        if status == "ANSWER" and self.contact.transfer is not None:
            yield from self._transferred(agent_id)
            return None
        if status == "ANSWER":
            self._connected(agent_id)
            self.service.ended(self.contact.contact_id)
            self.service.record(self.interaction_id, Ended("agent", "hangup"))
            yield from self._command(agi.set_variable("HOTLINE_EXIT", "hangup"))
            yield from self._command(agi.set_variable("HOTLINE_DONE", "1"))
            return "agent_hangup"
        if status == "NOANSWER":
            self.service.timed_out(self.contact.contact_id, agent_id)
        else:  # BUSY, CONGESTION, CHANUNAVAIL, ...
            self.service.rejected(self.contact.contact_id, agent_id)
        return None

    def _transferred(self, agent_id: str) -> Driver[None]:
        """The agent's leg was hung up for a transfer: the caller waits again."""
        assert self.contact is not None and self.contact.transfer is not None
        move = self.contact.transfer
        contact_id = self.contact.contact_id
        self._connected(agent_id)  # in case AMI never said it was answered
        self.service.record(self.interaction_id, lambda: WrapUp(agent_id, "transferred",
                                                                move.to))
        self.service.ended(contact_id)
        self.connected_to = None
        attributes = {**self.exit.attributes, "transferred_from": agent_id}
        # queued again while the first agent is still in wrap-up, so it goes to another
        # agent if one is free; then that agent's wrap-up ends (none for a transfer)
        self.channel.requeue(self.contact, e.ContactArrived(
            contact_id, "voice", move.queue, TRANSFER_PRIORITY, dict(move.skills), attributes,
            customer=self.caller))
        self.service.apply(e.WrapUpEnded(agent_id, contact_id))
        lang = self._spoken_language("queue.transfer")
        path = yield Work(partial(self.speak, lang, message("queue.transfer", lang)), "transfer")
        if path:
            yield from self._command(agi.stream_file(path))
        return None

    def _connected(self, agent_id: str) -> None:
        assert self.contact is not None
        self.channel.connected(self.contact, agent_id)
        self.connected_to = agent_id

    def _ring_timeout(self) -> int:
        """The configured ring time, in full: Dial reports the no-answer itself.

        The engine's own ring timer for voice queues is longer by ``VOICE_RING_SLACK_S``
        (cti/app/wiring.py), because an offer can wait in the inbox while a comfort chunk or an
        announcement plays (at most one of them); it is only a safety net."""
        ring = self.settings.ring_timeouts.get(self.exit.target, 20.0)
        return max(5, int(ring))

    def _spoken_language(self, msg_id: str) -> str:
        """The caller's language if the catalogue speaks it for ``msg_id``, else English:
        the text and the voice that speaks it must be of one language."""
        return self.lang if has_message(msg_id, self.lang) else FALLBACK_LANGUAGE

    # ------------------------------------------------------------------ leaving

    def _leave(self, command: c.ExitContact) -> Driver[str]:
        lang = self._spoken_language("queue.no_agent")
        if command.exit == "voicemail":
            self.service.record(self.interaction_id,
                                lambda: Ended("system", command.reason, "voicemail"))
            yield from self._command(agi.exec_("VoiceMail", [self.settings.fallback_mailbox, "u"]))
            yield from self._command(agi.set_variable("HOTLINE_EXIT", "hangup"))
            yield from self._command(agi.set_variable("HOTLINE_DONE", "1"))
            return "voicemail"
        if command.exit == "callback_offer" and self._can_call_back():
            taken = yield from self._ask_callback()  # "we will call you back" once it waits
            if taken:
                return (yield from self._called_back(command.reason))
        text = message("queue.no_agent", lang)
        path = yield Work(lambda: self.speak(lang, text), "apology")
        if path:
            yield from self._command(agi.stream_file(path))
        self.service.record(self.interaction_id,
                            lambda: Ended("system", command.reason, "hangup"))
        yield from self._command(agi.set_variable("HOTLINE_EXIT", "hangup"))
        yield from self._command(agi.set_variable("HOTLINE_DONE", "1"))
        return "hangup"

    # ------------------------------------------------------------------ callbacks

    def _can_call_back(self) -> bool:
        return self.callbacks is not None and bool(DIALLABLE.fullmatch(self.caller))

    def _to_callback(self) -> Driver[str | None]:
        """The caller pressed the callback key: a callback keeps this call's place, the call
        leaves the queue (not an abandon). None: not taken (the caller keeps waiting)."""
        assert self.contact is not None
        if not (yield from self._ask_callback()):
            return None
        self.service.ended(self.contact.contact_id)  # waiting: ends without an abandon
        return (yield from self._called_back("callback_requested"))

    def _ask_callback(self) -> Driver[bool]:
        """Store a callback with this call's place in line; True once it is stored."""
        assert self.contact is not None and self.callbacks is not None
        view = self.service.contact(self.contact.contact_id)  # the ended view, too
        behind_s = max(0.0, self.service.reactor.seconds() - view.enqueued_at) \
            if view is not None and view.enqueued_at else 0.0
        place = self.service.wall() - timedelta(seconds=behind_s)
        answer: Deferred[tuple[str, str]] = Deferred()
        self.callbacks(self.caller, queue=self.exit.target, lang=self.lang, source="voice",
                       priority=self.exit.priority, skills=dict(self.exit.skills),
                       attributes={**self.exit.attributes, "from_call": self.interaction_id},
                       place_at=place, done=lambda cid, error: answer.callback((cid, error)))
        cid, error = yield Work(None, "callback", start=lambda: answer)
        if error:
            log.error("voice: callback for %s not taken: %s", self.interaction_id, error)
            return False
        log.info("voice: %s becomes callback %s (place kept: %.0f s)", self.interaction_id,
                 cid, behind_s)
        return True

    def _called_back(self, reason: str) -> Driver[str]:
        """The callback waits: the call ends (exit "callback"), then the caller hears so."""
        by = "caller" if reason == "callback_requested" else "system"
        self.service.record(self.interaction_id, lambda: Ended(by, reason, "callback"))
        self.connected_to = "callback"  # not an abandon if the caller hangs up now
        lang = self._spoken_language("queue.callback")
        path = yield Work(partial(self.speak, lang, message("queue.callback", lang)),
                          "callback")
        if path:
            yield from self._command(agi.stream_file(path))
        yield from self._command(agi.set_variable("HOTLINE_EXIT", "callback"))
        yield from self._command(agi.set_variable("HOTLINE_DONE", "1"))
        return "callback"

    def _caller_left(self, reason: str) -> str:
        if self.contact is None:
            return "caller_hangup"
        if self.connected_to is None:
            self.service.abandoned(self.contact.contact_id)
        return "abandoned"

    # ------------------------------------------------------------------ AGI helpers

    def _command(self, line: str) -> Driver[agi.Reply]:
        reply = yield Send(line)
        if not isinstance(reply, agi.Reply) or reply.gone:
            raise CallerGone("caller_hangup" if isinstance(reply, agi.Reply)
                             and reply.kind != "closed" else "connection_lost")
        return reply

    def _dead_variable(self, name: str) -> Driver[str]:
        """A variable of a channel that just hung up (GET VARIABLE works on dead channels)."""
        reply = yield Send(agi.get_variable(name))
        if isinstance(reply, agi.Reply) and reply.kind == "ok" and reply.result == "1":
            return reply.data
        return ""

    def _variable(self, name: str) -> Driver[str]:
        reply = yield from self._command(agi.get_variable(name))
        return reply.data if reply.result == "1" else ""
