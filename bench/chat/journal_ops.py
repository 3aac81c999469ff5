"""What each chat-journal operation costs measured alone, in this process: the functions the
server's journal thread runs (``cti.records.chat``), on the server's own engine settings
(``make_session_factory``), one after the other as the journal runs them. Opening one chat
takes five of them in series (``OPEN_CHAT``); the realtime figures are in ``load``.

    .venv/bin/python -m bench.chat.journal_ops      # prints the table (chat_bench includes it)
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.chat.server import create_pg_database, drop_pg_database, pg_user

# What opening a chat asks of the journal, in order: the customer's hello looks for an open
# conversation; the first send opens one (before it is queued and offered); the customer's
# socket follows it (a replay from seq 0); the first message is appended; the agent's accept
# replays it again.
OPEN_CHAT = {"find_open_conversation": 1, "open_conversation": 1, "messages_after": 2,
             "append_many (1 message)": 1}
DB_NAME = "hotline_chat_bench_ops"


@dataclass(frozen=True)
class OpCost:
    name: str
    wall_ms: float
    cpu_ms: float
    statements: float  # SQL statements per op (BEGIN/COMMIT not counted)
    pings: float  # pool_pre_ping round trips per op


def measure(db_url: str, n: int = 200) -> list[OpCost]:
    from cti.records import chat
    from cti.records.db import dispose, make_session_factory
    from cti.records.migrate import upgrade

    upgrade(db_url)
    sf = make_session_factory(db_url)
    engine = sf.kw["bind"]
    counts = {"statements": 0, "pings": 0}

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(*_: Any) -> None:
        counts["statements"] += 1

    dialect = engine.dialect
    ping = dialect.do_ping

    def counted_ping(conn: Any) -> bool:
        counts["pings"] += 1
        return bool(ping(conn))

    dialect.do_ping = counted_ping
    now = datetime.now(UTC)

    def one(name: str, fn: Callable[[int], object]) -> OpCost:
        fn(-1)  # warm: statement caches, the pool's first connection
        counts.update(statements=0, pings=0)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(n):
            fn(i)
        return OpCost(name, 1000 * (time.perf_counter() - wall) / n,
                      1000 * (time.process_time() - cpu) / n, counts["statements"] / n,
                      counts["pings"] / n)

    def message(i: int) -> chat.NewMessage:
        return chat.NewMessage(f"chat-{i}", "customer", f"v-{i}", f"c{i}", "text", "hello",
                               None, now)

    try:
        return [
            one("find_open_conversation", lambda i: chat.find_open_conversation(sf, f"v-{i}")),
            one("open_conversation", lambda i: chat.open_conversation(
                sf, f"chat-{i}", visitor=f"v-{i}", lang="en", now=now)),
            one("messages_after", lambda i: chat.messages_after(sf, f"chat-{i}", 0, 1000)),
            one("append_many (1 message)", lambda i: chat.append_many(sf, [message(i)])),
        ]
    finally:
        dispose(sf)


def both(pg: bool = True) -> dict[str, list[OpCost]]:
    out = {}
    with tempfile.TemporaryDirectory(prefix="hotline-chat-ops-") as tmp:
        out["SQLite"] = measure(f"sqlite:///{Path(tmp) / 'ops.db'}")
    if pg:
        user = pg_user()
        url = create_pg_database(user, DB_NAME)
        try:
            out["PostgreSQL"] = measure(url)
        finally:
            drop_pg_database(user, DB_NAME)
    return out


def open_chat_ms(costs: list[OpCost]) -> float:
    by = {c.name: c for c in costs}
    return sum(by[name].wall_ms * times for name, times in OPEN_CHAT.items())


def table(results: dict[str, list[OpCost]]) -> list[str]:
    rows = ["| database | operation | wall ms | CPU ms (Python) | statements | pre-ping round "
            "trips |", "|---|---|---|---|---|---|"]
    for db, costs in results.items():
        for c in costs:
            rows.append(f"| {db} | `{c.name}` | {c.wall_ms:.2f} | {c.cpu_ms:.2f} | "
                        f"{c.statements:.0f} | {c.pings:.0f} |")
        rows.append(f"| {db} | **opening one chat** (the 5 in series) | "
                    f"**{open_chat_ms(costs):.1f}** | | | |")
    return rows


if __name__ == "__main__":
    for line in table(both()):
        print(line)
