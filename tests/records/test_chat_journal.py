"""The chat journal (one thread, group commit), on SQLite and PostgreSQL: every submit is
answered exactly once, after its commit; outages are waited out without storing twice."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cti.records.chat import (
    Appended,
    ChatError,
    NewMessage,
    add_file,
    append_many,
    end_conversation,
    messages_after,
    open_conversation,
    transcript,
)
from cti.records.chat_journal import ChatJournal, JournalClosed, JournalFull
from cti.records.db import SessionFactory

T0 = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
WAIT_S = 30.0


def msg(conv: str, cid: str, body: str = "hi", sender: str = "customer") -> NewMessage:
    return NewMessage(conv, sender, "v-1", cid, "text", body, None, T0)


class Acks:
    """Collects the callbacks' results, checking each submit is answered exactly once."""

    def __init__(self) -> None:
        self.results: dict[tuple[str, str], list[Appended]] = {}
        self.threads: set[str] = set()
        self._cv = threading.Condition()

    def callback(self, conv: str, cid: str) -> Any:
        def done(result: Appended) -> None:
            with self._cv:
                self.results.setdefault((conv, cid), []).append(result)
                self.threads.add(threading.current_thread().name)
                self._cv.notify_all()

        return done

    def count(self) -> int:
        with self._cv:
            return sum(len(v) for v in self.results.values())

    def wait(self, n: int, timeout: float = WAIT_S) -> None:
        with self._cv:
            assert self._cv.wait_for(lambda: self.count() >= n, timeout), self.count()


class Barrier:
    """A read that holds the journal thread until released (to pile up a queue)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, _sf: SessionFactory) -> None:
        self.entered.set()
        assert self.release.wait(WAIT_S)


@pytest.fixture
def journal(session_factory: SessionFactory) -> Iterator[ChatJournal]:
    j = ChatJournal(session_factory, retry_initial_s=0.01, retry_max_s=0.05)
    yield j
    j.close(5.0)


def open_all(sf: SessionFactory, *convs: str) -> None:
    for conv in convs:
        open_conversation(sf, conv, visitor="v-1", lang="zh", now=T0)


def check_transcripts(sf: SessionFactory, acks: Acks, convs: list[str]) -> None:
    """Every conversation: seqs 1..n, each cid once, every ack of a cid its stored seq."""
    for conv in convs:
        stored = transcript(sf, conv)
        assert [m.seq for m in stored] == list(range(1, len(stored) + 1))
        by_cid = {m.client_id: m.seq for m in stored}
        assert len(by_cid) == len(stored)
        for (c, cid), results in acks.results.items():
            if c == conv:
                assert {r.message.seq for r in results if r.message} == {by_cid[cid]}


def test_submits_from_many_threads_are_each_acked_once_after_commit(
    session_factory: SessionFactory, journal: ChatJournal
) -> None:
    convs = ["a", "b", "c"]
    open_all(session_factory, *convs)
    acks = Acks()

    def sender(n: int) -> None:
        for k in range(100):
            conv = convs[(n + k) % 3]
            journal.submit(msg(conv, f"t{n}-{k}"), acks.callback(conv, f"t{n}-{k}"))

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    acks.wait(600)
    assert journal.close(5.0)
    assert acks.count() == 600 and all(len(r) == 1 for r in acks.results.values())
    assert acks.threads == {"chat-journal"}
    check_transcripts(session_factory, acks, convs)
    assert sum(len(transcript(session_factory, c)) for c in convs) == 600
    stats = journal.stats()
    assert (stats.committed, stats.duplicates, stats.retries, stats.queued) == (600, 0, 0, 0)
    assert stats.batches < 600  # grouped


def test_what_queues_during_a_commit_goes_in_one_transaction(
    session_factory: SessionFactory, journal: ChatJournal
) -> None:
    open_all(session_factory, "a")
    hold, acks = Barrier(), Acks()
    journal.read(hold, callback=lambda _: None)
    assert hold.entered.wait(WAIT_S)
    for k in range(150):
        journal.submit(msg("a", f"m{k}"), acks.callback("a", f"m{k}"))
    journal.submit(msg("a", "m0"), acks.callback("a", "m0"))  # a resend in the same batch
    hold.release.set()
    acks.wait(151)
    stats = journal.stats()
    assert (stats.batches, stats.committed, stats.duplicates) == (1, 150, 1)
    assert [r.duplicate for r in acks.results[("a", "m0")]] == [False, True]
    check_transcripts(session_factory, acks, ["a"])


def test_a_read_sees_every_write_submitted_before_it(
    session_factory: SessionFactory, journal: ChatJournal
) -> None:
    open_all(session_factory, "a")
    acks, seen = Acks(), []
    for k in range(5):
        journal.submit(msg("a", f"m{k}"), acks.callback("a", f"m{k}"))
    done = threading.Event()

    def got(messages: list[Any]) -> None:
        seen.extend(m.seq for m in messages)
        done.set()

    journal.read(messages_after, "a", 2, callback=got)
    assert done.wait(WAIT_S)
    assert seen == [3, 4, 5]
    assert acks.count() == 5


def test_a_read_that_fails_goes_to_its_errback(
    session_factory: SessionFactory, journal: ChatJournal
) -> None:
    errors: list[Exception] = []
    done = threading.Event()
    upload = functools.partial(
        add_file, name="x", type="text/plain", size=1, path="x/y", uploaded_by="v", at=T0
    )
    journal.read(
        upload,
        "nope",
        callback=lambda _: pytest.fail("no such conversation"),
        errback=lambda exc: (errors.append(exc), done.set()),
    )
    assert done.wait(WAIT_S)
    assert isinstance(errors[0], ChatError) and errors[0].code == "no_conversation"
    ended = threading.Event()
    open_all(session_factory, "a")
    journal.read(end_conversation, "a", T0, callback=lambda ok: ok and ended.set())
    assert ended.wait(WAIT_S)


def test_a_failing_callback_does_not_stop_the_journal(
    session_factory: SessionFactory, journal: ChatJournal
) -> None:
    open_all(session_factory, "a")
    acks = Acks()

    def boom(_: Appended) -> None:
        raise RuntimeError("a bug in the caller")

    journal.submit(msg("a", "1"), boom)
    journal.submit(msg("a", "2"), acks.callback("a", "2"))
    acks.wait(1)
    assert acks.results[("a", "2")][0].message is not None


def test_a_full_queue_says_busy_and_loses_nothing(session_factory: SessionFactory) -> None:
    open_all(session_factory, "a")
    journal = ChatJournal(session_factory, max_queue=10)
    hold, acks = Barrier(), Acks()
    try:
        journal.read(hold, callback=lambda _: None)
        assert hold.entered.wait(WAIT_S)
        for k in range(9):  # the read still counts until it is done
            journal.submit(msg("a", f"m{k}"), acks.callback("a", f"m{k}"))
        with pytest.raises(JournalFull) as full:
            journal.submit(msg("a", "m9"), acks.callback("a", "m9"))
        assert full.value.code == "journal_full"
        hold.release.set()
        acks.wait(9)
        journal.submit(msg("a", "m9"), acks.callback("a", "m9"))  # the client's resend
        acks.wait(10)
    finally:
        hold.release.set()
        assert journal.close(5.0)
    assert [m.client_id for m in transcript(session_factory, "a")] == [f"m{k}" for k in range(10)]


def test_close_drains_then_refuses(session_factory: SessionFactory) -> None:
    open_all(session_factory, "a")
    journal = ChatJournal(session_factory)
    acks = Acks()
    for k in range(300):
        journal.submit(msg("a", f"m{k}"), acks.callback("a", f"m{k}"))
    assert journal.close(10.0)
    assert acks.count() == 300
    with pytest.raises(JournalClosed):
        journal.submit(msg("a", "late"), acks.callback("a", "late"))


# -- outages -----------------------------------------------------------------------------------


@contextlib.contextmanager
def failing_statements(sf: SessionFactory, n: int, match: str, error: type[Exception]) -> Any:
    """The first ``n`` statements containing ``match`` raise ``error`` (as a dropped
    connection or a killed server would, mid-transaction)."""
    engine = sf.kw["bind"]
    left = [n]

    def before(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if match in statement and left[0] > 0:
            left[0] -= 1
            raise error(statement, params, Exception("server closed the connection"))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield left
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_an_outage_mid_transaction_is_waited_out_without_duplicates(
    session_factory: SessionFactory, journal: ChatJournal
) -> None:
    open_all(session_factory, "a", "b")
    acks = Acks()
    with failing_statements(session_factory, 4, "INSERT INTO chat_messages", OperationalError):
        for k in range(40):
            conv = "ab"[k % 2]
            journal.submit(msg(conv, f"m{k}"), acks.callback(conv, f"m{k}"))
        acks.wait(40)
    assert all(len(r) == 1 and r[0].message for r in acks.results.values())
    check_transcripts(session_factory, acks, ["a", "b"])
    stats = journal.stats()
    assert stats.retries == 4 and stats.committed == 40 and stats.duplicates == 0


class FlakySessions(sessionmaker[Session]):
    """A session factory whose first ``failures`` transactions cannot connect."""

    failures = 0
    lost_replies = 0  # then: transactions that commit, but whose reply is lost

    @contextlib.contextmanager
    def begin(self) -> Iterator[Session]:  # type: ignore[override]
        if self.failures > 0:
            self.failures -= 1
            raise OperationalError("connect", {}, Exception("connection refused"))
        with super().begin() as session:
            yield session
        if self.lost_replies > 0:
            self.lost_replies -= 1
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))


def flaky(sf: SessionFactory, *, failures: int = 0, lost_replies: int = 0) -> FlakySessions:
    factory = FlakySessions(bind=sf.kw["bind"], expire_on_commit=False)
    factory.failures, factory.lost_replies = failures, lost_replies
    return factory


def test_a_database_that_is_down_at_first_is_retried_with_backoff(
    session_factory: SessionFactory,
) -> None:
    open_all(session_factory, "a")
    journal = ChatJournal(flaky(session_factory, failures=5), retry_initial_s=0.01)
    acks = Acks()
    started = time.monotonic()
    for k in range(20):
        journal.submit(msg("a", f"m{k}"), acks.callback("a", f"m{k}"))
    acks.wait(20)
    waited = time.monotonic() - started
    assert journal.close(5.0)
    assert waited >= 0.01 + 0.02 + 0.04 + 0.08 + 0.16  # doubling
    assert journal.stats().retries == 5
    check_transcripts(session_factory, acks, ["a"])


def test_a_commit_whose_reply_was_lost_is_acked_with_the_stored_seqs(
    session_factory: SessionFactory,
) -> None:
    open_all(session_factory, "a")
    journal = ChatJournal(flaky(session_factory, lost_replies=1), retry_initial_s=0.01)
    hold, acks = Barrier(), Acks()
    journal.read(hold, callback=lambda _: None)
    assert hold.entered.wait(WAIT_S)
    for k in range(10):
        journal.submit(msg("a", f"m{k}"), acks.callback("a", f"m{k}"))
    hold.release.set()
    acks.wait(10)
    assert journal.close(5.0)
    assert all(len(r) == 1 for r in acks.results.values())
    results = [acks.results[("a", f"m{k}")][0] for k in range(10)]
    assert all(r.duplicate for r in results)  # stored by the attempt that "failed"
    assert [r.message.seq for r in results if r.message] == list(range(1, 11))
    assert len(transcript(session_factory, "a")) == 10


def test_closing_with_the_database_down_acks_nothing_unstored(
    session_factory: SessionFactory,
) -> None:
    open_all(session_factory, "a")
    journal = ChatJournal(flaky(session_factory, failures=10**6), retry_initial_s=0.01)
    acks = Acks()
    journal.submit(msg("a", "m0"), acks.callback("a", "m0"))
    time.sleep(0.1)
    assert journal.close(0.2) is False
    assert acks.count() == 0
    assert transcript(session_factory, "a") == []
    assert journal.stats().retries > 0


@pytest.mark.parametrize("error", [DataError, RuntimeError])
def test_a_message_the_database_refuses_is_answered_alone(
    session_factory: SessionFactory, journal: ChatJournal, error: type[Exception]
) -> None:
    """Not an outage (a bad row, or a bug): the batch goes item by item; only the bad one is
    answered ``store_failed``, and the journal goes on."""
    open_all(session_factory, "a")
    engine = session_factory.kw["bind"]

    def before(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        rows = params if isinstance(params, list) else [params]
        if "INSERT INTO chat_messages" in statement and any("poison" in str(r) for r in rows):
            if error is DataError:
                raise DataError(statement, params, Exception("invalid byte sequence"))
            raise error("a bug")

    hold, acks = Barrier(), Acks()
    event.listen(engine, "before_cursor_execute", before)
    try:
        journal.read(hold, callback=lambda _: None)
        assert hold.entered.wait(WAIT_S)
        for cid in ("m1", "poison", "m2"):
            journal.submit(msg("a", cid, f"text {cid}"), acks.callback("a", cid))
        hold.release.set()
        acks.wait(3)
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert acks.results[("a", "poison")][0] == Appended(None, error="store_failed")
    assert [m.client_id for m in transcript(session_factory, "a")] == ["m1", "m2"]
    assert journal.stats().refused == 1
    acks.wait(0)
    journal.submit(msg("a", "m3"), acks.callback("a", "m3"))
    acks.wait(4)
    assert acks.results[("a", "m3")][0].message is not None


def test_the_journal_and_a_direct_writer_agree(session_factory: SessionFactory) -> None:
    """A resend through the journal of a message stored by another writer is a duplicate."""
    open_all(session_factory, "a")
    [direct] = append_many(session_factory, [msg("a", "m0")])
    journal = ChatJournal(session_factory)
    acks = Acks()
    journal.submit(msg("a", "m0"), acks.callback("a", "m0"))
    journal.submit(msg("a", "m1"), acks.callback("a", "m1"))
    acks.wait(2)
    assert journal.close(5.0)
    assert acks.results[("a", "m0")] == [Appended(direct.message, duplicate=True)]
    assert acks.results[("a", "m1")][0].message is not None
    assert acks.results[("a", "m1")][0].message.seq == 2
    assert journal.stats().duplicates == 1


def test_timestamps_survive_the_round_trip(session_factory: SessionFactory) -> None:
    open_all(session_factory, "a")
    later = T0 + timedelta(hours=3, microseconds=5)
    [r] = append_many(
        session_factory, [NewMessage("a", "agent", "1001", "x", "text", "t", None, later)]
    )
    assert r.message is not None and transcript(session_factory, "a")[0].at == later
