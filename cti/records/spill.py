"""The records writer's spill directory: one JSON event per line (``RecordEvent.to_json``).

- ``spill.jsonl``: events that could not wait in the writer's queue; taken (renamed to
  ``replay-*.jsonl``) and replayed once the database keeps up; files left by an earlier run
  are adopted and replayed at start.
- ``rejected.jsonl``: dead letters, events that can never be written; never replayed.

Every file operation holds the directory's own lock, which the reactor never takes while the
writer runs (see ``writer.py``).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from cti.records.core.events import RecordEvent

SPILL_FILE = "spill.jsonl"
REJECTED_FILE = "rejected.jsonl"


class SpillDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._seq = itertools.count()

    @property
    def rejected(self) -> Path:
        return self.path / REJECTED_FILE

    def append(self, events: Iterable[RecordEvent]) -> None:
        with self._lock, (self.path / SPILL_FILE).open("a", encoding="utf-8") as out:
            out.writelines(event.to_json() + "\n" for event in events)

    def reject(self, line: str) -> None:
        with self._lock, self.rejected.open("a", encoding="utf-8") as out:
            out.write(line if line.endswith("\n") else line + "\n")

    def has_spill(self) -> bool:
        with self._lock:
            return (self.path / SPILL_FILE).exists()

    def adopt_leftovers(self) -> list[Path]:
        """The files an earlier run left to replay, oldest first."""
        with self._lock:
            spill = self.path / SPILL_FILE
            if spill.exists():
                spill.rename(self.path / f"replay-{time.time_ns()}.jsonl")
            return sorted(self.path.glob("replay-*.jsonl"))

    def take(self) -> Path | None:
        """The spill file, renamed out of the way of new spills; None if there is none."""
        with self._lock:
            spill = self.path / SPILL_FILE
            if not spill.exists():
                return None
            target = self.path / f"replay-{time.time_ns()}-{next(self._seq)}.jsonl"
            spill.rename(target)
            return target

    def read(
        self, path: Path, size: int, unreadable: Callable[[str], None]
    ) -> Iterator[list[RecordEvent]]:
        """The events of a taken file in batches of ``size``; a line that does not decode (torn
        by a crash) goes to ``unreadable``."""
        batch: list[RecordEvent] = []
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                try:
                    batch.append(RecordEvent.from_json(line))
                except (ValueError, KeyError, TypeError):
                    unreadable(line)
                if len(batch) >= size:
                    yield batch
                    batch = []
        if batch:
            yield batch
