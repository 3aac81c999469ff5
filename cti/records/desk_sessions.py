"""Agent desktop sessions, kept on the server: a random token in the agent's cookie, its
SHA-256 in ``desk_sessions``. Signing out deletes the row, so a copied cookie stops
working; sessions expire after ``TTL``. Plain functions over a session factory.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from cti.records.db import SessionFactory
from cti.records.models import DeskSession, User

TTL = timedelta(hours=12)


@dataclass(frozen=True)
class DeskSessionInfo:
    user_id: int
    username: str
    agent_id: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def agent_of(sf: SessionFactory, user_id: int) -> str | None:
    with sf() as s:
        user = s.get(User, user_id)
        return user.agent_id if user is not None and user.active else None


def create(sf: SessionFactory, user_id: int, agent_id: str, address: str,
           now: datetime | None = None) -> str:
    token = secrets.token_urlsafe(32)
    at = now or datetime.now(UTC)
    with sf.begin() as s:
        s.add(DeskSession(token_hash=_hash(token), user_id=user_id, agent_id=agent_id,
                          created_at=at, expires_at=at + TTL, address=address[:64]))
    return token


def lookup(sf: SessionFactory, token: str, now: datetime | None = None
           ) -> DeskSessionInfo | None:
    if not token or len(token) > 100:
        return None
    at = now or datetime.now(UTC)
    with sf() as s:
        row = s.execute(select(DeskSession, User).join(User, User.id == DeskSession.user_id)
                        .where(DeskSession.token_hash == _hash(token))).first()
        if row is None:
            return None
        sess, user = row
        if sess.expires_at <= at or not user.active or user.agent_id != sess.agent_id:
            return None
        return DeskSessionInfo(user.id, user.username, sess.agent_id)


def end(sf: SessionFactory, token: str) -> None:
    with sf.begin() as s:
        s.execute(delete(DeskSession).where(DeskSession.token_hash == _hash(token)))
