"""A connection without a socket, for tests of applications that plug into the transport:
``conn, wire = memory_connection()``; drive ``app.on_frame(conn, frame)``; read
``wire.frames`` and ``wire.closed_with``. Same ``Connection`` class as the real server."""

from __future__ import annotations

import json
from collections.abc import Mapping

from cti.realtime.connection import Connection
from cti.realtime.core.frames import Frame
from cti.realtime.limits import RealtimeCounters


class MemoryWire:
    """A ``Wire`` that keeps every payload sent and the close requested."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed_with: tuple[int, str] | None = None

    def send_text(self, payload: bytes) -> None:
        self.sent.append(payload)

    def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)

    @property
    def frames(self) -> list[Frame]:
        return [json.loads(p) for p in self.sent]


def memory_connection(
    *,
    id: str = "conn-1",
    peer: str = "tcp4:127.0.0.1:50000",
    origin: str = "https://hotline.example:443",
    cookies: Mapping[str, str] | None = None,
    opened_at: float = 0.0,
    max_send_bytes: int = 65536,
    counters: RealtimeCounters | None = None,
) -> tuple[Connection, MemoryWire]:
    wire = MemoryWire()
    conn = Connection(
        wire,
        id=id,
        peer=peer,
        origin=origin,
        cookies=cookies or {},
        opened_at=opened_at,
        max_send_bytes=max_send_bytes,
        counters=counters,
    )
    return conn, wire
