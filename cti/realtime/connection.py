"""The two faces the transport shows an application: a ``Connection`` per client, and the
``Application`` protocol the application implements.

Everything here runs on the reactor thread: call ``send`` and ``close`` from there (a WSGI
thread goes through ``blockingCallFromThread``/``callFromThread``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from twisted.internet.defer import Deferred

from cti.realtime.core.frames import Frame, encode_frame
from cti.realtime.limits import RealtimeCounters

log = logging.getLogger(__name__)

MAX_CLOSE_REASON_BYTES = 123  # what fits in a close frame


class Wire(Protocol):
    """What a connection needs from the socket under it (the autobahn protocol, or a fake)."""

    def send_text(self, payload: bytes) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


class Connection:
    """One client. ``principal`` is ``None`` until the application has accepted the client's
    ``hello`` (then whatever object the application chooses); the transport closes a
    connection whose principal is still ``None`` at the hello deadline (4001).

    ``peer`` is the transport's description of the other end (``tcp4:127.0.0.1:51234``),
    ``origin`` the normalized ``Origin`` (``https://host:443``), ``cookies`` those of the
    handshake, ``opened_at`` the reactor's time (POSIX seconds) when the socket opened."""

    def __init__(
        self,
        wire: Wire,
        *,
        id: str,
        peer: str,
        origin: str,
        cookies: Mapping[str, str],
        opened_at: float,
        max_send_bytes: int,
        counters: RealtimeCounters | None = None,
    ) -> None:
        self.id = id
        self.peer = peer
        self.origin = origin
        self.cookies: dict[str, str] = dict(cookies)
        self.opened_at = opened_at
        self.principal: Any = None
        self._wire = wire
        self._max_send_bytes = max_send_bytes
        self._counters = counters if counters is not None else RealtimeCounters()
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once ``close`` was called or the socket is gone: ``send`` does nothing then."""
        return self._closed

    def send(self, frame: Mapping[str, Any]) -> None:
        """Send one frame. Nothing happens once the connection is closed; a frame whose
        encoding is over the WebSocket limit is not sent and logged as an error (a bug of the
        caller: a frame made of checked fields is far below it)."""
        if self._closed:
            return
        payload = encode_frame(frame)
        if len(payload) > self._max_send_bytes:
            log.error(
                "realtime %s: not sending a %r frame of %d bytes (limit %d)",
                self.id,
                frame.get("t"),
                len(payload),
                self._max_send_bytes,
            )
            self._counters.count_error("send_too_big")
            return
        self._counters.frames_out += 1
        if frame.get("t") == "error":
            self._counters.count_error(str(frame.get("code")))
        self._wire.send_text(payload)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (``code`` 1000 or 3000..4999). Idempotent."""
        if code != 1000 and not 3000 <= code <= 4999:
            raise ValueError(f"close code {code} is not 1000 or 3000..4999")
        if self._closed:
            return
        self._closed = True
        data = reason.encode("utf-8")[:MAX_CLOSE_REASON_BYTES]
        self._wire.close(code, data.decode("utf-8", errors="ignore"))

    def mark_gone(self) -> None:
        """Called by the transport when the socket is gone."""
        self._closed = True

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.peer} {'closed' if self._closed else 'open'}>"


class Application(Protocol):
    """What plugs into the transport (the chat channel, the desktop, the wallboard).

    ``on_frame`` gets only frames that parsed and passed the rate limit. It may raise
    ``FrameError`` (the client gets an ``error`` frame with its code), or return a Deferred
    that fails with one; any other exception is logged and the client gets ``error
    internal``. The connection stays open in every case. ``on_close`` is called once, for
    every connection ``on_open`` was called for, with the close code (1006 when the socket
    dropped without a closing handshake)."""

    def on_open(self, conn: Connection) -> None: ...

    def on_frame(self, conn: Connection, frame: Frame) -> Deferred[Any] | None: ...

    def on_close(self, conn: Connection, code: int) -> None: ...
