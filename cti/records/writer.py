"""The one background writer: the reactor (or any thread) submits events, a single writer
thread commits them in batches, and nothing is lost.

Design
- ``submit(event)`` never waits for the database: it puts the event on a bounded in-memory
  queue (``max_queue``). The writer thread takes up to ``batch_size`` events, or what arrived
  within ``batch_ms`` of the first one, and records them in ONE transaction
  (``events.record_batch``: the batch is folded in memory, then one multi-row INSERT of the
  events and one write per touched interaction), then reports the commit to ``on_commit``
  (per-event submit->commit latency, for metrics). While a commit runs, new events queue up
  and make the next batch bigger, so the cost per event falls as the load rises.
- Overflow policy: *spill, don't block, don't drop*. When the queue is full (the database is
  slow or down) ``submit`` appends the event as one JSON line to ``<spill_dir>/spill.jsonl``
  (a local append: microseconds, never the database). Once the queue has drained and a write
  succeeded, the writer replays the spill file and deletes it. Events keep their ``event_id``,
  so a replay that overlaps a committed write is a no-op, and the projection rebuilds any
  interaction whose events arrive out of order.
- Database errors: connection-type errors (PostgreSQL restarted or connection killed, SQLite
  locked) are retried with exponential backoff, forever, keeping the batch. Any other error
  (a bad event) splits the batch and retries events one by one; an event that still fails is
  logged at ERROR and appended to ``<spill_dir>/rejected.jsonl`` (dead letters, never
  replayed automatically).
- ``close(timeout)`` stops taking work, drains the queue and the spill; if the database is
  still down at the deadline, what remains goes to the spill file, replayed by the next writer
  started on the same ``spill_dir`` (leftover files are replayed at start).
"""

from __future__ import annotations

import itertools
import logging
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from cti.records.db import SessionFactory
from cti.records.events import RecordEvent, record, record_batch

log = logging.getLogger(__name__)

SPILL_FILE = "spill.jsonl"
REJECTED_FILE = "rejected.jsonl"
_Item = tuple[RecordEvent, float | None]  # event, monotonic submit time (None: from a spill)


@dataclass(frozen=True)
class CommitReport:
    """One committed transaction, for metrics."""

    events: int
    duplicates: int  # already stored (a retried or replayed write): not applied again
    commit_s: float  # duration of the transaction, retries excluded
    latencies_s: tuple[float, ...]  # submit -> commit of each queued event
    attempts: int


@dataclass(frozen=True)
class WriterStats:
    submitted: int
    committed: int
    duplicates: int
    spilled: int
    replayed: int
    retries: int
    rejected: int
    queued: int


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | DisconnectionError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class RecordWriter:
    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        spill_dir: Path | None = None,
        max_queue: int = 10_000,
        batch_size: int = 200,
        batch_ms: float = 20.0,
        on_commit: Callable[[CommitReport], None] | None = None,
        retry_initial_s: float = 0.05,
        retry_max_s: float = 2.0,
    ) -> None:
        self._factory = session_factory
        self._spill_dir = spill_dir or Path(tempfile.gettempdir()) / "hotline-records-spill"
        self._spill_dir.mkdir(parents=True, exist_ok=True)
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=max_queue)
        self._batch_size = batch_size
        self._batch_s = batch_ms / 1000.0
        self._on_commit = on_commit
        self._retry = (retry_initial_s, retry_max_s)
        self._lock = threading.Lock()  # counters and the spill file
        self._cv = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._closing = False
        self._deadline: float | None = None
        self._outstanding = 0  # submitted in this run, not yet committed/rejected/re-spilled
        self._counts = dict.fromkeys(
            ("submitted", "committed", "duplicates", "spilled", "replayed", "retries", "rejected"),
            0,
        )
        self._seq = itertools.count()
        self._leftovers = self._adopt_leftovers()
        self._thread = threading.Thread(target=self._run, name="records-writer", daemon=True)
        self._thread.start()

    # -- the caller's side (any thread, never waits for the database) --------------------
    def submit(self, event: RecordEvent) -> None:
        with self._lock:
            self._counts["submitted"] += 1
            self._outstanding += 1
            if not self._closing:
                try:
                    self._queue.put_nowait((event, time.monotonic()))
                    return
                except queue.Full:
                    pass
            self._spill_locked([event], count=True)

    def flush(self, timeout: float) -> bool:
        """Wait until every event submitted so far is committed (or dead-lettered)."""
        end = time.monotonic() + timeout
        with self._cv:
            while self._outstanding > 0:
                left = end - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cv.wait(min(left, 0.1))
            return True

    def close(self, timeout: float = 10.0) -> bool:
        """Commit what is queued or spilled; True if nothing had to be left in the spill."""
        with self._lock:
            self._closing = True
            self._deadline = time.monotonic() + timeout
        self._wake.set()
        self._thread.join(timeout + 5.0)
        with self._lock:
            return self._outstanding == 0 and not (self._spill_dir / SPILL_FILE).exists()

    def stats(self) -> WriterStats:
        with self._lock:
            return WriterStats(**self._counts, queued=self._queue.qsize())

    # -- spill files --------------------------------------------------------------------
    def _spill_locked(self, events: list[RecordEvent], *, count: bool) -> None:
        with (self._spill_dir / SPILL_FILE).open("a", encoding="utf-8") as out:
            out.writelines(event.to_json() + "\n" for event in events)
        if count:
            self._counts["spilled"] += len(events)
        else:  # re-spilled at close: no longer this run's business
            self._outstanding -= len(events)
            self._cv.notify_all()
        log.warning("records: %d event(s) spilled to %s", len(events), self._spill_dir)

    def _adopt_leftovers(self) -> list[Path]:
        spill = self._spill_dir / SPILL_FILE
        if spill.exists():
            spill.rename(self._spill_dir / f"replay-{time.time_ns()}.jsonl")
        found = sorted(self._spill_dir.glob("replay-*.jsonl"))
        if found:
            log.warning("records: replaying %d spill file(s) left by an earlier run", len(found))
        return found

    def _take_spill(self) -> Path | None:
        with self._lock:
            spill = self._spill_dir / SPILL_FILE
            if not spill.exists():
                return None
            target = self._spill_dir / f"replay-{time.time_ns()}-{next(self._seq)}.jsonl"
            spill.rename(target)
            return target

    def _replay(self, path: Path, *, counted: bool) -> bool:
        for batch in _batches(path, self._batch_size):
            if not self._write([(event, None) for event in batch], counted=counted):
                return False  # closing with the database down: the file stays for next time
            with self._lock:
                self._counts["replayed"] += len(batch)
        path.unlink()
        return True

    # -- the writer thread ----------------------------------------------------------------
    def _run(self) -> None:
        for path in self._leftovers:
            if not self._replay(path, counted=False):
                break
        while True:
            batch = self._collect()
            if batch:
                if not self._write(batch, counted=True):
                    self._abort()
                    return
                continue
            spill = self._take_spill()
            if spill is not None:
                if not self._replay(spill, counted=True):
                    self._abort()
                    return
                continue
            with self._lock:
                if self._closing and self._queue.empty():
                    return

    def _collect(self) -> list[_Item]:
        try:
            first = self._queue.get(timeout=0.05)
        except queue.Empty:
            return []
        batch = [first]
        # Let the window fill, then take what came: one wake-up per batch, not one per event
        # (a call submits about eight; each wake-up is a GIL hand-over with the reactor).
        time.sleep(self._batch_s)
        while len(batch) < self._batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _abort(self) -> None:
        """Closing past the deadline with the database still down: spill the queue."""
        rest: list[RecordEvent] = []
        while True:
            try:
                rest.append(self._queue.get_nowait()[0])
            except queue.Empty:
                break
        with self._lock:
            if rest:
                self._spill_locked(rest, count=False)
            log.error("records: database unavailable at close; %s", self._spill_dir)

    def _past_deadline(self) -> bool:
        with self._lock:
            return self._deadline is not None and time.monotonic() > self._deadline

    def _write(self, batch: list[_Item], *, counted: bool) -> bool:
        """Commit ``batch`` (retrying transient errors); False if given up at close, in
        which case the batch has been spilled (queued events) or left in its file."""
        delay, attempts = self._retry[0], 0
        while True:
            attempts += 1
            started = time.monotonic()
            try:
                with self._factory.begin() as session:
                    duplicates = record_batch(session, [e for e, _ in batch]).count(False)
            except Exception as exc:
                if not _transient(exc):
                    log.exception("records: batch of %d failed; writing one by one", len(batch))
                    self._write_singly(batch, counted=counted)
                    return True
                with self._lock:
                    self._counts["retries"] += 1
                log.warning("records: database unavailable (%s); retrying", type(exc).__name__)
                if self._past_deadline():
                    queued = [e for e, t in batch if t is not None]
                    if queued:
                        with self._lock:
                            self._spill_locked(queued, count=False)
                    return False
                self._wake.wait(delay)
                delay = min(delay * 2, self._retry[1])
                continue
            done = time.monotonic()
            self._committed(batch, duplicates, done - started, done, attempts, counted=counted)
            return True

    def _write_singly(self, batch: list[_Item], *, counted: bool) -> None:
        for item in batch:
            try:
                with self._factory.begin() as session:
                    duplicate = not record(session, item[0])
            except Exception:
                log.exception("records: event %s rejected", item[0].event_id)
                with self._lock:
                    with (self._spill_dir / REJECTED_FILE).open("a", encoding="utf-8") as out:
                        out.write(item[0].to_json() + "\n")
                    self._counts["rejected"] += 1
                    if counted:
                        self._outstanding -= 1
                        self._cv.notify_all()
                continue
            now = time.monotonic()
            self._committed([item], int(duplicate), 0.0, now, 1, counted=counted)

    def _committed(
        self,
        batch: list[_Item],
        duplicates: int,
        commit_s: float,
        done: float,
        attempts: int,
        *,
        counted: bool,
    ) -> None:
        with self._lock:
            self._counts["committed"] += len(batch) - duplicates
            self._counts["duplicates"] += duplicates
            if counted:
                self._outstanding -= len(batch)
            self._cv.notify_all()
        if self._on_commit is None:
            return
        report = CommitReport(
            events=len(batch),
            duplicates=duplicates,
            commit_s=commit_s,
            latencies_s=tuple(done - t for _, t in batch if t is not None),
            attempts=attempts,
        )
        try:
            self._on_commit(report)
        except Exception:
            log.exception("records: on_commit hook failed")


def _batches(path: Path, size: int) -> Iterator[list[RecordEvent]]:
    batch: list[RecordEvent] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                batch.append(RecordEvent.from_json(line))
            except (ValueError, KeyError, TypeError):  # a torn last line after a crash
                log.error("records: unreadable spilled event in %s dead-lettered", path)
                with (path.parent / REJECTED_FILE).open("a", encoding="utf-8") as out:
                    out.write(line if line.endswith("\n") else line + "\n")
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch
