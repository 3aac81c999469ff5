"""The reconnecting ``AmiClient`` (protocol: ``protocol.py``).

``AmiClient`` runs on ``ClientService`` (exponential backoff, a ``clock`` for tests). On
every (re)connection it logs in, resyncs (``CoreShowChannels``, falling back to ``Status``
when the AMI user may not run it; ``DeviceStateList``; ``PJSIPShowContacts`` when allowed),
emits ``Resynced(snapshot)`` to subscribers, then the events that arrived meanwhile, then
live events. A ``Ping`` every ``ping_interval`` s unanswered for ``ping_timeout`` s drops the
connection, and ClientService reconnects. The secret is never logged.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure

from cti.telephony.ami import codec as codec
from cti.telephony.ami.codec import ActionIds, FieldValue, Message
from cti.telephony.ami.events import AgentMap, Resynced, Snapshot, build_snapshot
from cti.telephony.ami.protocol import (
    ACTION_TIMEOUT_S,
    BANNER_TIMEOUT_S,
    MAX_LOGIN_BACKOFF_S,
    PING_INTERVAL_S,
    PING_TIMEOUT_S,
    ActionFailed,
    ActionResult,
    AmiProtocol,
    Clock,
    Endpoint,
    LoginFailed,
    NotConnected,
)

log = logging.getLogger(__name__)


class _AmiFactory(Factory):
    def __init__(self, client: AmiClient) -> None:
        self._client = client

    def buildProtocol(self, addr: Any) -> AmiProtocol:
        return self._client.build_protocol()


Subscriber = Callable[[Message | Resynced], None]


class AmiClient:
    """A reconnecting, logged-in, resynced AMI connection.

    Subscribers get ``Resynced`` after every (re)connection and every live AMI event
    (``Message``); ``cti.telephony.ami.events.translate`` turns those into telephony events.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        username: str,
        secret: str,
        agents: AgentMap,
        clock: Clock,
        ping_interval: float = PING_INTERVAL_S,
        ping_timeout: float = PING_TIMEOUT_S,
        action_timeout: float = ACTION_TIMEOUT_S,
        retry_policy: Callable[[int], float] | None = None,
        action_ids: Callable[[], str] | None = None,
    ) -> None:
        self._username = username
        self._secret = secret
        self._agents = agents
        self._clock = clock
        self._ping = (ping_interval, ping_timeout)
        self._action_timeout = action_timeout
        self._ids = action_ids or ActionIds(f"hotline{secrets.token_hex(4)}")
        self._subscribers: list[Subscriber] = []
        self._ready: AmiProtocol | None = None
        self._preparing: dict[AmiProtocol, list[Message]] = {}
        self.connections = 0
        self._bad_logins = 0
        self._waiters: list[defer.Deferred[AmiProtocol]] = []
        self.snapshot: Snapshot | None = None
        self._service = ClientService(
            endpoint,
            _AmiFactory(self),  # type: ignore[arg-type]
            retryPolicy=retry_policy or backoffPolicy(initialDelay=0.5, maxDelay=10),
            clock=clock,
        )

    # --- public -----------------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every ``Resynced`` and live event; returns unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def start(self) -> None:
        self._service.startService()

    def stop(self) -> defer.Deferred[None]:
        d: defer.Deferred[None] = self._service.stopService()
        return d

    def when_ready(self) -> defer.Deferred[AmiProtocol]:
        """The logged-in, resynced connection (now, or the next one)."""
        if self._ready is not None:
            return defer.succeed(self._ready)
        d: defer.Deferred[AmiProtocol] = defer.Deferred()
        self._waiters.append(d)
        return d

    @property
    def ready(self) -> bool:
        return self._ready is not None

    def send_action(
        self,
        action: str,
        fields: Mapping[str, FieldValue] | None = None,
        *,
        timeout: float | None = None,
    ) -> defer.Deferred[ActionResult]:
        if self._ready is None:
            return defer.fail(NotConnected(f"{action}: AMI is not connected"))
        return self._ready.send_action(action, fields, timeout=timeout)

    # --- connection life --------------------------------------------------------------------

    def build_protocol(self) -> AmiProtocol:
        return AmiProtocol(
            self._clock,
            self._ids,
            self._on_message,
            action_timeout=self._action_timeout,
            on_connected=self._connected,
        )

    def _connected(self, proto: AmiProtocol) -> None:
        """A TCP connection is up: log in and resync before it counts as ready.

        (Not ClientService's ``prepareConnection``: a connection lost while that runs, or
        closed after it failed, trips its state machine in Twisted 26.10.)
        """
        self._preparing[proto] = []
        proto.closed.addCallback(lambda _: self._lost(proto))
        d = defer.Deferred.fromCoroutine(self._login_and_resync(proto))

        def failed(failure: Failure) -> None:
            self._preparing.pop(proto, None)
            if failure.check(NotConnected):
                return  # lost meanwhile: ClientService reconnects
            delay = 0.0
            if failure.check(LoginFailed):
                self._bad_logins += 1
                delay = min(2.0**self._bad_logins, MAX_LOGIN_BACKOFF_S)
            log.warning(
                "AMI connection not usable (%s); closing it in %.1f s",
                failure.getErrorMessage(),
                delay,
            )
            self._clock.callLater(delay, proto.abort)

        d.addErrback(failed)

    async def _login_and_resync(self, proto: AmiProtocol) -> None:
        banner_timer = self._clock.callLater(BANNER_TIMEOUT_S, proto.abort)
        try:
            await proto.banner
        finally:
            if banner_timer.active():
                banner_timer.cancel()
        await proto.login(self._username, self._secret)
        snapshot = await resync(proto, self._agents)
        self.connections += 1
        self.snapshot = snapshot
        self._ready = proto
        proto.start_keepalive(*self._ping)
        backlog = self._preparing.pop(proto, [])
        log.info(
            "AMI connected (#%d): %d channels, %d agent devices%s",
            self.connections,
            len(snapshot.channels),
            len(snapshot.agents),
            "; " + "; ".join(snapshot.notes) if snapshot.notes else "",
        )
        self._bad_logins = 0
        self._emit(Resynced(snapshot, self.connections))
        for msg in backlog:
            self._emit(msg)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(proto)

    def _lost(self, proto: AmiProtocol) -> None:
        self._preparing.pop(proto, None)
        if self._ready is proto:
            self._ready = None
            log.warning("AMI connection lost; reconnecting with backoff")

    def _on_message(self, proto: AmiProtocol, msg: Message) -> None:
        if proto is self._ready:
            self._emit(msg)
        elif proto in self._preparing:
            self._preparing[proto].append(msg)

    def _emit(self, item: Message | Resynced) -> None:
        for callback in list(self._subscribers):
            try:
                callback(item)
            except Exception:
                log.exception("AMI subscriber %r failed on %s", callback, type(item).__name__)


async def resync(proto: AmiProtocol, agents: AgentMap) -> Snapshot:
    """Read live channels, device states and (if allowed) contacts into a Snapshot."""
    channels_d = proto.send_action("CoreShowChannels")
    devices_d = proto.send_action("DeviceStateList")
    contacts_d = proto.send_action("PJSIPShowContacts")
    notes: list[str] = []
    source = "CoreShowChannels"
    try:
        channels = await channels_d
    except ActionFailed as exc:
        notes.append(f"CoreShowChannels: {exc.message} (using Status)")
        source = "Status"
        channels = await proto.send_action("Status")
    device_events: tuple[Message, ...] = ()
    try:
        device_events = (await devices_d).events
    except ActionFailed as exc:
        notes.append(f"DeviceStateList: {exc.message}")
    contact_events: tuple[Message, ...] | None
    try:
        contact_events = (await contacts_d).events
    except ActionFailed as exc:
        # Asterisk answers an empty list with an error; a refusal leaves contacts unknown.
        empty = exc.message.lower().startswith("no contacts")
        contact_events = () if empty else None
        if not empty:
            notes.append(f"PJSIPShowContacts: {exc.message}")
    return build_snapshot(
        channels.events,
        device_events,
        agents,
        contact_events=contact_events,
        channel_source=source,
        notes=notes,
    )
