"""AMI messages -> typed telephony events and resync snapshots for the CTI. Pure functions.

Agent phones are PJSIP endpoints named in ``cfg.asterisk.agents`` (``agent1001``); an
``AgentMap`` turns an endpoint into the CTI's agent id (by default the endpoint name itself).
Only the agents' devices and channels are reported as agent events; every other device
(``PJSIP/carrier``, ``Queue:...``) is ignored. Unknown events translate to ``None``.

Device states (``DeviceStateChange``/``DeviceStateList``) feed availability:
``available`` = the phone is reachable (registered): any state but UNAVAILABLE, INVALID,
UNKNOWN; ``in_use`` = INUSE, BUSY, ONHOLD, RINGINUSE; ``ringing`` = RINGING, RINGINUSE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cti.telephony.ami.codec import Message

_UNREACHABLE = frozenset({"UNAVAILABLE", "INVALID", "UNKNOWN"})
_IN_USE = frozenset({"INUSE", "BUSY", "ONHOLD", "RINGINUSE"})
_RINGING = frozenset({"RINGING", "RINGINUSE"})
_REGISTERED = frozenset({"created", "updated", "reachable", "unknown", "nonqualified"})
_UNREGISTERED = frozenset({"removed", "unreachable"})
_PEER_UP = frozenset({"registered", "reachable"})
_PEER_DOWN = frozenset({"unregistered", "unreachable", "rejected"})


@dataclass(frozen=True)
class AgentMap:
    """PJSIP endpoint name -> agent id."""

    endpoints: Mapping[str, str]

    @classmethod
    def from_agents(cls, agents: Iterable[str]) -> AgentMap:
        """``cfg.asterisk.agents``: each endpoint is its own agent id."""
        return cls({a: a for a in agents})

    def by_device(self, device: str) -> str | None:
        """``PJSIP/agent1001`` -> agent id, or ``None``."""
        tech, _, name = device.partition("/")
        if tech.upper() != "PJSIP" or not name:
            return None
        return self.endpoints.get(name)

    def by_channel(self, channel: str) -> str | None:
        """``PJSIP/agent1001-00000001`` -> agent id, or ``None``."""
        base, dash, _ = channel.rpartition("-")
        return self.by_device(base) if dash else None


@dataclass(frozen=True)
class AgentDevice:
    agent_id: str
    state: str  # Asterisk's device state name, e.g. NOT_INUSE
    available: bool
    in_use: bool
    ringing: bool

    @property
    def idle(self) -> bool:
        """Reachable, not ringing, not on a call: may be offered a voice contact."""
        return self.available and not self.in_use and not self.ringing


@dataclass(frozen=True)
class AgentRegistered:
    agent_id: str
    contact: str  # the contact URI (or the AMI peer), for the record


@dataclass(frozen=True)
class AgentUnregistered:
    agent_id: str
    reason: str  # ContactStatus/PeerStatus value: Removed, Unreachable, ...


@dataclass(frozen=True)
class ChannelCreated:
    uniqueid: str
    linkedid: str
    channel: str
    caller_id: str
    context: str
    exten: str
    agent_id: str | None


@dataclass(frozen=True)
class DialStarted:
    uniqueid: str  # the caller's channel
    dest_uniqueid: str
    dest_channel: str
    agent_id: str | None


@dataclass(frozen=True)
class DialEnded:
    uniqueid: str
    dest_uniqueid: str
    dest_channel: str
    status: str  # ANSWER, BUSY, NOANSWER, CANCEL, CHANUNAVAIL, ...
    agent_id: str | None


@dataclass(frozen=True)
class ChannelHungUp:
    uniqueid: str
    linkedid: str
    channel: str
    cause: int
    cause_text: str
    agent_id: str | None


@dataclass(frozen=True)
class AsteriskBooted:
    """``FullyBooted``: sent on login and after Asterisk (re)starts."""


@dataclass(frozen=True)
class AsteriskShutdown:
    restart: bool


TelephonyEvent = (
    AgentDevice
    | AgentRegistered
    | AgentUnregistered
    | ChannelCreated
    | DialStarted
    | DialEnded
    | ChannelHungUp
    | AsteriskBooted
    | AsteriskShutdown
)


def device_state(agent_id: str, state: str) -> AgentDevice:
    state = state.upper()
    return AgentDevice(
        agent_id,
        state,
        available=state not in _UNREACHABLE,
        in_use=state in _IN_USE,
        ringing=state in _RINGING,
    )


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def _contact_event(msg: Message, agents: AgentMap) -> TelephonyEvent | None:
    agent = agents.endpoints.get(msg.get("EndpointName")) or agents.endpoints.get(msg.get("AOR"))
    status = msg.get("ContactStatus")
    if agent is None:
        return None
    if status.lower() in _REGISTERED:
        return AgentRegistered(agent, msg.get("URI"))
    if status.lower() in _UNREGISTERED:
        return AgentUnregistered(agent, status)
    return None


def _peer_event(msg: Message, agents: AgentMap) -> TelephonyEvent | None:
    agent = agents.by_device(msg.get("Peer"))
    status = msg.get("PeerStatus")
    if agent is None:
        return None
    if status.lower() in _PEER_UP:
        return AgentRegistered(agent, msg.get("Address") or msg.get("Peer"))
    if status.lower() in _PEER_DOWN:
        return AgentUnregistered(agent, status)
    return None


def translate(msg: Message, agents: AgentMap) -> TelephonyEvent | None:
    """One AMI event -> a telephony event, or ``None`` (not ours, unknown, not an event)."""
    if msg.kind != "event":
        return None
    name = msg.name.lower()
    if name == "devicestatechange":
        agent = agents.by_device(msg.get("Device"))
        return device_state(agent, msg.get("State")) if agent else None
    if name == "contactstatus":
        return _contact_event(msg, agents)
    if name == "peerstatus":
        return _peer_event(msg, agents)
    if name == "newchannel":
        return ChannelCreated(
            msg.get("Uniqueid"),
            msg.get("Linkedid"),
            msg.get("Channel"),
            msg.get("CallerIDNum"),
            msg.get("Context"),
            msg.get("Exten"),
            agents.by_channel(msg.get("Channel")),
        )
    if name == "dialbegin":
        dest = msg.get("DestChannel")
        return DialStarted(
            msg.get("Uniqueid"), msg.get("DestUniqueid"), dest, agents.by_channel(dest)
        )
    if name == "dialend":
        dest = msg.get("DestChannel")
        return DialEnded(
            msg.get("Uniqueid"),
            msg.get("DestUniqueid"),
            dest,
            msg.get("DialStatus"),
            agents.by_channel(dest),
        )
    if name == "hangup":
        return ChannelHungUp(
            msg.get("Uniqueid"),
            msg.get("Linkedid"),
            msg.get("Channel"),
            _int(msg.get("Cause")),
            msg.get("Cause-txt"),
            agents.by_channel(msg.get("Channel")),
        )
    if name == "fullybooted":
        return AsteriskBooted()
    if name == "shutdown":
        return AsteriskShutdown(restart=msg.get("Restart").lower() == "true")
    return None


# --- resync snapshots -----------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelInfo:
    uniqueid: str
    linkedid: str
    channel: str
    state: str  # ChannelStateDesc: Up, Ring, Ringing, Down, ...
    caller_id: str
    connected_line: str
    context: str
    exten: str
    application: str
    bridge_id: str
    agent_id: str | None


@dataclass(frozen=True)
class ContactInfo:
    aor: str
    endpoint: str
    uri: str
    status: str  # Reachable, Unreachable, Unknown, NonQualified, ...
    agent_id: str | None


@dataclass(frozen=True)
class Snapshot:
    """Live state read right after a (re)connection; the CTI rebuilds from it."""

    channels: tuple[ChannelInfo, ...]
    devices: Mapping[str, str]  # every device -> state, as DeviceStateList gave it
    agents: tuple[AgentDevice, ...]  # one per configured agent (UNKNOWN if not listed)
    contacts: tuple[ContactInfo, ...] | None = None  # None: PJSIPShowContacts not allowed
    channel_source: str = "CoreShowChannels"  # or "Status" (least-privilege fallback)
    notes: tuple[str, ...] = field(default=())  # what could not be read, for the log


@dataclass(frozen=True)
class Resynced:
    """Emitted to subscribers after every (re)connection's login and resync."""

    snapshot: Snapshot
    connection: int  # 1 for the first connection, 2 after the first reconnect, ...


def channel_info(msg: Message, agents: AgentMap) -> ChannelInfo:
    """A ``CoreShowChannel`` or ``Status`` list event -> ChannelInfo."""
    return ChannelInfo(
        uniqueid=msg.get("Uniqueid"),
        linkedid=msg.get("Linkedid"),
        channel=msg.get("Channel"),
        state=msg.get("ChannelStateDesc"),
        caller_id=msg.get("CallerIDNum"),
        connected_line=msg.get("ConnectedLineNum"),
        context=msg.get("Context"),
        exten=msg.get("Exten"),
        application=msg.get("Application"),
        bridge_id=msg.get("BridgeId"),
        agent_id=agents.by_channel(msg.get("Channel")),
    )


def contact_info(msg: Message, agents: AgentMap) -> ContactInfo:
    """A ``ContactList`` list event (PJSIPShowContacts) -> ContactInfo."""
    aor = msg.get("Aor") or msg.get("ObjectName").split(";@", 1)[0]
    endpoint = msg.get("Endpoint")
    agent = agents.endpoints.get(endpoint) or agents.endpoints.get(aor)
    return ContactInfo(aor, endpoint, msg.get("Uri"), msg.get("Status"), agent)


def build_snapshot(
    channel_events: Iterable[Message],
    device_events: Iterable[Message],
    agents: AgentMap,
    *,
    contact_events: Iterable[Message] | None = None,
    channel_source: str = "CoreShowChannels",
    notes: Iterable[str] = (),
) -> Snapshot:
    """Resync list items -> a Snapshot (list-complete events are skipped)."""
    channels = tuple(
        channel_info(m, agents)
        for m in channel_events
        if m.name.lower() in ("coreshowchannel", "status")
    )
    devices = {
        m.get("Device"): m.get("State")
        for m in device_events
        if m.name.lower() == "devicestatechange"
    }
    agent_states = tuple(
        device_state(agent, devices.get(f"PJSIP/{endpoint}", "UNKNOWN"))
        for endpoint, agent in agents.endpoints.items()
    )
    contacts = (
        None
        if contact_events is None
        else tuple(
            contact_info(m, agents) for m in contact_events if m.name.lower() == "contactlist"
        )
    )
    return Snapshot(channels, devices, agent_states, contacts, channel_source, tuple(notes))
