"""Records benchmark, on SQLite and PostgreSQL in one run.

1. Event-to-commit latency: call timelines submitted through ``RecordWriter`` at a steady
   200 events/s for ~20 s; submit -> commit p50/p99 from the writer's ``on_commit`` hook.
2. Customer-history query: ``customer_history(limit=50)`` p50/p95/p99 over 1,000,000
   interactions of ~50,000 customers (Zipf-like skew: a few customers call very often).
   The data is bulk-loaded once (sqlite3 executemany / PostgreSQL COPY) and reused:
   ``~/.cache/hotline/bench/history.db`` and PostgreSQL database ``hotline_bench``.

    .venv/bin/python bench/records_bench.py [--seconds 20] [--rate 200] [--queries 2000]

Writes its figures between the records markers of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import random
import sqlite3
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cti.records.core.events import RecordEvent
from cti.records.db import SessionFactory, dispose, make_session_factory
from cti.records.history import customer_history
from cti.records.migrate import upgrade
from cti.records.writer import CommitReport, RecordWriter

CACHE = Path.home() / ".cache" / "hotline" / "bench"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
START, END = "<!-- records:start -->", "<!-- records:end -->"
N_INTERACTIONS, N_CUSTOMERS = 1_000_000, 50_000
PG_HOST, PG_PORT = "127.0.0.1", 5432
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# -- PostgreSQL helpers ------------------------------------------------------------------
def pg_user() -> str:
    for user in ("postgres", "root"):
        try:
            psycopg.connect(
                host=PG_HOST, port=PG_PORT, dbname="test", user=user, connect_timeout=3
            ).close()
        except psycopg.OperationalError:
            continue
        return user
    raise SystemExit("no PostgreSQL on 127.0.0.1:5432 for users postgres/root")


def pg_url(user: str, name: str, *, fresh: bool) -> str:
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, dbname="test", user=user, autocommit=True
    ) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and fresh:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        if not exists or fresh:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"postgresql+psycopg://{user}@127.0.0.1:5432/{name}"


# -- 1. event-to-commit latency ----------------------------------------------------------
def call_events(n: int, start: datetime) -> list[RecordEvent]:
    iid = f"bench-{n}-{random.getrandbits(48):x}"
    t = start

    def at(seconds: float) -> datetime:
        return t + timedelta(seconds=seconds)

    phone = f"138{random.randrange(10**8):08d}"
    return [
        RecordEvent(
            iid, at(0), "interaction_started", {"channel": "voice", "identities": {"phone": phone}}
        ),
        RecordEvent(iid, at(2), "ivr_step", {"node": "main", "input": "digits 2"}),
        RecordEvent(iid, at(5), "self_service", {"action": "order_status", "outcome": "ok"}),
        RecordEvent(iid, at(8), "queued", {"queue": "support", "priority": 5}),
        RecordEvent(iid, at(10), "offered", {"agent": "1001"}),
        RecordEvent(iid, at(12), "offer_outcome", {"agent": "1001", "outcome": "accepted"}),
        RecordEvent(iid, at(12), "connected", {"agent": "1001"}),
        RecordEvent(iid, at(13), "recording", {"path": f"/rec/{iid}.wav"}),
        RecordEvent(iid, at(70), "ended", {"by": "caller", "reason": "hangup"}),
        RecordEvent(iid, at(80), "wrap_up", {"agent": "1001", "code": "info"}),
    ]


def event_stream() -> Iterator[RecordEvent]:
    """Several calls in flight at once, their events interleaved."""
    counter = itertools.count()
    live: list[list[RecordEvent]] = []
    while True:
        while len(live) < 20:
            live.append(call_events(next(counter), T0))
        pick = random.randrange(len(live))
        yield live[pick].pop(0)
        if not live[pick]:
            live.pop(pick)


def latency(
    url: str, seconds: float, rate: float, spill: Path, batch_ms: float
) -> dict[str, float]:
    upgrade(url)
    factory = make_session_factory(url)
    latencies: list[float] = []
    reports: list[CommitReport] = []
    lock = threading.Lock()

    def on_commit(report: CommitReport) -> None:
        with lock:
            latencies.extend(report.latencies_s)
            reports.append(report)

    writer = RecordWriter(factory, spill_dir=spill, batch_ms=batch_ms, on_commit=on_commit)
    stream = event_stream()
    total = int(seconds * rate)
    submit_times: list[float] = []
    begin = time.monotonic()
    for n in range(total):
        due = begin + n / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        event = next(stream)
        t = time.perf_counter()
        writer.submit(event)
        submit_times.append(time.perf_counter() - t)
    elapsed = time.monotonic() - begin
    assert writer.flush(60), "writer did not drain"
    assert writer.close()
    stats = writer.stats()
    dispose(factory)
    assert len(latencies) == total and stats.spilled == 0
    commits = [r.commit_s for r in reports]
    return {
        "events": total,
        "rate": total / elapsed,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "submit_p99_us": pct(submit_times, 99) * 1e6,
        "batches": len(reports),
        "batch_avg": total / len(reports),
        "commit_p50_ms": pct(commits, 50) * 1000,
        "commit_p99_ms": pct(commits, 99) * 1000,
        "db_busy": sum(commits) / elapsed,  # share of wall time the writer spent in commits
    }


# -- 2. customer-history query at 1M interactions ------------------------------------------
def skewed_customers(rng: random.Random) -> list[float]:
    weights = [1.0 / (rank**0.9) for rank in range(1, N_CUSTOMERS + 1)]
    return list(itertools.accumulate(weights))


def pick(rng: random.Random, cum: list[float]) -> int:
    return bisect.bisect_left(cum, rng.random() * cum[-1]) + 1  # customer ids are 1..N


def rows(cum: list[float]) -> Iterator[tuple[object, ...]]:
    rng = random.Random(1)
    outcomes = ["handled"] * 8 + ["abandoned", "self_served"]
    for n in range(N_INTERACTIONS):
        started = T0 + timedelta(seconds=n * 30 + rng.randrange(30))
        wait = float(rng.randrange(120))
        yield (
            f"i{n:08d}", pick(rng, cum), "voice", started, started + timedelta(seconds=wait + 60),
            wait, 60.0, "support", "1001", rng.choice(outcomes), "main > orders > agent",
        )  # fmt: skip


COLUMNS = (
    "id, customer_id, channel, started_at, ended_at, wait_s, talk_s, queue, agent, outcome, "
    "ivr_path"
)


def sqlite_time(value: object) -> str:
    assert isinstance(value, datetime)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DATETIME format


def load_sqlite(path: Path, cum: list[float]) -> None:
    conn = sqlite3.connect(path)
    if conn.execute("SELECT count(*) FROM interactions").fetchone()[0] == N_INTERACTIONS:
        conn.close()
        return
    print(f"loading {N_INTERACTIONS} interactions into {path} ...", flush=True)
    with conn:
        conn.execute("DELETE FROM interactions")
        conn.execute("DELETE FROM customer_identities")
        conn.execute("DELETE FROM customers")
        conn.executemany(
            "INSERT INTO customers (id, created_at) VALUES (?, ?)",
            ((i, sqlite_time(T0)) for i in range(1, N_CUSTOMERS + 1)),
        )
        conn.executemany(
            "INSERT INTO customer_identities (customer_id, kind, value, created_at) "
            "VALUES (?, 'phone', ?, ?)",
            ((i, f"139{i:08d}", sqlite_time(T0)) for i in range(1, N_CUSTOMERS + 1)),
        )
        conn.executemany(
            f"INSERT INTO interactions ({COLUMNS}, offers, self_service, event_count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, '', 10)",
            ((*r[:3], sqlite_time(r[3]), sqlite_time(r[4]), *r[5:]) for r in rows(cum)),
        )
    conn.execute("ANALYZE")
    conn.close()


def load_pg(url: str, cum: list[float]) -> None:
    user, _, rest = url.removeprefix("postgresql+psycopg://").partition("@")
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, dbname=rest.rsplit("/", 1)[1], user=user
    ) as conn:
        count = conn.execute("SELECT count(*) FROM interactions").fetchone()
        if count and count[0] == N_INTERACTIONS:
            return
        print(f"loading {N_INTERACTIONS} interactions into PostgreSQL ...", flush=True)
        conn.execute("TRUNCATE interaction_events, interactions, customer_identities, customers")
        with conn.cursor().copy("COPY customers (id, created_at) FROM STDIN") as copy:
            for i in range(1, N_CUSTOMERS + 1):
                copy.write_row((i, T0))
        with conn.cursor().copy(
            "COPY customer_identities (customer_id, kind, value, created_at) FROM STDIN"
        ) as copy:
            for i in range(1, N_CUSTOMERS + 1):
                copy.write_row((i, "phone", f"139{i:08d}", T0))
        with conn.cursor().copy(
            f"COPY interactions ({COLUMNS}, offers, self_service, event_count) FROM STDIN"
        ) as copy:
            for r in rows(cum):
                copy.write_row((*r, 1, "", 10))
        conn.execute("SELECT setval('customers_id_seq', %s)", (N_CUSTOMERS,))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE interactions")


def history(factory: SessionFactory, queries: int, cum: list[float]) -> dict[str, float]:
    rng = random.Random(7)
    times: list[float] = []
    sizes: list[int] = []
    for n in range(queries + 200):
        customer = pick(rng, cum)
        t = time.perf_counter()
        with factory() as session:
            found = customer_history(session, customer, limit=50)
        if n >= 200:  # warm-up excluded
            times.append(time.perf_counter() - t)
            sizes.append(len(found))
    return {
        "queries": queries,
        "p50_ms": pct(times, 50) * 1000,
        "p95_ms": pct(times, 95) * 1000,
        "p99_ms": pct(times, 99) * 1000,
        "avg_rows": statistics.fmean(sizes),
    }


def write_results(text: str) -> None:
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{START}\n{text.rstrip()}\n{END}"
    if START in current and END in current:
        head, _, tail = current.partition(START)
        _, _, tail = tail.partition(END)
        current = head + block + tail
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--batch-ms", type=float, default=20.0, help="RecordWriter batch_ms")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    user = pg_user()
    cum = skewed_customers(random.Random(1))

    lat_sqlite_path = CACHE / "latency.db"
    for leftover in CACHE.glob("latency.db*"):
        leftover.unlink()
    lat_pg_url = pg_url(user, "hotline_bench_latency", fresh=True)
    lat = {
        "SQLite": latency(
            f"sqlite:///{lat_sqlite_path}",
            args.seconds,
            args.rate,
            CACHE / "spill-sqlite",
            args.batch_ms,
        ),
        "PostgreSQL": latency(
            lat_pg_url, args.seconds, args.rate, CACHE / "spill-pg", args.batch_ms
        ),
    }

    hist_sqlite = f"sqlite:///{CACHE / 'history.db'}"
    hist_pg = pg_url(user, "hotline_bench", fresh=False)
    load_started = time.monotonic()
    upgrade(hist_sqlite)
    load_sqlite(CACHE / "history.db", cum)
    upgrade(hist_pg)
    load_pg(hist_pg, cum)
    load_s = time.monotonic() - load_started
    hist = {}
    for name, url in (("SQLite", hist_sqlite), ("PostgreSQL", hist_pg)):
        factory = make_session_factory(url)
        hist[name] = history(factory, args.queries, cum)
        dispose(factory)

    lines = [
        "## Records (event writer, customer history)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this machine "
        "(SQLite file in WAL mode; PostgreSQL 127.0.0.1 local). Command:",
        "",
        "    .venv/bin/python bench/records_bench.py "
        f"--seconds {args.seconds:g} --rate {args.rate:g} --queries {args.queries} "
        f"--batch-ms {args.batch_ms:g}",
        "",
        f"### Event-to-commit latency ({args.rate:g} events/s for {args.seconds:g} s "
        f"through RecordWriter, batch_ms={args.batch_ms:g}; target p99 < 200 ms)",
        "",
        "| backend | events | achieved rate | p50 | p99 | max | submit() p99 "
        "| batches | events/batch | commit p50 | commit p99 | writer busy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in lat.items():
        lines.append(
            f"| {name} | {r['events']:.0f} | {r['rate']:.0f}/s | {r['p50_ms']:.1f} ms "
            f"| {r['p99_ms']:.1f} ms | {r['max_ms']:.1f} ms | {r['submit_p99_us']:.0f} µs "
            f"| {r['batches']:.0f} | {r['batch_avg']:.1f} | {r['commit_p50_ms']:.1f} ms "
            f"| {r['commit_p99_ms']:.1f} ms | {r['db_busy']:.0%} |"
        )
    lines += [
        "",
        f"### Customer history at {N_INTERACTIONS:,} interactions / {N_CUSTOMERS:,} customers "
        f"(Zipf-like skew, `customer_history(limit=50)`, {args.queries} queries; "
        "target p95 < 50 ms)",
        "",
        "| backend | p50 | p95 | p99 | avg rows returned |",
        "|---|---|---|---|---|",
    ]
    for name, r in hist.items():
        lines.append(
            f"| {name} | {r['p50_ms']:.2f} ms | {r['p95_ms']:.2f} ms | {r['p99_ms']:.2f} ms "
            f"| {r['avg_rows']:.1f} |"
        )
    lines += [
        "",
        f"Data set load/check time this run: {load_s:.0f} s (reused when already loaded: "
        "`~/.cache/hotline/bench/history.db`, PostgreSQL `hotline_bench`).",
    ]
    text = "\n".join(lines)
    print(text)
    write_results(text)


if __name__ == "__main__":
    main()
