"""The realtime layer's settings (from ``[chat]`` config) and its counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RealtimeLimits:
    """Per-connection and per-site limits. A frame over ``max_frame_bytes`` gets an
    ``error frame_too_big`` and the connection stays; a WebSocket message over
    ``websocket_max_bytes`` (``ws_max_bytes``, by default four times ``max_frame_bytes``)
    is a protocol violation and closes the connection with 1009.

    Pings run on autobahn's batched timer, which rounds every deadline down to a whole second:
    a peer that does not answer is dropped ``ping_interval_s`` + ``ping_timeout_s`` (each
    minus up to a second) after its last frame; hence both are whole seconds or more."""

    max_frame_bytes: int = 16384
    frames_per_s: float = 10
    burst: int = 30
    hello_timeout_s: float = 10
    max_connections: int = 5000
    ping_interval_s: float = 20
    ping_timeout_s: float = 10
    ws_max_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.max_frame_bytes < 256:
            raise ValueError("max_frame_bytes must be at least 256")
        if self.ws_max_bytes is not None and self.ws_max_bytes < self.max_frame_bytes:
            raise ValueError("ws_max_bytes must be at least max_frame_bytes")
        if self.frames_per_s <= 0 or self.burst < 1:
            raise ValueError("frames_per_s must be > 0 and burst >= 1")
        if self.hello_timeout_s <= 0 or self.max_connections < 1:
            raise ValueError("hello_timeout_s must be > 0 and max_connections >= 1")
        for value in (self.ping_interval_s, self.ping_timeout_s):
            if value != 0 and value < 1:  # autobahn's timers run in whole seconds
                raise ValueError("ping_interval_s and ping_timeout_s are 0 (off) or >= 1")

    @property
    def websocket_max_bytes(self) -> int:
        return self.ws_max_bytes if self.ws_max_bytes is not None else 4 * self.max_frame_bytes


@dataclass
class RealtimeCounters:
    """What the transport has seen since start, for a status page. ``open_connections``
    counts accepted handshakes whose TCP connection is not yet gone; ``errors`` counts the
    error frames sent, by code; ``refused`` the handshakes turned away, by reason."""

    open_connections: int = 0
    accepted: int = 0
    frames_in: int = 0
    frames_out: int = 0
    hello_timeouts: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)

    def count_error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def count_refused(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "open_connections": self.open_connections,
            "accepted": self.accepted,
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "hello_timeouts": self.hello_timeouts,
            "errors": dict(self.errors),
            "refused": dict(self.refused),
        }
