"""The tables, as SQLAlchemy 2.0 typed declarative models.

Every change comes with a migration in ``migrations/versions``.

- ``users``: console users.
- ``customers`` / ``customer_identities``: one customer, recognised by any of its identities
  (phone, account, chat, email); a merged customer points at the one it was merged into.
- ``interaction_events``: the append-only stream of every state change of every interaction
  (call, chat, ITR session, web session, callback), idempotent on ``event_id``.
- ``interactions``: one row per interaction, *derived* from its events (see ``store.py`` and
  the pure ``core/projection.py``).
- ``chat_conversations`` / ``chat_messages`` / ``chat_files``: the durable chat transcript, the
  only place chat messages live (see ``chat.py``); a conversation's id is also the id of its
  interaction (channel ``chat``), whose row comes from the record events like a call's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from cti.records.core.events import CHANNELS as CHANNELS  # the vocabulary's; re-exported

IDENTITY_KINDS = ("phone", "account", "chat", "email")
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")

ROLES = ("supervisor", "admin", "agent")
CONSOLE_ROLES = ("supervisor", "admin")  # may sign in to the console; agents use the desktop
CHAT_STATES = ("open", "ended")
CHAT_SENDERS = ("customer", "agent", "system")
CHAT_KINDS = ("text", "file", "system")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone: we add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """A console user (supervisor or admin), or an agent signing in to the desktop: an agent
    user names the routing engine's agent it is (``agent_id``)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('supervisor', 'admin', 'agent')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    agent_id: Mapped[str | None] = mapped_column(String(64), unique=True)


class Customer(Base):
    """A person, whatever channel they came from; ``merged_into_id`` is set once two customers
    turned out to be the same one (their identities and interactions moved to the survivor)."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    display_name: Mapped[str | None] = mapped_column(String(128))
    merged_into_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("customers.id"))


class CustomerIdentity(Base):
    """One way to recognise a customer: (kind, normalised value) is unique across customers."""

    __tablename__ = "customer_identities"
    __table_args__ = (
        UniqueConstraint("kind", "value", name="uq_customer_identities_kind_value"),
        CheckConstraint("kind IN ('phone', 'account', 'chat', 'email')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Interaction(Base):
    """One contact (call, chat, ITR session, web session, callback), projected from its events.

    Never written directly: ``store.record`` updates it in the transaction that appends the
    event, so live figures and history read one stream.
    """

    __tablename__ = "interactions"
    __table_args__ = (
        # customer history: newest first, keyset pagination on (started_at, id)
        Index("ix_interactions_customer_started", "customer_id", "started_at", "id"),
        Index("ix_interactions_started_at", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("customers.id"))
    channel: Mapped[str | None] = mapped_column(String(16))
    did: Mapped[str | None] = mapped_column(String(64))
    flow: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    wait_s: Mapped[float | None] = mapped_column(Float)
    talk_s: Mapped[float | None] = mapped_column(Float)
    queue: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int | None] = mapped_column(Integer)
    agent: Mapped[str | None] = mapped_column(String(64))
    offers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    outcome: Mapped[str] = mapped_column(String(16))
    exit: Mapped[str | None] = mapped_column(String(32))
    ended_by: Mapped[str | None] = mapped_column(String(16))
    end_reason: Mapped[str | None] = mapped_column(String(128))
    wrap_up_code: Mapped[str | None] = mapped_column(String(64))
    wrap_up_notes: Mapped[str | None] = mapped_column(Text)
    recording: Mapped[str | None] = mapped_column(String(512))
    ivr_path: Mapped[str] = mapped_column(Text, default="", server_default="")
    self_service: Mapped[str] = mapped_column(Text, default="", server_default="")
    event_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InteractionEvent(Base):
    """One state change of one interaction; ``event_id`` is chosen by the client so that a
    retried write is recognised and not applied twice."""

    __tablename__ = "interaction_events"
    __table_args__ = (Index("ix_interaction_events_interaction", "interaction_id", "at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    interaction_id: Mapped[str] = mapped_column(String(64), ForeignKey("interactions.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class ChatConversation(Base):
    """One chat; ``last_seq`` is the seq of its latest message (the next one gets
    ``last_seq + 1``, allocated with the row locked: see ``chat.append_many``). The four
    receipt marks are the highest seq each side has confirmed delivered / read; they only
    go up (``chat.mark_receipts``)."""

    __tablename__ = "chat_conversations"
    __table_args__ = (CheckConstraint("state IN ('open', 'ended')", name="state"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    visitor: Mapped[str] = mapped_column(String(64), index=True)
    customer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("customers.id"))
    state: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    last_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lang: Mapped[str] = mapped_column(String(8))
    customer_delivered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    customer_read: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    agent_delivered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    agent_read: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ChatMessage(Base):
    """One stored message. ``(conversation_id, seq)`` is its place in the conversation (the
    unique index also serves every read by conversation, so there is no separate one);
    ``(conversation_id, sender, client_id)`` makes a resend of the same client message id
    recognisable."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_chat_messages_conversation_id_seq"),
        UniqueConstraint(
            "conversation_id", "sender", "client_id", name="uq_chat_messages_conversation_id_cid"
        ),
        CheckConstraint("sender IN ('customer', 'agent', 'system')", name="sender"),
        CheckConstraint("kind IN ('text', 'file', 'system')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(64), ForeignKey("chat_conversations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    sender: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    attachment: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChatFile(Base):
    """An uploaded attachment; ``path`` is relative to the data directory (the file itself is
    on disk, written by the upload handler)."""

    __tablename__ = "chat_files"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("chat_conversations.id"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(512))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeskSession(Base):
    """A signed-in agent desktop: the SHA-256 of the cookie's random token (never the token).
    Signing out deletes the row (cti/records/desk_sessions.py)."""

    __tablename__ = "desk_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id"), index=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    address: Mapped[str] = mapped_column(String(64), default="")


KNOWLEDGE_LANGS = ("zh", "en")


class KnowledgeArticle(Base):
    """One question and its answer in one language, edited in the console (see
    ``knowledge.py``). Articles sharing a ``key`` are translations of one topic; ``version``
    counts the edits (a stale form is refused, and the recommender sees every change)."""

    __tablename__ = "knowledge_articles"
    __table_args__ = (
        UniqueConstraint("key", "lang", name="uq_knowledge_articles_key_lang"),
        CheckConstraint("lang IN ('zh', 'en')", name="lang"),
        {"sqlite_autoincrement": True},  # ids never reused: see knowledge.revision
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(8))
    question: Mapped[str] = mapped_column(String(300))
    answer: Mapped[str] = mapped_column(Text)
    keywords: Mapped[str] = mapped_column(String(500), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class CallbackRequest(Base):
    """A callback a customer asked for (``callbacks.py``): stored before the promise is made,
    so a restart keeps it. ``place_at`` is when the customer first took their place in line
    (a caller who pressed the callback key keeps theirs); ``attempts`` counts the tries that
    reached the customer's line; ``state`` waiting (in line, or between tries), done
    (reached) or failed (out of attempts)."""

    __tablename__ = "callback_requests"
    __table_args__ = (CheckConstraint("state IN ('waiting', 'done', 'failed')", name="state"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[str] = mapped_column(String(24))
    queue: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    skills: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(16))
    lang: Mapped[str] = mapped_column(String(8))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    place_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16), default="waiting", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(32), default="")


class CustomerTag(Base):
    """A tag on a customer (``tags.py``): set by an agent (``source`` ``agent:<id>``) or by a
    rule (``rule:<name>``, ``tag_rules.py``); ``tag`` is normalised (``tags.normalize_tag``)
    and unique per customer."""

    __tablename__ = "customer_tags"
    __table_args__ = (
        UniqueConstraint("customer_id", "tag", name="uq_customer_tags_customer_id_tag"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), index=True)
    tag: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(80))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
