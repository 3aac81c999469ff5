"""Events the routing engine accepts (frozen dataclasses). Time is never in an event:
it is the ``now`` argument of :meth:`Engine.handle`.

- ``ContactArrived(contact_id, media, queue, priority=0, skills, attributes, customer)``:
  a voice call, chat, web session or callback request enters a queue. ``priority`` 0..10,
  higher first; ``skills`` are extra required skills (skill -> minimum level).
- ``ContactAbandoned(contact_id)``: the customer left before being connected.
- ``AgentLoggedIn(agent_id, skills, max_chats=5, chat_while_voice=False, ready=True)``.
- ``AgentLoggedOut(agent_id)``: pending offer is cancelled; connected contacts stay until ended.
- ``AgentReady(agent_id)`` / ``AgentNotReady(agent_id, reason)``: presence (reason codes).
- ``OfferAccepted / OfferRejected / OfferTimedOut(contact_id, agent_id)``: the agent's answer
  to an ``Offer``. A timed-out offer puts the agent in not ready ("missed"), a rejected one in
  not ready ("rejected"); the contact goes back to its original place in the queue.
- ``ContactEnded(contact_id)``: the conversation is over; the agent enters wrap-up.
- ``WrapUpEnded(agent_id, contact_id='')``: the agent finished after-call work early (all
  wrap-ups, or only that contact's: an agent wraps up each of several chats on its own).
- ``Tick()``: timers are due (see :meth:`Engine.next_timer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .config import AgentConfig, Media


@dataclass(frozen=True)
class ContactArrived:
    contact_id: str
    media: Media
    queue: str
    priority: int = 0
    skills: Mapping[str, int] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)
    customer: str = ""
    # when the customer first asked (engine clock), for a contact that keeps an earlier
    # place in line: a callback waits with the enqueue time of the call it replaces
    enqueued_at: float | None = None


@dataclass(frozen=True)
class ContactAbandoned:
    contact_id: str


@dataclass(frozen=True)
class ContactEnded:
    contact_id: str


@dataclass(frozen=True)
class AgentLoggedIn:
    agent_id: str
    skills: Mapping[str, int] = field(default_factory=dict)
    max_chats: int = 5
    chat_while_voice: bool = False
    ready: bool = True

    @property
    def config(self) -> AgentConfig:
        return AgentConfig(dict(self.skills), self.max_chats, self.chat_while_voice)


@dataclass(frozen=True)
class AgentLoggedOut:
    agent_id: str


@dataclass(frozen=True)
class AgentReady:
    agent_id: str


@dataclass(frozen=True)
class AgentNotReady:
    agent_id: str
    reason: str = "break"


@dataclass(frozen=True)
class OfferAccepted:
    contact_id: str
    agent_id: str


@dataclass(frozen=True)
class OfferRejected:
    contact_id: str
    agent_id: str


@dataclass(frozen=True)
class OfferTimedOut:
    contact_id: str
    agent_id: str


@dataclass(frozen=True)
class WrapUpEnded:
    agent_id: str
    contact_id: str = ""  # "" ends every wrap-up of the agent; else only that contact's


@dataclass(frozen=True)
class Tick:
    pass


Event = (ContactArrived | ContactAbandoned | ContactEnded | AgentLoggedIn | AgentLoggedOut
         | AgentReady | AgentNotReady | OfferAccepted | OfferRejected | OfferTimedOut
         | WrapUpEnded | Tick)
