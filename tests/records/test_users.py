"""Console users and migrations, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import inspect

from cti.records.db import SessionFactory, dispose, make_engine
from cti.records.migrate import current_revision, head_revision, upgrade
from cti.records.models import Base
from cti.records.users import (
    AgentTaken,
    InvalidAgent,
    InvalidRole,
    InvalidUsername,
    UserInfo,
    UsernameTaken,
    WeakPassword,
    agent_of,
    authenticate,
    count_users,
    create_user,
    get_user,
    link_agent,
    set_active,
)
from web_admin.bootstrap import ensure_admin

PASSWORD = "correct horse battery staple"
# Cheap parameters: an "old" hash that the default hasher wants to upgrade.
WEAK_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


def test_migrations_upgrade_an_empty_database_to_head(empty_db_url: str) -> None:
    assert current_revision(empty_db_url) is None
    upgrade(empty_db_url)
    assert current_revision(empty_db_url) == head_revision()
    upgrade(empty_db_url)  # running it again is a no-op
    assert current_revision(empty_db_url) == head_revision()


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert diff == []
            assert "users" in inspect(conn).get_table_names()
    finally:
        engine.dispose()


def test_create_user_then_authenticate(session_factory: SessionFactory) -> None:
    now = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    created = create_user(session_factory, "Alice", PASSWORD, role="admin", now=now)
    assert created == UserInfo(created.id, "alice", "admin", True, now)
    assert created.is_admin
    assert authenticate(session_factory, "alice", PASSWORD) == created
    assert authenticate(session_factory, "  ALICE ", PASSWORD) == created
    assert get_user(session_factory, created.id) == created
    assert count_users(session_factory) == 1


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "wrong password!"),
        ("nobody", PASSWORD),
        ("bad name!", PASSWORD),
        ("alice", ""),
        ("alice", "x" * 5000),
    ],
)
def test_authenticate_says_only_none_whatever_is_wrong(
    session_factory: SessionFactory, username: str, password: str
) -> None:
    create_user(session_factory, "alice", PASSWORD)
    assert authenticate(session_factory, username, password) is None


def test_a_disabled_user_cannot_sign_in(session_factory: SessionFactory) -> None:
    create_user(session_factory, "bob", PASSWORD)
    disabled = set_active(session_factory, "bob", False)
    assert disabled is not None and not disabled.active
    assert authenticate(session_factory, "bob", PASSWORD) is None
    assert set_active(session_factory, "nobody", False) is None


def test_an_old_hash_is_rehashed_when_its_password_is_verified(
    session_factory: SessionFactory,
) -> None:
    from sqlalchemy import select

    from cti.records.models import User

    create_user(session_factory, "carol", PASSWORD, hasher=WEAK_HASHER)

    def stored_hash() -> str:
        with session_factory() as s:
            return str(s.scalar(select(User.password_hash).where(User.username == "carol")))

    old = stored_hash()
    assert "m=8192,t=1,p=1" in old
    assert authenticate(session_factory, "carol", PASSWORD) is not None
    new = stored_hash()
    assert new != old and "m=65536,t=3,p=4" in new
    assert authenticate(session_factory, "carol", PASSWORD) is not None


def test_usernames_are_unique_regardless_of_case(session_factory: SessionFactory) -> None:
    create_user(session_factory, "dave", PASSWORD)
    with pytest.raises(UsernameTaken) as info:
        create_user(session_factory, "DAVE", PASSWORD)
    assert info.value.code == "username_taken"
    assert count_users(session_factory) == 1


@pytest.mark.parametrize(
    ("username", "password", "role", "error"),
    [
        ("a", PASSWORD, "supervisor", InvalidUsername),
        ("1abc", PASSWORD, "supervisor", InvalidUsername),
        ("x" * 33, PASSWORD, "supervisor", InvalidUsername),
        ("eve<script>", PASSWORD, "supervisor", InvalidUsername),
        ("eve", "short", "supervisor", WeakPassword),
        ("eve", PASSWORD, "root", InvalidRole),
    ],
)
def test_create_user_refuses_bad_input(
    session_factory: SessionFactory, username: str, password: str, role: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        create_user(session_factory, username, password, role=role)
    assert count_users(session_factory) == 0


def test_ensure_admin_creates_one_admin_once(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    password = ensure_admin(session_factory, data_dir)
    assert password is not None
    file = data_dir / "admin-password.txt"
    assert file.read_text().strip() == password
    assert file.stat().st_mode & 0o777 == 0o600
    admin = authenticate(session_factory, "admin", password)
    assert admin is not None and admin.role == "admin"
    assert ensure_admin(session_factory, data_dir) is None
    assert file.read_text().strip() == password
    assert list(data_dir.iterdir()) == [file]


def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_unsupported_database_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        make_engine("mysql://u:secret@localhost/db")


def test_dispose_closes_the_pool(session_factory: SessionFactory) -> None:
    assert count_users(session_factory) == 0
    dispose(session_factory)
    assert count_users(session_factory) == 0  # a disposed pool reconnects on demand


def test_an_agent_user_is_linked_to_one_agent(session_factory: SessionFactory) -> None:
    ann = create_user(session_factory, "ann", PASSWORD, role="agent")
    assert ann.agent_id is None and agent_of(ann) is None
    linked = link_agent(session_factory, "ANN", "1001")
    assert linked is not None and linked.agent_id == "1001" and agent_of(linked) == "1001"
    assert get_user(session_factory, ann.id) == linked
    assert link_agent(session_factory, "ann", "1001") == linked  # again: no change
    create_user(session_factory, "bob", PASSWORD, role="agent")
    with pytest.raises(AgentTaken) as taken:
        link_agent(session_factory, "bob", "1001")
    assert taken.value.code == "agent_taken"
    assert link_agent(session_factory, "nobody", "1002") is None
    disabled = set_active(session_factory, "ann", False)
    assert disabled is not None and agent_of(disabled) is None


@pytest.mark.parametrize("agent_id", ["", "x" * 65, "10\x0001", "10\n01"])
def test_a_bad_agent_id_is_refused(session_factory: SessionFactory, agent_id: str) -> None:
    create_user(session_factory, "ann", PASSWORD, role="agent")
    with pytest.raises(InvalidAgent):
        link_agent(session_factory, "ann", agent_id)


def test_only_agent_users_are_linked_to_agents(session_factory: SessionFactory) -> None:
    create_user(session_factory, "sue", PASSWORD, role="supervisor")
    with pytest.raises(InvalidRole):
        link_agent(session_factory, "sue", "1001")


def test_an_agent_signs_in_to_the_desktop_but_not_to_the_console(
    session_factory: SessionFactory,
) -> None:
    create_user(session_factory, "ann", PASSWORD, role="agent")
    link_agent(session_factory, "ann", "1001")
    sue = create_user(session_factory, "sue", PASSWORD, role="supervisor")
    assert authenticate(session_factory, "ann", PASSWORD) is None  # the console's roles
    desk = authenticate(session_factory, "ann", PASSWORD, roles=("agent",))
    assert desk is not None and agent_of(desk) == "1001"
    assert authenticate(session_factory, "sue", PASSWORD, roles=("agent",)) is None
    assert authenticate(session_factory, "sue", PASSWORD) == sue


def test_the_database_refuses_an_unknown_role(session_factory: SessionFactory) -> None:
    """The CHECK constraint as migrated (on SQLite, the table was rebuilt by 0003)."""
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from cti.records.models import User

    row = {"username": "eve", "password_hash": "x", "created_at": datetime.now(UTC)}
    with session_factory.begin() as s:
        s.execute(insert(User.__table__).values(role="agent", **row))
    with pytest.raises(IntegrityError), session_factory.begin() as s:
        s.execute(insert(User.__table__).values(role="root", **{**row, "username": "mallory"}))
