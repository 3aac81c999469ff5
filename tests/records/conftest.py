"""Records tests run twice: on SQLite (a file per test) and on a real PostgreSQL.

PostgreSQL: 127.0.0.1:5432, trust auth, maintenance database ``test``; the first of the users
``postgres`` / ``root`` that can connect is used (or $HOTLINE_TEST_PG_USER). One temporary
database per test session, dropped at the end; every test starts from an empty schema. If no
server answers, the fixture tries to start the local cluster once, then skips, except on CI
($CI set), where a missing PostgreSQL fails the run.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cti.records.db import SessionFactory, dispose, make_session_factory
from cti.records.migrate import upgrade

PG_HOST, PG_PORT, PG_MAINTENANCE_DB = "127.0.0.1", 5432, "test"


def _pg_users() -> list[str]:
    wanted = os.environ.get("HOTLINE_TEST_PG_USER")
    return [wanted] if wanted else ["postgres", "root"]


def _connect(user: str, dbname: str = PG_MAINTENANCE_DB) -> psycopg.Connection:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, dbname=dbname, user=user, connect_timeout=3, autocommit=True
    )


def _find_user() -> str | None:
    for user in _pg_users():
        try:
            _connect(user).close()
        except psycopg.OperationalError:
            continue
        return user
    return None


def _start_local_cluster() -> None:
    versions = (
        sorted(p.name for p in Path("/etc/postgresql").glob("*"))
        if Path("/etc/postgresql").is_dir()
        else []
    )
    for version in versions:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            check=False,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture(scope="session")
def pg_base_url() -> Iterator[str]:
    """A fresh, uniquely named database for this test session; dropped afterwards."""
    user = _find_user()
    if user is None:
        _start_local_cluster()
        user = _find_user()
    if user is None:
        message = f"no PostgreSQL on {PG_HOST}:{PG_PORT} for users {_pg_users()}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"hotline_test_{uuid.uuid4().hex[:12]}"
    with _connect(user) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with _connect(user) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _empty_pg(url: str) -> None:
    user, _, rest = url.removeprefix("postgresql+psycopg://").partition("@")
    with _connect(user, rest.rsplit("/", 1)[1]) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records.db'}"
    url: str = request.getfixturevalue("pg_base_url")
    _empty_pg(url)
    return url


@pytest.fixture
def db_url(empty_db_url: str) -> str:
    """A database migrated to the latest schema."""
    upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture
def session_factory(db_url: str) -> Iterator[SessionFactory]:
    factory = make_session_factory(db_url)
    yield factory
    dispose(factory)
