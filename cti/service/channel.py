"""The one protocol between the CTI service and a medium (voice now; chat, web, callback next).

A channel owns its contacts on its transport (an open FastAGI connection, a WebSocket, a
callback job). Its side of the conversation with the service:

- **add a contact**: ``CtiService.add_contact(channel, ContactArrived(...))``; from then on
  every engine command for that contact is handed to ``channel.deliver``;
- **deliver**: ``Offer`` (ring / show the offer), ``CancelOffer``, ``Connect``, ``Announce``,
  ``Overflow`` and ``ExitContact`` (leave the queue: voicemail, call-back, apology); after an
  ``ExitContact`` the service forgets the contact;
- **connected / ended**: what the medium saw, back as routing events through
  ``CtiService.connected`` / ``rejected`` / ``timed_out`` / ``abandoned`` / ``ended``;
- **find**: the contact id behind a transport key (a voice call's Asterisk uniqueid, a chat's
  conversation id), so an adapter that only knows the transport (AMI) can report facts
  without reaching into the channel's contacts.
"""

from __future__ import annotations

from typing import Protocol

from cti.routing import commands as c


class Channel(Protocol):
    """A medium's contacts, as the CTI service sees them."""

    @property
    def medium(self) -> str:
        """"voice", "chat", "web" or "callback" (the engine's media names)."""
        ...

    def deliver(self, contact_id: str, command: c.Command) -> None:
        """Carry out (or queue for the contact's driver) one engine command. Never blocks."""
        ...

    def find(self, transport_key: str) -> str | None:
        """The contact id of the contact with this transport key, if it is waiting here."""
        ...
