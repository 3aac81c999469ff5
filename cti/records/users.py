"""Console users: create one, authenticate one. Functions take a session factory and return
plain ``UserInfo`` dataclasses, never ORM objects.

Roles: ``supervisor`` and ``admin`` sign in to the console; ``agent`` users sign in to the
agent desktop only, and are linked to the routing engine's agent they are (``link_agent``).
``authenticate`` takes the roles the caller's door admits (the console's by default).

Passwords are hashed with Argon2id (argon2-cffi); a hash made with older parameters is
re-hashed the next time its password is verified. A failed login does the same work whether
or not the user exists, and says nothing about which part was wrong.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cti.records.db import SessionFactory
from cti.records.models import CONSOLE_ROLES, ROLES, User

USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{1,31}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # longer inputs are refused before hashing (no CPU burn on huge bodies)
DEFAULT_HASHER = PasswordHasher()  # stateless settings (RFC 9106 low-memory profile)


class UserError(ValueError):
    """A user use case refused its input; ``code`` is stable, ``details`` machine-readable."""

    code = "user_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidUsername(UserError):
    code = "invalid_username"


class WeakPassword(UserError):
    code = "weak_password"


class InvalidRole(UserError):
    code = "invalid_role"


class UsernameTaken(UserError):
    code = "username_taken"


class InvalidAgent(UserError):
    code = "invalid_agent"


class AgentTaken(UserError):
    code = "agent_taken"


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    role: str
    active: bool
    created_at: datetime
    agent_id: str | None = None  # set for (and only used for) role "agent"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _info(user: User) -> UserInfo:
    return UserInfo(user.id, user.username, user.role, user.active, user.created_at, user.agent_id)


def agent_of(user: UserInfo) -> str | None:
    """The agent id a desktop user acts as: only an active user of role ``agent`` has one."""
    if user.role != "agent" or not user.active:
        return None
    return user.agent_id


def normalize_username(username: str) -> str:
    """Usernames are case-insensitive: stored and looked up in lower case."""
    return username.strip().lower()


def check_username(username: str) -> str:
    name = normalize_username(username)
    if not USERNAME.match(name):
        raise InvalidUsername(
            "a username is 2-32 characters: a letter, then letters, digits, '_', '.' or '-'",
            username=username[:64],
        )
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(
            f"a password needs at least {MIN_PASSWORD} characters", min_length=MIN_PASSWORD
        )
    if len(password) > MAX_PASSWORD:
        raise WeakPassword(
            f"a password has at most {MAX_PASSWORD} characters", max_length=MAX_PASSWORD
        )


def create_user(
    session_factory: SessionFactory,
    username: str,
    password: str,
    *,
    role: str = "supervisor",
    now: datetime | None = None,
    hasher: PasswordHasher = DEFAULT_HASHER,
) -> UserInfo:
    """Check the name, the password and the role, then store the user."""
    name = check_username(username)
    check_password(password)
    if role not in ROLES:
        raise InvalidRole(f"role must be one of {', '.join(ROLES)}", role=role)
    created = now or datetime.now(UTC)
    password_hash = hasher.hash(password)
    try:
        with session_factory.begin() as session:
            if session.scalar(select(User.id).where(User.username == name)) is not None:
                raise UsernameTaken(f"user {name!r} already exists", username=name)
            user = User(
                username=name,
                password_hash=password_hash,
                role=role,
                created_at=created,
                active=True,
            )
            session.add(user)
            session.flush()
            return _info(user)
    except IntegrityError:  # another process created it between our check and insert
        raise UsernameTaken(f"user {name!r} already exists", username=name) from None


@functools.lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("not a real password, only for equal timing")


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def authenticate(
    session_factory: SessionFactory,
    username: str,
    password: str,
    *,
    hasher: PasswordHasher = DEFAULT_HASHER,
    roles: Collection[str] = CONSOLE_ROLES,
) -> UserInfo | None:
    """The active user with this name and password and one of ``roles``, or None (whatever
    was wrong). The default admits the console's roles: an agent cannot sign in there; the
    desktop passes ``roles=("agent",)``."""
    name = normalize_username(username)
    if not USERNAME.match(name) or len(password) > MAX_PASSWORD:
        _verify(hasher, _dummy_hash(hasher), password[:MAX_PASSWORD])
        return None
    with session_factory.begin() as session:
        user = session.scalar(select(User).where(User.username == name))
        if user is None or not user.active:
            _verify(hasher, _dummy_hash(hasher), password)
            return None
        if not _verify(hasher, user.password_hash, password):
            return None
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hasher.hash(password)
        if user.role not in roles:
            return None
        return _info(user)


def get_user(session_factory: SessionFactory, user_id: int) -> UserInfo | None:
    with session_factory() as session:
        user = session.get(User, user_id)
        return None if user is None else _info(user)


def count_users(session_factory: SessionFactory) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


def set_active(session_factory: SessionFactory, username: str, active: bool) -> UserInfo | None:
    """Disable (or re-enable) a user; None if there is no such user."""
    with session_factory.begin() as session:
        user = session.scalar(select(User).where(User.username == normalize_username(username)))
        if user is None:
            return None
        user.active = active
        return _info(user)


def link_agent(session_factory: SessionFactory, username: str, agent_id: str) -> UserInfo | None:
    """Link the ``agent`` user ``username`` to the routing engine's agent ``agent_id`` (one
    user per agent); None if there is no such user."""
    if not agent_id or len(agent_id) > 64 or not agent_id.isprintable():
        raise InvalidAgent("an agent id is 1-64 printable characters", agent_id=agent_id[:64])
    name = normalize_username(username)
    try:
        with session_factory.begin() as session:
            user = session.scalar(select(User).where(User.username == name))
            if user is None:
                return None
            if user.role != "agent":
                raise InvalidRole("only a user of role agent is linked to an agent", role=user.role)
            owner = session.scalar(select(User.username).where(User.agent_id == agent_id))
            if owner is not None and owner != name:
                raise AgentTaken(f"agent {agent_id!r} is linked to another user", agent_id=agent_id)
            user.agent_id = agent_id
            session.flush()
            return _info(user)
    except IntegrityError:  # another process linked it between our check and update
        raise AgentTaken(
            f"agent {agent_id!r} is linked to another user", agent_id=agent_id
        ) from None


def usernames(session_factory: SessionFactory) -> set[str]:
    """Every stored username (lower case)."""
    with session_factory() as session:
        return set(session.scalars(select(User.username)))
