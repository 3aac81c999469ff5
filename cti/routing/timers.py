"""A lazy timer heap: entries are checked for staleness by the engine when they come due."""

from __future__ import annotations

import heapq

RING = 0
WRAP = 1
RULE = 2
ANNOUNCE = 3

Timer = tuple[float, int, int, str, str, int]  # at, seq, kind, key, contact id, token


class Timers:
    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = 0

    def add(self, at: float, kind: int, key: str, contact_id: str = "", token: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, key, contact_id, token))

    def peek(self) -> Timer | None:
        return self._heap[0] if self._heap else None

    def pop(self) -> Timer:
        return heapq.heappop(self._heap)
