"""Pure routing engine of the CTI: events in, commands out, ``now`` as a parameter."""

from .agents import AgentView
from .commands import (
    AgentStateChanged,
    Announce,
    CancelOffer,
    Command,
    Connect,
    ExitContact,
    Offer,
    Overflow,
    Rejected,
)
from .config import AgentConfig, ConfigError, OverflowRule, QueueConfig
from .engine import Engine
from .events import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentReady,
    ContactAbandoned,
    ContactArrived,
    ContactEnded,
    Event,
    OfferAccepted,
    OfferRejected,
    OfferTimedOut,
    Tick,
    WrapUpEnded,
)
from .queues import ContactView, QueueStats

__all__ = [
    "AgentConfig", "AgentLoggedIn", "AgentLoggedOut", "AgentNotReady", "AgentReady",
    "AgentStateChanged", "AgentView", "Announce", "CancelOffer", "Command", "ConfigError",
    "Connect", "ContactAbandoned", "ContactArrived", "ContactEnded", "ContactView", "Engine",
    "Event", "ExitContact", "Offer", "OfferAccepted", "OfferRejected", "OfferTimedOut",
    "Overflow", "OverflowRule", "QueueConfig", "QueueStats", "Rejected", "Tick",
    "WrapUpEnded",
]
