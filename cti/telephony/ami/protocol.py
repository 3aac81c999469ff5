"""The Twisted AMI protocol: one ``AmiProtocol`` per connection.

It reads the banner, then messages; each action gets one Deferred, matched by ActionID
(responses may come in any order, with events in between). An action answered ``Response:
Success`` + ``EventList: start`` collects the events that carry its ActionID until the
``EventList: Complete`` event: its Deferred then fires with all of them in one
``ActionResult``. Other events go to ``on_message``. A ``Ping`` every ``interval`` s
unanswered for ``timeout`` s drops the connection. The reconnecting client is ``client.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer, task
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure

from cti.telephony.ami import codec as codec
from cti.telephony.ami.codec import FieldValue, Message

log = logging.getLogger(__name__)

# Twisted's interfaces are zope ones, opaque to mypy here: IReactorTime, IDelayedCall,
# IStreamClientEndpoint and ITransport values are typed by these aliases.
Clock = Any
Endpoint = Any

ACTION_TIMEOUT_S = 10.0
BANNER_TIMEOUT_S = 5.0
PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 5.0
MAX_LOGIN_BACKOFF_S = 60.0


class AmiError(Exception):
    """Base of AMI errors."""


class ActionFailed(AmiError):
    """Asterisk answered ``Response: Error``."""

    def __init__(self, action: str, response: Message) -> None:
        self.action = action
        self.response = response
        self.message = response.get("Message")
        super().__init__(f"{action} failed: {self.message or response.name}")


class LoginFailed(ActionFailed):
    """The AMI user or secret was refused (the secret is not in the message)."""


class ActionTimeout(AmiError):
    pass


class NotConnected(AmiError):
    """No logged-in AMI connection (or it was lost before the answer came)."""


@dataclass(frozen=True)
class ActionResult:
    response: Message
    events: tuple[Message, ...] = ()  # the event list items, for list actions
    complete: Message | None = None  # the list's closing ``...Complete`` event


@dataclass
class _Pending:
    action: str
    deferred: defer.Deferred[ActionResult]
    timer: Any = None
    response: Message | None = None  # set when an event list started
    events: list[Message] = field(default_factory=list)


class AmiProtocol(LineOnlyReceiver):
    delimiter = b"\r\n"
    MAX_LENGTH = 1 << 20

    def __init__(
        self,
        clock: Clock,
        action_ids: Callable[[], str],
        on_message: Callable[[AmiProtocol, Message], None] | None = None,
        *,
        action_timeout: float = ACTION_TIMEOUT_S,
        on_connected: Callable[[AmiProtocol], None] | None = None,
    ) -> None:
        self.clock = clock
        self._on_connected = on_connected
        self._ids = action_ids
        self._on_message = on_message
        self._action_timeout = action_timeout
        self._reader = codec.MessageReader()
        self._pending: dict[str, _Pending] = {}
        self._keepalive: task.LoopingCall | None = None
        self._ping: defer.Deferred[ActionResult] | None = None
        self.version: str | None = None
        self.banner: defer.Deferred[str] = defer.Deferred()
        self.closed: defer.Deferred[None] = defer.Deferred()
        self.connected_ok = False

    @property
    def _tx(self) -> Any:
        return self.transport

    def connectionMade(self) -> None:
        if self._on_connected is not None:
            self._on_connected(self)

    def abort(self) -> None:
        if self.transport is not None:
            self._tx.abortConnection()

    def unwrap(self) -> AmiProtocol:
        """This protocol itself (ClientService hands out a proxy of it)."""
        return self

    # --- receiving --------------------------------------------------------------------------

    def lineReceived(self, line: bytes) -> None:
        text = line.decode("utf-8", errors="replace")
        if self.version is None:
            try:
                self.version = codec.parse_banner(text)
            except codec.AmiCodecError as exc:
                log.error("AMI peer is not Asterisk: %s", exc)
                self.banner.errback(exc)
                self._tx.loseConnection()
                return
            self.banner.callback(self.version)
            return
        msg = self._reader.line(text)
        if msg is not None:
            self.message_received(msg)

    def lineLengthExceeded(self, line: bytes) -> None:
        log.error("AMI line longer than %d bytes: dropping the connection", self.MAX_LENGTH)
        self._tx.loseConnection()

    def message_received(self, msg: Message) -> None:
        aid = msg.action_id
        pending = self._pending.get(aid) if aid else None
        if msg.kind == "response":
            if pending is None or aid is None:
                log.debug("AMI response to no pending action (ActionID %s)", aid)
            elif msg.is_success and msg.event_list == "start":
                pending.response = msg
            else:
                self._finish(aid, msg)
            return
        if pending is not None and pending.response is not None and aid is not None:
            if msg.event_list in ("complete", "cancelled"):
                self._finish(aid, pending.response, msg)
            else:
                pending.events.append(msg)
            return
        if msg.kind == "event" and self._on_message is not None:
            self._on_message(self, msg)

    def _finish(self, aid: str, response: Message, complete: Message | None = None) -> None:
        pending = self._pending.pop(aid)
        if pending.timer is not None and pending.timer.active():
            pending.timer.cancel()
        if response.kind == "response" and not response.is_success:
            error_cls = LoginFailed if pending.action == "Login" else ActionFailed
            pending.deferred.errback(error_cls(pending.action, response))
        else:
            pending.deferred.callback(ActionResult(response, tuple(pending.events), complete))

    # --- sending ----------------------------------------------------------------------------

    def send_action(
        self,
        action: str,
        fields: Mapping[str, FieldValue] | None = None,
        *,
        timeout: float | None = None,
    ) -> defer.Deferred[ActionResult]:
        """Send ``action``; its Deferred fires with the answer (and list), or fails with
        ``ActionFailed``, ``ActionTimeout``, ``NotConnected`` or ``AmiValueError``."""
        if self.transport is None or self.version is None:
            return defer.fail(NotConnected(f"{action}: not connected"))
        aid = self._ids()
        try:
            data = codec.format_action(action, aid, fields)
        except codec.AmiValueError as exc:
            return defer.fail(exc)
        d: defer.Deferred[ActionResult] = defer.Deferred()
        pending = _Pending(action, d)
        self._pending[aid] = pending
        limit = self._action_timeout if timeout is None else timeout
        pending.timer = self.clock.callLater(limit, self._timed_out, aid, limit)
        log.debug("AMI -> %s (ActionID %s)", action, aid)
        self._tx.write(data)
        return d

    def _timed_out(self, aid: str, limit: float) -> None:
        pending = self._pending.pop(aid, None)
        if pending is not None:
            pending.timer = None
            pending.deferred.errback(ActionTimeout(f"{pending.action}: no answer in {limit} s"))

    def login(self, username: str, secret: str) -> defer.Deferred[ActionResult]:
        log.info("AMI login as %s (Asterisk Call Manager/%s)", username, self.version)
        return self.send_action(
            "Login", {"Username": username, "Secret": secret, "Events": "on"}
        )

    # --- keep-alive -------------------------------------------------------------------------

    def start_keepalive(self, interval: float, timeout: float) -> None:
        self._keepalive = task.LoopingCall(self._send_ping, timeout)
        self._keepalive.clock = self.clock
        self._keepalive.start(interval, now=False)

    def _send_ping(self, timeout: float) -> None:
        if self._ping is not None:
            return
        d = self.send_action("Ping", timeout=timeout)
        self._ping = d

        def done(result: ActionResult | Failure) -> None:
            self._ping = None
            if isinstance(result, Failure):
                if result.check(NotConnected):
                    return
                log.warning("AMI keep-alive failed (%s): reconnecting", result.getErrorMessage())
                if self.transport is not None:
                    self._tx.abortConnection()

        d.addBoth(done)

    # --- closing ----------------------------------------------------------------------------

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        if self._keepalive is not None and self._keepalive.running:
            self._keepalive.stop()
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if p.timer is not None and p.timer.active():
                p.timer.cancel()
            p.deferred.errback(NotConnected(f"{p.action}: connection lost"))
        if not self.banner.called:
            self.banner.errback(NotConnected("connection lost before the banner"))
        self.transport = None
        if not self.closed.called:
            self.closed.callback(None)
