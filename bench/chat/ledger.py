"""The chat bench's accounting, pure: what each side sent, what was acknowledged, what each
side received, and the statistics of it. No sockets and no clock: every time is passed in
(``time.monotonic()`` of the one load-generator process, so both ends share a clock).

A customer's message travels ``c2a`` (its latency is taken on the agent's socket), an
agent's reply ``a2c``. Both sides of a conversation receive every message of it (their own
too, as the server fans each stored message out to both), so each side's stream of ``seq``
is checked for repeats and order on its own.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

C2A, A2C = "c2a", "a2c"
RECEIVER = {C2A: "agent", A2C: "customer"}  # the side a direction's latency is taken on


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100) of ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Spread:
    """Latencies in milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @staticmethod
    def of(seconds: Iterable[float]) -> Spread:
        ms = [s * 1000.0 for s in seconds]
        return Spread(len(ms), percentile(ms, 50), percentile(ms, 95), percentile(ms, 99),
                      max(ms) if ms else math.nan)


@dataclass
class Sent:
    direction: str
    conv: str
    cid: str
    at: float
    measured: bool  # sent in the measured window (the opening messages are not)
    acked_at: float | None = None
    seq: int | None = None
    delivered_at: float | None = None  # first arrival on the other side's socket
    error: str | None = None


@dataclass
class Ledger:
    sent: dict[str, Sent] = field(default_factory=dict)  # by cid (unique in the whole run)
    duplicates: int = 0  # a (side, conv, seq) or a (side, cid) received again
    out_of_order: int = 0  # a seq below one that side already had for that conversation
    unknown: int = 0  # a msg whose cid this run never sent
    errors: Counter[str] = field(default_factory=Counter)  # error frames, by code
    _seqs: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    _last: dict[tuple[str, str], int] = field(default_factory=dict)
    _cids: set[tuple[str, str]] = field(default_factory=set)

    def on_send(self, direction: str, conv: str, cid: str, at: float, measured: bool) -> None:
        if cid in self.sent:
            raise ValueError(f"cid {cid!r} sent twice by the bench")
        self.sent[cid] = Sent(direction, conv, cid, at, measured)

    def on_ack(self, cid: str, conv: str, seq: int, at: float) -> None:
        sent = self.sent.get(cid)
        if sent is None:
            self.unknown += 1
            return
        if sent.acked_at is None:
            sent.acked_at, sent.seq = at, seq
        if not sent.conv:  # the opening message: the conversation is known from its ack
            sent.conv = conv

    def on_error(self, code: str, cid: str | None) -> None:
        self.errors[code] += 1
        sent = self.sent.get(cid or "")
        if sent is not None and sent.error is None:
            sent.error = code

    def on_message(self, side: str, conv: str, seq: int, cid: str, at: float) -> Sent | None:
        """A ``msg`` frame arrived on ``side``'s socket. Returns the message when this is
        its first arrival on the side it was sent to (the receiver), else None."""
        key = (side, conv)
        seqs = self._seqs.setdefault(key, set())
        if seq in seqs or (side, cid) in self._cids:
            self.duplicates += 1
            return None
        if seq < self._last.get(key, 0):
            self.out_of_order += 1
        seqs.add(seq)
        self._cids.add((side, cid))
        self._last[key] = max(seq, self._last.get(key, 0))
        sent = self.sent.get(cid)
        if sent is None:
            self.unknown += 1
            return None
        if RECEIVER[sent.direction] != side or sent.delivered_at is not None:
            return None
        sent.delivered_at = at
        return sent

    # ------------------------------------------------------------------ the outcome

    def measured(self, direction: str) -> list[Sent]:
        return [s for s in self.sent.values() if s.direction == direction and s.measured]

    def outstanding(self) -> int:
        """Messages not yet both acknowledged and delivered (and not refused)."""
        return sum(1 for s in self.sent.values() if s.error is None
                   and (s.acked_at is None or s.delivered_at is None))

    def latency(self, direction: str) -> Spread:
        return Spread.of(s.delivered_at - s.at for s in self.measured(direction)
                         if s.delivered_at is not None)

    def ack_latency(self, direction: str) -> Spread:
        return Spread.of(s.acked_at - s.at for s in self.measured(direction)
                         if s.acked_at is not None)

    def lost(self) -> int:
        """Acknowledged, never delivered to the other side: the floor is zero."""
        return sum(1 for s in self.sent.values()
                   if s.acked_at is not None and s.delivered_at is None)

    def unacked(self) -> int:
        """Sent, neither acknowledged nor refused with an error frame."""
        return sum(1 for s in self.sent.values() if s.acked_at is None and s.error is None)

    def refused(self) -> int:
        return sum(1 for s in self.sent.values() if s.error is not None)

    def pauses(self, slow_s: float = 0.025, gap_s: float = 0.3) -> list[Pause]:
        """Measured messages slower than ``slow_s`` (either way), grouped when sent within
        ``gap_s`` of each other: one group is one stall that hit every socket at once."""
        slow = sorted((s for s in self.sent.values() if s.measured and s.delivered_at is not None
                       and s.delivered_at - s.at > slow_s), key=lambda s: s.at)
        groups: list[list[Sent]] = []
        for s in slow:
            if groups and s.at - groups[-1][-1].at < gap_s:
                groups[-1].append(s)
            else:
                groups.append([s])
        return [Pause(g[0].at, len(g), max(s.delivered_at - s.at for s in g
                                           if s.delivered_at is not None)) for g in groups]


@dataclass(frozen=True)
class Pause:
    at: float  # the first slow message's send time (monotonic)
    messages: int
    worst_s: float
