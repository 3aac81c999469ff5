"""The voice channel: calls waiting in the CTI, as the service and the AMI bridge see them.

Implements ``cti.service.channel.Channel`` for voice. Each waiting call is a
``VoiceContact`` whose engine commands land in an inbox; the call's own AGI driver
(``queue_wait.VoiceQueueSession``, on the still-open FastAGI connection) acts on them
between comfort-audio chunks. The transport key is Asterisk's channel uniqueid, so the AMI
bridge reports "this call's Dial was answered by agent X" as ``answered(uniqueid, agent)``
without touching the contacts.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

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

    def deliver(self, command: c.Command) -> None:
        if isinstance(command, c.Offer):
            self.offered_at = time.monotonic()
        self.inbox.append(command)


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

    def ringing(self, contact: VoiceContact, agent_id: str) -> None:
        contact.ringing = agent_id
        contact.accepted = False

    def connected(self, contact: VoiceContact, agent_id: str) -> None:
        """The agent answered: tell the engine once (AMI may have told it already)."""
        if not contact.accepted:
            contact.accepted = True
            self.service.connected(contact.contact_id, agent_id)

    def answered(self, uniqueid: str, agent_id: str) -> bool:
        """AMI saw the Dial of call ``uniqueid`` answered by ``agent_id``. True if that was
        news for a call ringing that agent (the engine then connects them at once; the
        call's driver only learns it when Dial returns, after the conversation)."""
        contact_id = self._by_uniqueid.get(uniqueid)
        contact = self._contacts.get(contact_id) if contact_id else None
        if contact is None or contact.ringing != agent_id or contact.accepted:
            return False
        self.connected(contact, agent_id)
        return True
