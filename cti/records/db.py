"""Engines and session factories from a database URL.

SQLite (the embedded default) gets WAL journaling, foreign keys and a busy timeout on every
connection; PostgreSQL goes through psycopg 3 (``postgresql+psycopg://``; a bare
``postgresql://`` URL is read the same way).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000

# What callers outside this package hold: they never need to import SQLAlchemy themselves.
SessionFactory = sessionmaker[Session]


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here (psycopg2 is not a dependency)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, *, memory: bool) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


def make_engine(url: str, *, echo: bool = False, pre_ping: bool = True) -> Engine:
    """An engine for ``url``; creates the folder of a SQLite file if needed. SQL parameters
    never appear in errors or logs (they carry what customers typed). ``pre_ping=False``
    for a user that retries on its own (the chat journal: one round trip less per use)."""
    sa_url = make_url(normalize_url(url))
    backend = sa_url.get_backend_name()
    if backend == "sqlite":
        database = sa_url.database or ""
        memory = database in ("", ":memory:") or database.startswith("file::memory:")
        if not memory:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(sa_url, echo=echo, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, record: Any) -> None:
            _sqlite_pragmas(dbapi_conn, record, memory=memory)

        return engine
    if backend == "postgresql":
        return create_engine(sa_url, echo=echo, pool_pre_ping=pre_ping, hide_parameters=True)
    raise ValueError(
        f"unsupported database URL {sa_url.render_as_string(hide_password=True)!r}: "
        "use sqlite:///path or postgresql+psycopg://user@host/db"
    )


def make_session_factory(url_or_engine: str | Engine, *, pre_ping: bool = True
                         ) -> SessionFactory:
    """A session factory (``with factory.begin() as session: ...``); objects stay readable
    after commit, but use cases return dataclasses anyway."""
    engine = (make_engine(url_or_engine, pre_ping=pre_ping) if isinstance(url_or_engine, str)
              else url_or_engine)
    return sessionmaker(bind=engine, expire_on_commit=False)


def dispose(session_factory: SessionFactory) -> None:
    """Close every pooled connection of the engine behind a session factory."""
    bind = session_factory.kw["bind"]
    if isinstance(bind, Engine):
        bind.dispose()
