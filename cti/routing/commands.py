"""Commands the routing engine returns (frozen dataclasses), in the order to apply them.

- ``Offer(contact_id, agent_id, ring_timeout_s, media, queue)``: ring / present the contact.
  Every Offer is closed by exactly one of: ``OfferAccepted`` (answered with ``Connect``),
  ``OfferRejected``, ``OfferTimedOut`` (events) or a ``CancelOffer`` command.
- ``CancelOffer(contact_id, agent_id, reason)``: stop ringing. Reasons: ``ring_no_answer``
  (the engine's own ring timer fired), ``abandoned``, ``agent_logged_out``.
- ``Connect(contact_id, agent_id)``: bridge the customer to the agent.
- ``Announce(contact_id, position, ewt_s)``: comfort message; ``ewt_s`` is None when
  nobody staffs the queue (no honest estimate).
- ``Overflow(contact_id, from_queue, to_queue, skills)``: an overflow rule applied; the
  contact now needs ``skills``. ``to_queue == from_queue`` when the skills were widened.
- ``ExitContact(contact_id, exit, reason)``: the contact leaves the queue through the exit
  (``callback_offer`` / ``voicemail`` / ``apology``); reasons ``no_agents``, ``over_limit``,
  ``max_wait``. The contact is then ended for the engine.
- ``AgentStateChanged(agent_id, state, reason)``: every agent state change, including the
  ones the engine makes itself (ring-no-answer -> not_ready "missed", wrap-up timeout).
- ``Rejected(event, reason, contact_id, agent_id)``: the event was impossible or arrived too
  late (unknown contact/agent, abandon after connect, ...). Nothing changed; never raised.

Timers: the engine emits no timer command. After each ``handle`` the caller asks
:meth:`Engine.next_timer` and calls ``handle(Tick(), now)`` when it is due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .config import ExitKind, Media

# Stable reasons of Rejected.
UNKNOWN_CONTACT = "unknown_contact"
UNKNOWN_AGENT = "unknown_agent"
UNKNOWN_QUEUE = "unknown_queue"
DUPLICATE_CONTACT = "duplicate_contact"
BAD_CONTACT = "bad_contact"
NOT_OFFERED = "not_offered"
NOT_CONNECTED = "not_connected"
ALREADY_CONNECTED = "already_connected"
ALREADY_LOGGED_IN = "already_logged_in"
LOGGED_OUT = "agent_logged_out"
NO_WRAP_UP = "no_wrap_up"


@dataclass(frozen=True)
class Offer:
    contact_id: str
    agent_id: str
    ring_timeout_s: float
    media: Media
    queue: str


@dataclass(frozen=True)
class CancelOffer:
    contact_id: str
    agent_id: str
    reason: str


@dataclass(frozen=True)
class Connect:
    contact_id: str
    agent_id: str


@dataclass(frozen=True)
class Announce:
    contact_id: str
    position: int
    ewt_s: float | None


@dataclass(frozen=True)
class Overflow:
    contact_id: str
    from_queue: str
    to_queue: str
    skills: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ExitContact:
    contact_id: str
    exit: ExitKind
    reason: str


@dataclass(frozen=True)
class AgentStateChanged:
    agent_id: str
    state: str
    reason: str | None = None


@dataclass(frozen=True)
class Rejected:
    event: str
    reason: str
    contact_id: str | None = None
    agent_id: str | None = None


Command = (Offer | CancelOffer | Connect | Announce | Overflow | ExitContact
           | AgentStateChanged | Rejected)
