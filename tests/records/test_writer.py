"""The background writer: batching, threads, outages, overflow, close; on SQLite and PostgreSQL.

Outages are real: on SQLite another connection holds the write lock (the writer's engine gets
a short busy timeout), on PostgreSQL the database refuses connections and the writer's
connections are terminated.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, func, select

from cti.records.core.events import InteractionStarted, IvrStep, RecordEvent
from cti.records.db import SessionFactory, dispose, make_engine, make_session_factory
from cti.records.models import Interaction, InteractionEvent
from cti.records.writer import REJECTED_FILE, SPILL_FILE, CommitReport, RecordWriter

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def writer_factory(db_url: str) -> Iterator[SessionFactory]:
    """The writer's own session factory; on SQLite a short busy timeout so a lock shows."""
    engine = make_engine(db_url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _short_busy(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA busy_timeout=50")

    factory = make_session_factory(engine)
    yield factory
    dispose(factory)


@contextmanager
def outage(db_url: str) -> Iterator[None]:
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    user, _, rest = db_url.removeprefix("postgresql+psycopg://").partition("@")
    name = rest.rsplit("/", 1)[1]
    with psycopg.connect(
        host="127.0.0.1", port=5432, dbname="test", user=user, autocommit=True
    ) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def events_for(iid: str, n_extra: int = 3) -> list[RecordEvent]:
    events = [
        RecordEvent(
            iid, T0, "interaction_started", {"channel": "chat", "identities": {"chat": iid}}
        )
    ]
    events += [
        RecordEvent(iid, T0 + timedelta(seconds=i + 1), "ivr_step", {"node": f"n{i}"})
        for i in range(n_extra)
    ]
    return events


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def counts(factory: SessionFactory) -> tuple[int, int]:
    with factory() as s:
        return (
            int(s.scalar(select(func.count()).select_from(InteractionEvent)) or 0),
            int(s.scalar(select(func.count()).select_from(Interaction)) or 0),
        )


def test_events_from_several_threads_all_land(
    session_factory: SessionFactory, writer_factory: SessionFactory, tmp_path: Path
) -> None:
    reports: list[CommitReport] = []
    writer = RecordWriter(writer_factory, spill_dir=tmp_path, on_commit=reports.append)

    def produce(thread: int) -> None:
        for n in range(40):
            for e in events_for(f"t{thread}-{n}"):
                writer.submit(e)

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writer.flush(30)
    assert counts(session_factory) == (4 * 40 * 4, 4 * 40)
    assert sum(len(r.latencies_s) for r in reports) == 640
    assert len(reports) < 640  # batched
    with session_factory() as s:
        paths = set(s.scalars(select(Interaction.ivr_path)))
    assert paths == {"n0 > n1 > n2"}
    assert writer.close()
    assert writer.stats().committed == 640


def test_a_database_outage_is_retried_without_losing_events(
    db_url: str, session_factory: SessionFactory, writer_factory: SessionFactory, tmp_path: Path
) -> None:
    writer = RecordWriter(writer_factory, spill_dir=tmp_path, retry_max_s=0.2)
    for e in events_for("before"):
        writer.submit(e)
    assert writer.flush(10)
    with outage(db_url):
        for e in events_for("during"):
            writer.submit(e)
        time.sleep(1.0)
        if db_url.startswith("sqlite"):  # readers still work in WAL mode: nothing new landed
            assert counts(session_factory)[0] == 4
    assert writer.flush(30)
    assert writer.stats().retries > 0
    assert counts(session_factory) == (8, 2)
    assert writer.close()


def test_a_full_queue_spills_to_disk_and_is_replayed(
    db_url: str, session_factory: SessionFactory, writer_factory: SessionFactory, tmp_path: Path
) -> None:
    # batch_size=1: the writer holds one event (retrying it) while the queue fills; a bigger
    # batch could soak up the whole burst in memory on a busy machine and nothing would spill
    writer = RecordWriter(
        writer_factory, spill_dir=tmp_path, max_queue=5, batch_size=1, retry_max_s=0.2
    )
    with outage(db_url):
        started = time.monotonic()
        for n in range(25):
            for e in events_for(f"s{n}"):
                writer.submit(e)
        assert time.monotonic() - started < 5.0  # never waits for the database (busy CI: slack)
        # the writer thread spills the overflow between two retries
        assert wait_for(lambda: writer.stats().spilled > 0)
        assert (tmp_path / SPILL_FILE).exists()
    assert writer.flush(30)
    assert counts(session_factory) == (100, 25)
    assert not (tmp_path / SPILL_FILE).exists()
    assert writer.close()


def test_close_commits_what_is_queued(
    session_factory: SessionFactory, writer_factory: SessionFactory, tmp_path: Path
) -> None:
    writer = RecordWriter(writer_factory, spill_dir=tmp_path, batch_ms=500)
    for n in range(30):
        for e in events_for(f"c{n}"):
            writer.submit(e)
    assert writer.close(timeout=20)
    assert counts(session_factory) == (120, 30)


def test_what_cannot_be_written_by_close_is_replayed_by_the_next_writer(
    db_url: str, session_factory: SessionFactory, writer_factory: SessionFactory, tmp_path: Path
) -> None:
    writer = RecordWriter(writer_factory, spill_dir=tmp_path, retry_max_s=0.1)
    with outage(db_url):
        for e in events_for("late"):
            writer.submit(e)
        assert not writer.close(timeout=0.5)
    assert (tmp_path / SPILL_FILE).exists()
    assert counts(session_factory) == (0, 0)
    again = RecordWriter(writer_factory, spill_dir=tmp_path)
    deadline = time.monotonic() + 20
    while counts(session_factory) != (4, 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counts(session_factory) == (4, 1)
    assert again.close()
    assert list(tmp_path.glob("*.jsonl")) == []


def test_a_resubmitted_event_is_stored_once(
    session_factory: SessionFactory, writer_factory: SessionFactory, tmp_path: Path
) -> None:
    writer = RecordWriter(writer_factory, spill_dir=tmp_path)
    events = events_for("dup")
    for e in events + events:
        writer.submit(e)
    assert writer.close()
    assert counts(session_factory) == (4, 1)
    assert writer.stats().duplicates == 4


def test_a_bad_event_is_dead_lettered_and_the_rest_lands(
    session_factory: SessionFactory, writer_factory: SessionFactory, tmp_path: Path
) -> None:
    writer = RecordWriter(writer_factory, spill_dir=tmp_path, batch_ms=200)
    bad = RecordEvent("bad", T0, "ivr_step", {"node": "x", "blob": object()})
    writer.submit(events_for("good1")[0])
    writer.submit(bad)
    writer.submit(events_for("good2")[0])
    assert writer.flush(20)
    assert writer.close()
    assert counts(session_factory)[0] == 2
    assert writer.stats().rejected == 1
    assert bad.event_id in (tmp_path / REJECTED_FILE).read_text()


def test_submit_does_no_file_io_and_never_waits_for_a_spill_in_progress(
    db_url: str, writer_factory: SessionFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reactor's submit() during an outage with a full queue: the writer thread spills,
    slowly (a 0.5 s write), and meanwhile every submit returns at once and opens no file."""
    writer = RecordWriter(
        writer_factory, spill_dir=tmp_path, max_queue=5, batch_size=1, retry_max_s=0.05
    )
    opened_by: list[str] = []
    writer_spilling = threading.Event()
    real_open = Path.open

    def slow_open(path: Path, *args: Any, **kwargs: Any) -> Any:
        opened_by.append(threading.current_thread().name)
        if threading.current_thread().name == "records-writer":
            writer_spilling.set()
            time.sleep(0.5)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Path, "open", slow_open)
    slowest: list[float] = []

    def reactor(prefix: str, n: int) -> None:
        for i in range(n):
            for e in events_for(f"{prefix}{i}"):
                started = time.monotonic()
                writer.submit(e)
                slowest.append(time.monotonic() - started)

    with outage(db_url):
        first = threading.Thread(target=reactor, args=("a", 5), name="reactor")
        first.start()
        first.join()
        assert writer_spilling.wait(10)  # the writer thread is inside a slow spill now
        second = threading.Thread(target=reactor, args=("b", 20), name="reactor")
        second.start()
        second.join()
    assert "reactor" not in opened_by and "records-writer" in opened_by
    assert max(slowest) < 0.25  # well under the 0.5 s the spill holds the file
    monkeypatch.setattr(Path, "open", real_open)
    assert writer.flush(30)
    assert writer.stats().spilled > 0
    assert writer.close()


def test_events_submitted_after_close_are_spilled_for_the_next_writer(
    session_factory: SessionFactory, writer_factory: SessionFactory, tmp_path: Path
) -> None:
    writer = RecordWriter(writer_factory, spill_dir=tmp_path)
    assert writer.close()
    for e in events_for("after"):
        writer.submit(e)
    assert (tmp_path / SPILL_FILE).exists() and writer.stats().spilled == 4
    again = RecordWriter(writer_factory, spill_dir=tmp_path)
    assert wait_for(lambda: counts(session_factory) == (4, 1), timeout=20)
    assert again.close()


def test_dead_letters_are_counted_and_each_is_logged_with_the_count(
    session_factory: SessionFactory,
    writer_factory: SessionFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = RecordWriter(writer_factory, spill_dir=tmp_path, batch_ms=200)
    bad = [RecordEvent(f"bad{i}", T0, "ivr_step", {"node": "x", "blob": object()}) for i in (1, 2)]
    with caplog.at_level("ERROR", logger="cti.records.writer"):
        for e in [*bad, events_for("good")[0]]:
            writer.submit(e)
        assert writer.flush(20)
    assert writer.dead_letters == 2 == writer.stats().rejected
    lines = [r.getMessage() for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert len(lines) == 2 and "(2 dead letter(s)" in lines[-1]
    assert bad[1].event_id in lines[-1]
    assert writer.close()
    assert counts(session_factory)[0] == 1


def test_a_torn_line_in_a_leftover_spill_is_a_counted_dead_letter(
    session_factory: SessionFactory, writer_factory: SessionFactory, tmp_path: Path
) -> None:
    good = events_for("torn")
    torn = good[1].to_json()[:25]
    (tmp_path / SPILL_FILE).write_text(
        "".join(e.to_json() + "\n" for e in good[:1]) + torn, encoding="utf-8"
    )
    writer = RecordWriter(writer_factory, spill_dir=tmp_path)
    assert wait_for(lambda: counts(session_factory) == (1, 1), timeout=20)
    assert writer.close()
    assert writer.dead_letters == 1
    assert (tmp_path / REJECTED_FILE).read_text(encoding="utf-8") == torn + "\n"


def test_a_poison_event_is_dead_lettered_logged_with_id_and_reason_and_the_batch_lands(
    session_factory: SessionFactory,
    writer_factory: SessionFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = RecordWriter(writer_factory, spill_dir=tmp_path, batch_ms=300)
    poison = RecordEvent("poison", T0, "ivr_step", {"node": "x", "blob": object()})
    good = events_for("batch-a") + events_for("batch-b")
    with caplog.at_level("ERROR", logger="cti.records.writer"):
        for e in [*good[:4], poison, *good[4:]]:  # one batch: within the 300 ms window
            writer.submit(e)
        assert writer.flush(20)
        assert writer.dead_letters == 1 == writer.stats().rejected
        assert writer.stats().committed == len(good)
        assert writer.close()
    (line,) = [r for r in caplog.records if poison.event_id in r.getMessage()]
    assert line.levelname == "ERROR" and "dead-lettered" in line.getMessage()
    assert "TypeError: Object of type object is not JSON serializable" in line.getMessage()
    assert "[parameters" not in line.getMessage()  # what callers said stays out of the log
    closing = [r.getMessage() for r in caplog.records if "writer closed" in r.getMessage()]
    assert closing == [f"records: writer closed with 1 dead letter(s) in this run, in "
                       f"{tmp_path / REJECTED_FILE}"]
    assert counts(session_factory) == (len(good), 2)
    assert poison.event_id in (tmp_path / REJECTED_FILE).read_text(encoding="utf-8")


def test_caller_text_with_nul_is_written_not_dead_lettered(
    session_factory: SessionFactory, writer_factory: SessionFactory, tmp_path: Path
) -> None:
    writer = RecordWriter(writer_factory, spill_dir=tmp_path)
    events = [
        RecordEvent.of("nul", T0, InteractionStarted("voice", {"phone": "139\x000013"})),
        RecordEvent.of("nul", T0 + timedelta(seconds=1), IvrStep("menu", "1\x00\x1b2")),
    ]
    for e in events:
        writer.submit(e)
    assert writer.close()
    assert writer.dead_letters == 0
    assert counts(session_factory) == (2, 1)
    with session_factory() as s:
        inputs = list(s.scalars(select(InteractionEvent.data).where(
            InteractionEvent.type == "ivr_step")))
    assert inputs == [{"node": "menu", "input": "12"}]


class _Failing:
    """A session factory whose first ``begin()`` fails as a bad batch would (not an outage),
    the second as an outage (the database went away during the one-by-one retry)."""

    def __init__(self, inner: SessionFactory) -> None:
        self.inner = inner
        self.calls = 0

    def begin(self) -> Any:
        from sqlalchemy.exc import IntegrityError, OperationalError

        self.calls += 1
        if self.calls == 1:
            raise IntegrityError("INSERT ...", {}, Exception("a bad row"))
        if self.calls == 2:
            raise OperationalError("INSERT ...", {}, Exception("server closed the connection"))
        return self.inner.begin()

    def __call__(self) -> Any:
        return self.inner()


def test_an_outage_during_the_one_by_one_retry_is_retried_not_dead_lettered(
    session_factory: SessionFactory, writer_factory: SessionFactory, tmp_path: Path
) -> None:
    failing = _Failing(writer_factory)
    writer = RecordWriter(failing, spill_dir=tmp_path, retry_max_s=0.1)  # type: ignore[arg-type]
    for e in events_for("flaky"):
        writer.submit(e)
    assert writer.flush(10)
    assert writer.dead_letters == 0 and failing.calls > 2  # the event was written again
    assert counts(session_factory) == (4, 1)
    assert writer.close()
