"""One connection's view of the conversations it follows (``Outbox``) and the ``msg`` frame.

Every conversation's messages reach a connection in ``seq`` order, without gaps or
repeats, including across a resume: while a replay from the store runs for a conversation,
its live messages wait, then both go out merged by ``seq``. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from cti.records.chat import StoredMessage


class Conn(Protocol):
    """What the channel needs of a realtime connection (``cti.realtime.server.Connection``)."""

    def send(self, frame: dict[str, Any]) -> None: ...



def message_frame(m: StoredMessage, name: str = "") -> dict[str, Any]:
    file = m.attachment
    return {"t": "msg", "conv": m.conversation_id, "seq": m.seq, "from": m.sender,
            "name": name, "cid": m.client_id, "text": m.body if m.kind != "file" else "",
            "file": None if file is None else {"id": file.id, "name": file.name,
                                               "type": file.type, "size": file.size},
            "at": m.at.isoformat()}


class Outbox:
    """One connection's view of the conversations it follows: in order, no gaps, no
    repeats. ``sent[conv]`` is the highest seq sent; while a replay from the store is
    running for a conversation, live messages for it wait in ``held``."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.sent: dict[str, int] = {}
        self.held: dict[str, list[StoredMessage]] = {}
        self.name_of: Callable[[StoredMessage], str] = lambda m: ""  # set by the channel

    def replaying(self, conv: str) -> bool:
        return conv in self.held

    def start_replay(self, conv: str, after: int) -> None:
        self.sent[conv] = max(after, 0)
        self.held.setdefault(conv, [])

    def finish_replay(self, conv: str, messages: list[StoredMessage]) -> None:
        held = self.held.pop(conv, [])
        for m in sorted([*messages, *held], key=lambda m: m.seq):
            self._send(m)

    def live(self, m: StoredMessage) -> bool:
        """Send a live message; False if a gap shows (the caller then replays)."""
        conv = m.conversation_id
        if conv in self.held:
            self.held[conv].append(m)
            return True
        last = self.sent.get(conv, 0)
        if m.seq <= last:
            return True
        if m.seq > last + 1:
            return False
        self._send(m)
        return True

    def _send(self, m: StoredMessage) -> None:
        conv = m.conversation_id
        if m.seq <= self.sent.get(conv, 0) and conv in self.sent and m.seq != 0:
            return
        self.sent[conv] = m.seq
        self.conn.send(message_frame(m, self.name_of(m)))
