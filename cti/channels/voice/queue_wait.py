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
- a caller who hangs up while waiting or ringing is an abandon.

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
from functools import partial

from cti.channels.voice.channel import VoiceChannel, VoiceContact, VoiceQueueSettings
from cti.records.core.events import Ended, Recording
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
            yield from self._command(agi.stream_file(self.settings.comfort_file))

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
                yield from self._announce(command.position, command.ewt_s)
            case c.Offer():
                return (yield from self._ring(command.agent_id))
            case c.ExitContact():
                return (yield from self._leave(command))
            case _:
                pass  # Connect / CancelOffer / Overflow: nothing to do on the line
        return None

    def _announce(self, position: int, ewt_s: float | None) -> Driver[None]:
        lang = self._spoken_language("queue.position")
        texts = [message("queue.position", lang, position=position)]
        if ewt_s is not None and ewt_s > 0:
            texts.append(message("queue.expected_wait", lang,
                                 minutes=max(1, round(ewt_s / 60))))
        for text in texts:
            path = yield Work(partial(self.speak, lang, text), "announce")
            if path:
                yield from self._command(agi.stream_file(path))

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
        callback = command.exit == "callback_offer" and bool(self.caller)
        text = message("queue.callback" if callback else "queue.no_agent", lang)
        path = yield Work(lambda: self.speak(lang, text), "apology")
        if path:
            yield from self._command(agi.stream_file(path))
        exit_kind = "callback" if callback else "hangup"
        self.service.record(self.interaction_id,
                            lambda: Ended("system", command.reason, exit_kind))
        yield from self._command(agi.set_variable("HOTLINE_EXIT", exit_kind))
        yield from self._command(agi.set_variable("HOTLINE_DONE", "1"))
        return exit_kind

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
