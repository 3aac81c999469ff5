"""The one background writer: the reactor (or any thread) submits events, a single writer
thread commits them in batches, and nothing is lost.

Design
- ``submit(event)`` never waits for the database, never touches a file and never waits on a
  lock held during file I/O or a commit: it takes a short lock (counters only) and puts the
  event on a bounded in-memory queue (``max_queue``). The writer thread takes up to
  ``batch_size`` events, or what arrived within ``batch_ms`` of the first one, and records
  them in ONE transaction (``store.record_batch``: the batch is folded in memory, then one
  multi-row INSERT of the events and one write per touched interaction), then reports the
  commit to ``on_commit`` (per-event submit->commit latency, for metrics). While a commit
  runs, new events queue up and make the next batch bigger, so the cost per event falls as
  the load rises.
- Overflow policy: *spill, don't block, don't drop*. When the queue is full (the database is
  slow or down) ``submit`` appends the event to an unbounded in-memory overflow list; the
  writer thread moves the overflow, as JSON lines, to ``<spill_dir>/spill.jsonl`` after every
  batch and between retries of a failing one (so during an outage the overflow reaches the
  disk within ``retry_max_s``; only while one commit attempt hangs does it stay in memory).
  Once the queue has drained and a write succeeded, the writer replays the spill file and
  deletes it. Events keep their ``event_id``, so a replay that overlaps a committed write is
  a no-op, and the projection rebuilds any interaction whose events arrive out of order. Only
  the writer thread touches the spill directory, except ``submit`` once the writer has stopped
  (after ``close``): it then appends to the spill file itself, for the next writer. The
  files and their layout: ``spill.py``.
- Database errors: connection-type errors (PostgreSQL restarted or connection killed, SQLite
  locked) are retried with exponential backoff, forever, keeping the batch. Any other error
  (a bad event) splits the batch and retries events one by one; an event that still fails is
  a *dead letter*: appended to ``<spill_dir>/rejected.jsonl`` (never replayed automatically),
  counted in ``dead_letters`` (and ``stats().rejected``) and logged at ERROR, one line each,
  with its event id, the reason (the driver's error, without the statement's parameters) and
  the count so far; ``close`` logs the run's total again. An unreadable line of a spill file
  (torn by a crash) is dead-lettered the same way.
- ``close(timeout)`` stops taking work, drains the queue and the spill; if the database is
  still down at the deadline, what remains goes to the spill file, replayed by the next writer
  started on the same ``spill_dir`` (leftover files are replayed at start).
"""

from __future__ import annotations

import collections
import logging
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from cti.records.core.events import RecordEvent
from cti.records.db import SessionFactory
from cti.records.spill import REJECTED_FILE as REJECTED_FILE
from cti.records.spill import SPILL_FILE as SPILL_FILE
from cti.records.spill import SpillDir
from cti.records.store import record, record_batch

log = logging.getLogger(__name__)
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
    rejected: int  # dead letters
    queued: int


def _reason(exc: BaseException) -> str:
    """Why a write failed, in one short line: the driver's error (SQLAlchemy wraps it in
    ``orig``) and the first line of its message; never SQLAlchemy's own rendering, which
    lists the statement's parameters (what callers said and typed)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    name = type(cause).__name__
    return f"{name}: {lines[0][:200]}" if lines else name


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
        self._spill_dir = SpillDir(
            spill_dir or Path(tempfile.gettempdir()) / "hotline-records-spill"
        )
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=max_queue)
        self._overflow: collections.deque[RecordEvent] = collections.deque()
        self._batch_size = batch_size
        self._batch_s = batch_ms / 1000.0
        self._on_commit = on_commit
        # Run after each committed batch, in this writer's thread, with the session factory
        # and the batch's events (e.g. the tag rules, cti/records/tag_hook.py); its own
        # transaction: a failure is logged and never touches the events already committed.
        self.after_commit: Callable[[SessionFactory, list[RecordEvent]], None] | None = None
        self._retry = (retry_initial_s, retry_max_s)
        # counters and flags only, never held during file I/O or a commit (submit takes it);
        # the spill directory has its own lock, which submit takes only once the writer stopped
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._closing = False
        self._stopped = False  # the writer thread is done: submit spills by itself
        self._deadline: float | None = None
        self._outstanding = 0  # submitted in this run, not yet committed/rejected/handed over
        self._counts = dict.fromkeys(
            ("submitted", "committed", "duplicates", "spilled", "replayed", "retries", "rejected"),
            0,
        )
        self._leftovers = self._spill_dir.adopt_leftovers()
        if self._leftovers:
            log.warning(
                "records: replaying %d spill file(s) of an earlier run", len(self._leftovers)
            )
        self._thread = threading.Thread(target=self._run, name="records-writer", daemon=True)
        self._thread.start()

    # -- the caller's side (any thread: no database, no file, no long-held lock) -----------
    def submit(self, event: RecordEvent) -> None:
        with self._lock:
            self._counts["submitted"] += 1
            self._outstanding += 1
            if not self._stopped:
                try:
                    if self._closing:
                        raise queue.Full
                    self._queue.put_nowait((event, time.monotonic()))
                except queue.Full:
                    self._overflow.append(event)  # the writer thread spills it
                return
        self._spill([event], overflow=True, handed_over=True)  # no writer left to do it

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
            outstanding, rejected = self._outstanding, self._counts["rejected"]
        if rejected:
            log.error("records: writer closed with %d dead letter(s) in this run, in %s",
                      rejected, self._spill_dir.rejected)
        return outstanding == 0 and not self._spill_dir.has_spill()

    def stats(self) -> WriterStats:
        with self._lock:
            return WriterStats(**self._counts, queued=self._queue.qsize())

    @property
    def session_factory(self) -> SessionFactory:
        """The records database this writer commits to (for hooks that read it too)."""
        return self._factory

    @property
    def dead_letters(self) -> int:
        """Events that could never be written (see ``rejected.jsonl``)."""
        with self._lock:
            return self._counts["rejected"]

    # -- spill and dead-letter files (the writer thread, or submit once it has stopped) ----
    def _spill(self, events: list[RecordEvent], *, overflow: bool, handed_over: bool) -> None:
        """Append ``events`` to the spill file. ``overflow``: they never reached the queue
        (counted as spilled); ``handed_over``: left for the next writer, not this run's."""
        self._spill_dir.append(events)
        with self._lock:
            if overflow:
                self._counts["spilled"] += len(events)
            if handed_over:
                self._outstanding -= len(events)
                self._cv.notify_all()
        log.warning("records: %d event(s) spilled to %s", len(events), self._spill_dir.path)

    def _spill_overflow(self) -> None:
        events: list[RecordEvent] = []
        while self._overflow:  # only this thread takes from it
            events.append(self._overflow.popleft())
        if not events:
            return
        try:
            self._spill(events, overflow=True, handed_over=False)
        except OSError:
            log.exception("records: cannot spill %d event(s); kept in memory", len(events))
            self._overflow.extendleft(reversed(events))

    def _dead_letter(self, line: str, what: str, reason: str, *, counted: bool) -> None:
        path = self._spill_dir.rejected
        try:
            self._spill_dir.reject(line)
        except OSError:
            log.exception("records: cannot write %s to %s", what, path)
        with self._lock:
            self._counts["rejected"] += 1
            total = self._counts["rejected"]
            if counted:
                self._outstanding -= 1
                self._cv.notify_all()
        log.error(
            "records: %s dead-lettered to %s: %s (%d dead letter(s) in this run)",
            what,
            path,
            reason,
            total,
        )

    def _replay(self, path: Path, *, counted: bool) -> bool:
        def unreadable(line: str) -> None:  # torn by a crash
            self._dead_letter(
                line, f"an unreadable line of {path.name}", "not a readable event", counted=False
            )

        for batch in self._spill_dir.read(path, self._batch_size, unreadable):
            self._spill_overflow()
            if not self._write([(event, None) for event in batch], counted=counted):
                return False  # closing with the database down: the file stays for next time
            with self._lock:
                self._counts["replayed"] += len(batch)
        path.unlink()
        return True

    # -- the writer thread ----------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._stop()

    def _loop(self) -> None:
        for path in self._leftovers:
            if not self._replay(path, counted=False):
                break
        while True:
            self._spill_overflow()
            batch = self._collect()
            if batch:
                if not self._write(batch, counted=True):
                    return
                continue
            self._spill_overflow()
            spill = self._spill_dir.take()
            if spill is not None:
                if not self._replay(spill, counted=True):
                    return
                continue
            with self._lock:
                if (
                    self._closing
                    and self._queue.empty()
                    and (not self._overflow or self._deadline_passed())
                ):
                    self._stopped = True
                    return

    def _stop(self) -> None:
        """The thread ends: what is still queued or in the overflow goes to the spill file
        (only if closing past the deadline with the database down, or after a crash)."""
        with self._lock:
            self._stopped = True  # from now on submit() spills by itself
        queued: list[RecordEvent] = []
        while True:
            try:
                queued.append(self._queue.get_nowait()[0])
            except queue.Empty:
                break
        overflow = list(self._overflow)
        self._overflow.clear()
        for events, spilled in ((queued, False), (overflow, True)):
            if events:
                self._spill(events, overflow=spilled, handed_over=True)
        if queued or overflow:
            log.error(
                "records: writer stopped with %d event(s) not written (database down at "
                "close?); left in %s for the next writer",
                len(queued) + len(overflow),
                self._spill_dir.path,
            )

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

    def _deadline_passed(self) -> bool:  # with self._lock held
        return self._deadline is not None and time.monotonic() > self._deadline

    def _past_deadline(self) -> bool:
        with self._lock:
            return self._deadline_passed()

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
                        self._spill(queued, overflow=False, handed_over=True)
                    return False
                self._spill_overflow()  # the outage fills the queue: get the rest on disk
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
            except Exception as exc:  # noqa: BLE001 - whatever it is: a dead letter, logged
                if _transient(exc):  # the database went away meanwhile: not the event's fault
                    self._write([item], counted=counted)  # retried (or spilled at close)
                    continue
                self._dead_letter(
                    item[0].to_json(), f"event {item[0].event_id}", _reason(exc), counted=counted
                )
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
        if self.after_commit is not None and len(batch) > duplicates:
            try:
                self.after_commit(self._factory, [e for e, _ in batch])
            except Exception:
                log.exception("records: after_commit hook failed")
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
