"""Chat receipts: the marks of one conversation (``Marks``) and their coalesced storage
(``ReceiptWriter``), on the reactor thread.

A receipt (``seen``: delivered up to N, ``read``: read up to N) raises its reader's mark:

- only upwards: a seq not above the mark is ignored (not stored, not forwarded);
- never beyond what that reader was sent: the caller clamps the seq to its connection's
  ``Outbox.sent`` and to the highest seq the channel knows is stored, so a client cannot
  mark messages it has not been shown (a read is a delivery too).

The marks are stored (``cti.records.chat.mark_receipts``) coalesced, not one transaction
per receipt: a changed conversation is marked dirty and every dirty mark goes in one journal
call ``interval_s`` (0.5 s) after the first change, and at a clean stop (``flush``). A kill -9
loses at most that last half second of marks; receipts are never acknowledged, and the
clients keep their own marks too.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cti.records.chat import RECEIPT_MARKS, mark_receipts
from cti.records.chat_journal import JournalClosed, JournalFull

log = logging.getLogger(__name__)
READERS = ("customer", "agent")
KINDS = ("delivered", "read")


@dataclass
class Marks:
    """The highest seq each side of one conversation has confirmed (0: nothing yet)."""

    customer_delivered: int = 0
    customer_read: int = 0
    agent_delivered: int = 0
    agent_read: int = 0

    @classmethod
    def of(cls, stored: Mapping[str, int]) -> Marks:
        """From the stored marks (``ConversationInfo.receipts``)."""
        return cls(**{name: int(stored.get(name, 0)) for name in RECEIPT_MARKS})

    def raise_to(self, reader: str, kind: str, seq: int) -> bool:
        """``reader`` confirmed ``kind`` up to ``seq`` (already clamped): False if that is
        not above its mark (ignore the receipt). A read raises the delivered mark too."""
        if reader not in READERS or kind not in KINDS:
            raise ValueError(f"no receipt {reader!r} {kind!r}")
        name = f"{reader}_{kind}"
        if seq <= getattr(self, name):
            return False
        setattr(self, name, seq)
        delivered = f"{reader}_delivered"
        setattr(self, delivered, max(seq, getattr(self, delivered)))
        return True

    def frames(self, conv: str, reader: str) -> list[dict[str, Any]]:
        """``reader``'s marks as the ``receipt`` frames the other side is shown (a replay)."""
        return [
            {"t": "receipt", "conv": conv, "kind": kind, "seq": seq}
            for kind in KINDS
            if (seq := getattr(self, f"{reader}_{kind}")) > 0
        ]

    def stored(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class Reads(Protocol):
    """What the writer needs of the chat journal: ``fn(session_factory, *args)`` on its
    thread, after earlier work, retried on an outage."""

    def read(self, fn: Callable[..., Any], *args: Any, callback: Callable[[Any], None]) -> None: ...


class ReceiptWriter:
    """Stores changed marks coalesced: one ``mark_receipts`` journal call per interval."""

    def __init__(self, journal: Reads, reactor: Any, interval_s: float = 0.5) -> None:
        self.journal = journal
        self.reactor = reactor
        self.interval_s = interval_s
        self.dirty: dict[str, dict[str, int]] = {}  # conv -> its marks, not stored yet
        self._timer: Any = None

    def changed(self, conv: str, marks: Marks) -> None:
        self.dirty[conv] = marks.stored()
        if self._timer is None:
            self._timer = self.reactor.callLater(self.interval_s, self.flush)

    def flush(self) -> None:
        """Hand every dirty mark to the journal now (the timer, and a clean stop)."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if not self.dirty:
            return
        batch, self.dirty = self.dirty, {}
        try:
            self.journal.read(mark_receipts, batch, callback=_stored)
        except JournalFull:  # the database is slow or down: try again next interval
            for conv, marks in batch.items():
                self.dirty.setdefault(conv, marks)
            self._timer = self.reactor.callLater(self.interval_s, self.flush)
        except JournalClosed:
            log.warning(
                "chat: receipt marks of %d conversation(s) not stored: the journal is closed",
                len(batch),
            )


def _stored(_: Any) -> None:
    """Nothing to answer: receipts are never acknowledged (journal thread)."""
