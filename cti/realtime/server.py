"""The WebSocket transport: autobahn on Twisted, no knowledge of what frames mean.

Per connection it checks the Origin and the connection cap at the handshake, keeps the
message size limit, pings dead peers away, enforces the hello deadline and the rate limit,
parses frames and hands them to the ``Application``; whatever goes wrong with one frame is
answered with an ``error`` frame and the connection stays open. The composition root
builds the resource with ``make_ws_resource``, mounts it with ``realtime_site`` and listens
(on 127.0.0.1).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from autobahn.twisted.resource import WebSocketResource, WSGIRootResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.defer import Deferred
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Site

from cti.realtime.connection import Application, Connection
from cti.realtime.core.frames import Frame, FrameError, TokenBucket, error_frame, parse_frame
from cti.realtime.core.handshake import normalize_origin, normalize_origins, parse_cookies
from cti.realtime.limits import RealtimeCounters, RealtimeLimits

__all__ = [
    "CLOSE_HELLO_TIMEOUT",
    "CLOSE_INTERNAL_ERROR",
    "Application",
    "Connection",
    "RealtimeCounters",
    "RealtimeFactory",
    "RealtimeLimits",
    "RealtimeProtocol",
    "make_ws_resource",
    "realtime_site",
]

log = logging.getLogger(__name__)

# Twisted's interfaces are zope ones, opaque to mypy: IReactorTime and IDelayedCall values.
Clock = Any
DelayedCall = Any
WebResource = Any  # an IResource: a Resource, a WSGIResource, a WebSocketResource

CLOSE_HELLO_TIMEOUT = 4001  # no accepted hello within the deadline
CLOSE_INTERNAL_ERROR = 4500  # the application failed to open the connection
CLOSE_STATUS_NONE = 1005  # the peer's close frame carried no code


class _AutobahnWire:
    """A ``Wire`` over one autobahn protocol."""

    def __init__(self, protocol: WebSocketServerProtocol) -> None:
        self._protocol = protocol

    def send_text(self, payload: bytes) -> None:
        self._protocol.sendMessage(payload, isBinary=False)

    def close(self, code: int, reason: str) -> None:
        self._protocol.sendClose(code=code, reason=reason)


class RealtimeProtocol(WebSocketServerProtocol):
    """One client socket: the handshake checks, then frames to the application."""

    factory: RealtimeFactory

    def __init__(self) -> None:
        super().__init__()
        self._reserved = False  # counted in open_connections
        self._origin = ""
        self._cookies: dict[str, str] = {}
        self._conn: Connection | None = None
        self._bucket: TokenBucket | None = None
        self._hello_call: DelayedCall | None = None

    def onConnect(self, request: ConnectionRequest) -> None:
        factory = self.factory
        raw_origin = request.headers.get("origin")
        origin = normalize_origin(raw_origin)
        if origin is None or origin not in factory.allowed_origins:
            factory.counters.count_refused("origin")
            log.info("realtime: refused %s: origin %r not allowed", request.peer, raw_origin)
            raise ConnectionDeny(ConnectionDeny.FORBIDDEN, "Forbidden")
        if factory.counters.open_connections >= factory.limits.max_connections:
            factory.counters.count_refused("capacity")
            log.warning(
                "realtime: refused %s: %d connections open",
                request.peer,
                factory.counters.open_connections,
            )
            raise ConnectionDeny(ConnectionDeny.SERVICE_UNAVAILABLE, "Service Unavailable")
        factory.counters.open_connections += 1
        self._reserved = True
        self._origin = origin
        self._cookies = parse_cookies(request.headers.get("cookie"))

    def onOpen(self) -> None:
        factory = self.factory
        limits = factory.limits
        factory.counters.accepted += 1
        conn = Connection(
            _AutobahnWire(self),
            id=uuid.uuid4().hex,
            peer=str(self.peer),
            origin=self._origin,
            cookies=self._cookies,
            opened_at=factory.reactor.seconds(),
            max_send_bytes=limits.websocket_max_bytes,
            counters=factory.counters,
        )
        self._conn = conn
        self._bucket = TokenBucket(limits.frames_per_s, limits.burst)
        self._hello_call = factory.reactor.callLater(limits.hello_timeout_s, self._hello_due)
        try:
            factory.app.on_open(conn)
        except Exception:
            log.exception("realtime %s: the application failed to open the connection", conn.id)
            conn.close(CLOSE_INTERNAL_ERROR, "internal error")

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        conn, bucket = self._conn, self._bucket
        if conn is None or bucket is None or conn.closed:
            return
        factory = self.factory
        factory.counters.frames_in += 1
        if not bucket.take(factory.reactor.seconds()):
            conn.send(error_frame("rate_limited", "too many frames: slow down and resend"))
            return
        if isBinary:
            conn.send(error_frame("bad_frame", "frames are JSON text"))
            return
        try:
            frame = parse_frame(payload, max_bytes=factory.limits.max_frame_bytes)
        except FrameError as error:
            conn.send(error.to_frame())
            return
        self._dispatch(conn, frame)

    def _dispatch(self, conn: Connection, frame: Frame) -> None:
        try:
            result = self.factory.app.on_frame(conn, frame)
        except FrameError as error:
            conn.send(error.to_frame())
        except Exception:
            log.exception("realtime %s: the application failed on a %r frame", conn.id, frame["t"])
            conn.send(error_frame("internal", "internal error"))
        else:
            if isinstance(result, Deferred):
                result.addErrback(_frame_failed, conn, frame["t"])

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if self._hello_call is not None and self._hello_call.active():
            self._hello_call.cancel()
        self._hello_call = None
        conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.mark_gone()
        try:
            self.factory.app.on_close(conn, code if code is not None else CLOSE_STATUS_NONE)
        except Exception:
            log.exception("realtime %s: the application failed to close the connection", conn.id)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        try:
            super().connectionLost(reason)
        finally:
            if self._reserved:
                self._reserved = False
                self.factory.counters.open_connections -= 1

    def _hello_due(self) -> None:
        self._hello_call = None
        conn = self._conn
        if conn is None or conn.closed or conn.principal is not None:
            return
        self.factory.counters.hello_timeouts += 1
        log.info(
            "realtime %s: no hello within %ss, closing",
            conn.id,
            self.factory.limits.hello_timeout_s,
        )
        conn.close(CLOSE_HELLO_TIMEOUT, "hello expected")


def _frame_failed(failure: Failure, conn: Connection, kind: str) -> None:
    """The errback of a Deferred an application returned from ``on_frame``."""
    if isinstance(failure.value, FrameError):
        conn.send(failure.value.to_frame())
        return
    log.error(
        "realtime %s: the application failed on a %r frame\n%s",
        conn.id,
        kind,
        failure.getTraceback(),
    )
    conn.send(error_frame("internal", "internal error"))


class RealtimeFactory(WebSocketServerFactory):
    """Shared state of every realtime socket: the application, limits, origins, counters."""

    protocol = RealtimeProtocol  # type: ignore[assignment]

    def __init__(
        self,
        reactor: Clock,
        app: Application,
        limits: RealtimeLimits,
        allowed_origins: Iterable[str],
        counters: RealtimeCounters | None = None,
    ) -> None:
        super().__init__(reactor=reactor, server=None)
        self.reactor: Clock = reactor
        self.app = app
        self.limits = limits
        self.allowed_origins = normalize_origins(allowed_origins)
        if not self.allowed_origins:
            raise ValueError("at least one allowed origin (the site's own) is needed")
        self.counters = counters if counters is not None else RealtimeCounters()
        self.setProtocolOptions(
            maxFramePayloadSize=limits.websocket_max_bytes,
            maxMessagePayloadSize=limits.websocket_max_bytes,
            autoPingInterval=limits.ping_interval_s,
            autoPingTimeout=limits.ping_timeout_s,
            failByDrop=False,  # a protocol violation closes with its code (1009, 1007 ...)
            webStatus=False,  # a plain GET of /ws gets 426, no status page, no redirect
            allowNullOrigin=True,  # let it through to onConnect, which refuses it with 403
            openHandshakeTimeout=5,
            closeHandshakeTimeout=2,
        )


def make_ws_resource(
    reactor: Clock,
    app: Application,
    limits: RealtimeLimits,
    allowed_origins: Iterable[str],
    counters: RealtimeCounters | None = None,
) -> WebSocketResource:
    """The ``/ws`` resource. ``allowed_origins`` are ``scheme://host[:port]`` strings: the
    site's own origin plus ``[chat] allowed_origins``. Pass ``counters`` to read them later."""
    return WebSocketResource(RealtimeFactory(reactor, app, limits, allowed_origins, counters))


def realtime_site(
    ws_resource: WebResource,
    wsgi_resource: WebResource | None,
    static_children: Mapping[bytes, WebResource],
) -> Site:
    """A site with the WebSocket at ``/ws``, ``static_children`` beside it and the WSGI
    application (if any) answering every other path."""
    if b"ws" in static_children:
        raise ValueError("/ws is the WebSocket; a static child cannot take it")
    children: dict[bytes, WebResource] = {b"ws": ws_resource, **static_children}
    root: Resource
    if wsgi_resource is not None:
        root = WSGIRootResource(wsgi_resource, children)
    else:
        root = Resource()
        for path, child in children.items():
            root.putChild(path, child)
    site = Site(root)
    site.displayTracebacks = False
    return site
