"""The voice channel: calls waiting in the CTI, as the service and the AMI bridge see them.

Implements ``cti.service.channel.Channel`` for voice. Each waiting call is a
``VoiceContact`` whose engine commands land in an inbox; the call's own AGI driver
(``queue_wait.VoiceQueueSession``, on the still-open FastAGI connection) acts on them
between comfort-audio chunks. The transport key is Asterisk's channel uniqueid, so the AMI
bridge reports "this call's Dial was answered by agent X" as ``answered(uniqueid, agent)``
without touching the contacts.

A connected call can be transferred from the agent's desktop (``transfer``): the channel
notes where it goes and hangs up the agent's leg over AMI (``hang_up``, wired in the
composition root); the call's driver sees Dial return, finds the transfer and puts the
caller back in line (``requeue``) on the same FastAGI connection.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cti.routing import commands as c
from cti.routing import events as e
from cti.service.service import CtiService

log = logging.getLogger(__name__)


@dataclass
class VoiceContact:
    """A waiting call: commands land in ``inbox``; the call's driver takes them out."""

    contact_id: str
    uniqueid: str
    inbox: deque[c.Command] = field(default_factory=deque)
    ringing: str | None = None  # agent being rung
    accepted: bool = False  # OfferAccepted already applied (AMI saw the answer)
    offered_at: float = 0.0  # time.monotonic() when the last Offer arrived
    agent: str | None = None  # connected to
    agent_channel: str = ""  # the agent's leg (AMI DialEnd DestChannel), once answered
    transfer: Transfer | None = None  # asked for while connected: where the caller goes next

    def deliver(self, command: c.Command) -> None:
        if isinstance(command, c.Offer):
            self.offered_at = time.monotonic()
        self.inbox.append(command)


@dataclass(frozen=True)
class Transfer:
    """A connected call handed on by its agent: wait again in ``queue`` with ``skills``
    (a transfer to one agent requires that agent's personal skill); ``to`` is what the
    records say it went to (a queue or an agent)."""

    by_agent: str
    queue: str
    skills: Mapping[str, int]
    to: str


#: transfer() refusals (stable codes, shown on the desktop)
NOT_CONNECTED, NO_LEG, NO_TELEPHONY = "not_connected", "no_agent_leg", "no_telephony"


@dataclass(frozen=True)
class VoiceQueueSettings:
    comfort_file: str  # played in chunks while waiting (absolute path, no extension)
    recordings_dir: str = ""  # MixMonitor target folder; "" = no recording
    record_queues: frozenset[str] = frozenset()
    fallback_mailbox: str = "1000@hotline"
    ring_timeouts: Mapping[str, float] = field(default_factory=dict)  # queue -> Dial ring s


class VoiceChannel:
    """The voice calls that wait, ring or talk through the CTI (reactor thread only)."""

    medium = "voice"

    def __init__(self, service: CtiService) -> None:
        self.service = service
        self._contacts: dict[str, VoiceContact] = {}
        self._by_uniqueid: dict[str, str] = {}
        # hangs up one channel (the agent's leg) over AMI; None until AMI is wired
        # (a Deferred that fails if it could not be done)
        self.hang_up: Callable[[str], Any] | None = None

    # ------------------------------------------------------------------ Channel protocol

    def deliver(self, contact_id: str, command: c.Command) -> None:
        contact = self._contacts.get(contact_id)
        if contact is not None:
            contact.deliver(command)

    def find(self, transport_key: str) -> str | None:
        return self._by_uniqueid.get(transport_key)

    # ------------------------------------------------------------------ the call's side

    def enter(self, uniqueid: str, arrived: e.ContactArrived) -> VoiceContact:
        """Put a call into its queue; the engine's commands for it go to the contact."""
        contact = VoiceContact(arrived.contact_id, uniqueid)
        self._contacts[contact.contact_id] = contact
        if uniqueid:
            self._by_uniqueid[uniqueid] = contact.contact_id
        self.service.add_contact(self, arrived)
        return contact

    def leave(self, contact: VoiceContact) -> None:
        """The call's driver is done with it (ended, left the queue, or its line is gone)."""
        self._contacts.pop(contact.contact_id, None)
        if self._by_uniqueid.get(contact.uniqueid) == contact.contact_id:
            del self._by_uniqueid[contact.uniqueid]
        self.service.forget_contact(contact.contact_id)

    def requeue(self, contact: VoiceContact, arrived: e.ContactArrived) -> None:
        """The same call waits again (after a transfer), on the same driver and inbox."""
        contact.inbox.clear()
        contact.ringing = contact.agent = contact.transfer = None
        contact.accepted, contact.agent_channel = False, ""
        self._contacts[contact.contact_id] = contact
        self.service.add_contact(self, arrived)

    def ringing(self, contact: VoiceContact, agent_id: str) -> None:
        contact.ringing = agent_id
        contact.accepted = False

    def connected(self, contact: VoiceContact, agent_id: str) -> None:
        """The agent answered: tell the engine once (AMI may have told it already)."""
        contact.agent = agent_id
        if not contact.accepted:
            contact.accepted = True
            self.service.connected(contact.contact_id, agent_id)

    def answered(self, uniqueid: str, agent_id: str, agent_channel: str = "") -> bool:
        """AMI saw the Dial of call ``uniqueid`` answered by ``agent_id`` on its channel
        ``agent_channel``. True if that was news for a call ringing that agent (the engine
        then connects them at once; the call's driver only learns it when Dial returns,
        after the conversation)."""
        contact_id = self._by_uniqueid.get(uniqueid)
        contact = self._contacts.get(contact_id) if contact_id else None
        if contact is None or contact.ringing != agent_id:
            return False
        if agent_channel:
            contact.agent_channel = agent_channel
        if contact.accepted:
            return False
        self.connected(contact, agent_id)
        return True

    # ------------------------------------------------------------------ the agent's side

    def transfer(self, contact_id: str, agent_id: str, queue: str,
                 skills: Mapping[str, int], to: str) -> str:
        """``agent_id`` hands its connected call on. Returns "" once the agent's leg is
        being hung up (the caller then waits again, first in line), else why not."""
        contact = self._contacts.get(contact_id)
        if contact is None or contact.agent != agent_id or contact.transfer is not None:
            return NOT_CONNECTED
        if not contact.agent_channel:
            return NO_LEG
        if self.hang_up is None:
            return NO_TELEPHONY
        move = contact.transfer = Transfer(agent_id, queue, dict(skills), to)
        log.info("voice: %s transferred by %s to %s", contact_id, agent_id, to)
        pending = self.hang_up(contact.agent_channel)

        def failed(failure: Any) -> None:  # the call goes on with its agent, as before
            log.error("voice: transfer of %s: hanging up %s failed: %s", contact_id,
                      contact.agent_channel, getattr(failure, "value", failure))
            if contact.transfer is move:
                contact.transfer = None

        if pending is not None:
            pending.addErrback(failed)
        return ""

    def agent_of(self, contact_id: str) -> str | None:
        """The agent a call is connected to, if any (for the desktop's checks)."""
        contact = self._contacts.get(contact_id)
        return contact.agent if contact is not None else None
