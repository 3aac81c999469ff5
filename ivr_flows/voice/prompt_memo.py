"""Which prompt file a text had lately: a bounded, thread-safe memo the reactor can read.

Pool threads write it (a prompt made or found on disk); the reactor thread reads it to play
a batch of prompts without a thread hop. Every operation is a few dictionary steps under one
lock, never I/O, so a read never waits on anything slow. Least recently used entries go
first once ``max_entries`` is reached; an entry older than ``ttl_s`` is not trusted (the
blocking path looks at the disk again, and rebuilds the file if the cache was cleared).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MEMO_SIZE = 4096  # entries: a hotline's fixed prompts and recent values, many times over
MEMO_TTL_S = 30.0  # how long a prompt file found on disk is trusted without looking again
MemoKey = tuple[str, str, str]  # (kind "text" | "value", lang, text)


class PromptMemo:
    def __init__(self, max_entries: int = MEMO_SIZE, ttl_s: float = MEMO_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("a prompt memo holds at least one entry")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[MemoKey, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: MemoKey, path: str) -> None:
        """Remember ``path`` for ``key``, seen now; the least recently used entry goes if full."""
        seen = self._clock()
        with self._lock:
            self._entries[key] = (path, seen)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def get(self, key: MemoKey) -> str | None:
        """The path remembered for ``key``, or None if unknown or older than ``ttl_s``."""
        now = self._clock()
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if now - hit[1] > self.ttl_s:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return hit[0]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

