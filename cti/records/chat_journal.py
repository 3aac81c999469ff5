"""The chat journal: one background thread that stores chat messages with group commit.

    journal = ChatJournal(session_factory)
    journal.submit(NewMessage(...), lambda r: reactor.callFromThread(on_appended, r))
    journal.read(chat.messages_after, conv, seq, callback=lambda ms: reactor.callFromThread(...))

- ``submit`` never touches the database: it puts the item on a bounded in-memory queue
  (``max_queue``) and returns; a full queue raises ``JournalFull`` (answer the client "busy":
  it keeps the message and resends it, same ``cid``).
- The thread takes everything queued (up to ``max_batch``) and stores it with ONE
  ``chat.append_many`` transaction, then calls each callback with its ``Appended``. While a
  commit runs the queue fills, so the next batch is bigger and the cost per message falls
  as the load rises.
- **Callbacks run on the journal thread.** They must be quick and must not touch the reactor:
  hop with ``reactor.callFromThread``. A callback that raises is logged; the journal goes on.
- A callback is the acknowledgement: it is called only once the message is committed (or
  refused: ``Appended.error``). On a database outage the batch is retried with backoff
  (``retry_initial_s`` doubling up to ``retry_max_s``) and the callbacks wait. A retry after a
  commit whose reply was lost finds the client ids stored and answers them as duplicates
  with their seq: nothing is stored twice. An error that is not an outage (a bug, a bad
  row) makes the batch go item by item; an item that still fails is answered
  ``store_failed`` (not acknowledged: the client may resend).
- ``read(fn, *args, callback=...)`` runs ``fn(session_factory, *args)`` on the same thread,
  after everything submitted before it (so a resume never misses a message acknowledged
  before it); any function of ``chat`` fits (``end_conversation``, ``file_info``, ...; use
  ``functools.partial`` for keyword arguments). It is retried on an outage like a batch; any
  other error goes to ``errback`` (or the log, if there is none).
- ``close(timeout)`` stops taking work and drains the queue; if the database is still down
  at the deadline, what is left is never acknowledged (the clients resend) and close
  returns False.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from cti.records.chat import Appended, NewMessage, append_many
from cti.records.db import SessionFactory

log = logging.getLogger(__name__)
T = TypeVar("T")
Ts = TypeVarTuple("Ts")
STORE_FAILED = "store_failed"


class JournalError(RuntimeError):
    code = "journal_error"


class JournalFull(JournalError):
    """The queue is full (the database is slow or down): answer "busy", the client resends."""

    code = "journal_full"


class JournalClosed(JournalError):
    code = "journal_closed"


@dataclass(frozen=True)
class JournalStats:
    committed: int  # messages stored
    batches: int  # groups stored (one append_many transaction each, unless split)
    duplicates: int  # resends answered with the stored message
    refused: int  # items answered with an error (no_conversation, ..., store_failed)
    retries: int  # attempts that failed on a database outage
    queued: int


@dataclass(frozen=True)
class _Write:
    item: NewMessage
    callback: Callable[[Appended], None]


@dataclass(frozen=True)
class _Read:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    callback: Callable[[Any], None]
    errback: Callable[[Exception], None] | None


class _GiveUp(Exception):
    """Closing with the database still down: leave the rest unacknowledged."""


def _describe(exc: BaseException) -> str:
    """An error for the log without its SQL parameters (message texts are customer data)."""
    if isinstance(exc, DBAPIError):
        return f"{type(exc).__name__}: {str(exc.orig).splitlines()[0] if exc.orig else ''}"
    if isinstance(exc, SQLAlchemyError):
        return type(exc).__name__
    return repr(exc)


def _name(item: NewMessage, attempt: int) -> str:
    return f"message {item.client_id} of {item.conversation_id} (attempt {attempt})"


def _outage(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | DisconnectionError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class ChatJournal:
    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        max_batch: int = 200,
        max_queue: int = 100_000,
        retry_initial_s: float = 0.1,
        retry_max_s: float = 5.0,
    ) -> None:
        self._factory = session_factory
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._retry = (retry_initial_s, retry_max_s)
        self._queue: collections.deque[_Write | _Read] = collections.deque()
        self._cv = threading.Condition()  # guards the queue, the flags and the counters
        self._closing = False
        self._wake = threading.Event()  # set by close: a retry pause ends early
        self._deadline: float | None = None
        self._counts = dict.fromkeys(
            ("committed", "batches", "duplicates", "refused", "retries"), 0
        )
        self._thread = threading.Thread(target=self._run, name="chat-journal", daemon=True)
        self._thread.start()

    # -- any thread ------------------------------------------------------------------------
    def submit(self, item: NewMessage, callback: Callable[[Appended], None]) -> None:
        """Queue ``item``; ``callback(Appended)`` is called on the journal thread once it is
        committed (or refused). Raises ``JournalFull`` or ``JournalClosed``."""
        self._put(_Write(item, callback))

    def read(
        self,
        fn: Callable[[SessionFactory, *Ts], T],
        *args: *Ts,
        callback: Callable[[T], None],
        errback: Callable[[Exception], None] | None = None,
    ) -> None:
        """Run ``fn(session_factory, *args)`` on the journal thread, after every write
        submitted before; ``callback(result)`` there too (``errback(exc)`` if it failed)."""
        self._put(_Read(fn, tuple(args), callback, errback))

    def _put(self, op: _Write | _Read) -> None:
        with self._cv:
            if self._closing:
                raise JournalClosed("the chat journal is closed")
            if len(self._queue) >= self._max_queue:
                raise JournalFull(f"the chat journal has {len(self._queue)} items waiting")
            self._queue.append(op)
            self._cv.notify()

    def stats(self) -> JournalStats:
        with self._cv:
            return JournalStats(**self._counts, queued=len(self._queue))

    def close(self, timeout: float = 10.0) -> bool:
        """Stop taking work and drain; False if something was left unacknowledged."""
        with self._cv:
            self._closing = True
            self._deadline = time.monotonic() + timeout
            self._cv.notify_all()
        self._wake.set()
        self._thread.join(timeout + 5.0)
        with self._cv:
            left = len(self._queue)
        if left or self._thread.is_alive():
            log.error("chat journal closed with %d item(s) not stored (database down?)", left)
            return False
        return True

    # -- the journal thread -----------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                ops = self._take()
                if ops is None:
                    return
                self._process(ops)
        except _GiveUp:
            return
        finally:
            with self._cv:
                self._closing = True  # whatever stopped the thread, submit now says so

    def _take(self) -> list[_Write | _Read] | None:
        """The next ops (all queued, up to ``max_batch``), or None once closed and drained.
        The ops stay queued (and counted) until processed: see ``_done``."""
        with self._cv:
            while not self._queue:
                if self._closing:
                    return None
                self._cv.wait()
            return list(itertools.islice(self._queue, self._max_batch))

    def _done(self, n: int, **counts: int) -> None:
        with self._cv:
            for _ in range(n):
                self._queue.popleft()
            for name, value in counts.items():
                self._counts[name] += value

    def _process(self, ops: list[_Write | _Read]) -> None:
        writes: list[_Write] = []
        for op in ops:
            if isinstance(op, _Write):
                writes.append(op)
                continue
            self._write(writes)
            writes = []
            self._read(op)
        self._write(writes)

    def _write(self, writes: list[_Write]) -> None:
        if not writes:
            return
        items = [w.item for w in writes]
        try:
            results = self._retrying(append_many, items)
        except _GiveUp:
            raise
        except SQLAlchemyError as exc:  # not an outage: find the item at fault
            log.error("chat journal: a batch of %d failed (%s)", len(items), _describe(exc))
            results = [self._single(item) for item in items]
        except Exception:  # a bug: the traceback helps
            log.exception("chat journal: a batch of %d failed", len(items))
            results = [self._single(item) for item in items]
        self._done(
            len(writes),
            batches=1,
            committed=sum(r.message is not None and not r.duplicate for r in results),
            duplicates=sum(r.duplicate for r in results),
            refused=sum(r.error is not None for r in results),
        )
        for write, result in zip(writes, results, strict=True):
            self._call(write.callback, result)

    def _single(self, item: NewMessage) -> Appended:
        for attempt in (1, 2):  # twice: a concurrent writer's same cid resolves on a re-read
            try:
                return self._retrying(append_many, [item])[0]
            except _GiveUp:
                raise
            except SQLAlchemyError as exc:
                log.error("chat journal: %s failed (%s)", _name(item, attempt), _describe(exc))
            except Exception:
                log.exception("chat journal: %s failed", _name(item, attempt))
        return Appended(None, error=STORE_FAILED)

    def _read(self, op: _Read) -> None:
        try:
            result = self._retrying(op.fn, *op.args)
        except _GiveUp:
            raise
        except Exception as exc:  # noqa: BLE001 (the caller's errback gets it, or the log)
            self._done(1)
            if op.errback is None:
                log.error("chat journal: read %r failed: %s", op.fn, _describe(exc))
                return
            self._call(op.errback, exc)
            return
        self._done(1)
        self._call(op.callback, result)

    def _retrying(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(session_factory, *args)``, retried with backoff while the database is down."""
        delay = self._retry[0]
        while True:
            try:
                return fn(self._factory, *args)
            except SQLAlchemyError as exc:
                if not _outage(exc):
                    raise
                with self._cv:
                    self._counts["retries"] += 1
                log.warning("chat journal: database unavailable (%s); retrying", _describe(exc))
                self._pause(delay)
                delay = min(delay * 2, self._retry[1])

    def _pause(self, delay: float) -> None:
        with self._cv:
            deadline = self._deadline
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _GiveUp
            delay = min(delay, left)
        self._wake.wait(delay)

    @staticmethod
    def _call(callback: Callable[[Any], None], value: Any) -> None:
        try:
            callback(value)
        except Exception:
            log.exception("chat journal: callback %r failed", callback)
