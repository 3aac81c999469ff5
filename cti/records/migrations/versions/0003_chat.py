"""The chat transcript (conversations, messages, files); agent users linked to an agent id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cti.records.models import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table (env.py turns it on).
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_role"), type_="check")
        batch.create_check_constraint(
            op.f("ck_users_role"), "role IN ('supervisor', 'admin', 'agent')"
        )
        batch.add_column(sa.Column("agent_id", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(op.f("uq_users_agent_id"), ["agent_id"])
    op.create_table(
        "chat_conversations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("customer_id", BigId, nullable=True),
        sa.Column("state", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("last_seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.CheckConstraint("state IN ('open', 'ended')", name=op.f("ck_chat_conversations_state")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_chat_conversations_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_conversations")),
    )
    op.create_index(op.f("ix_chat_conversations_visitor"), "chat_conversations", ["visitor"])
    op.create_table(
        "chat_messages",
        sa.Column("id", BigId, nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachment", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "sender IN ('customer', 'agent', 'system')", name=op.f("ck_chat_messages_sender")
        ),
        sa.CheckConstraint(
            "kind IN ('text', 'file', 'system')", name=op.f("ck_chat_messages_kind")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["chat_conversations.id"],
            name=op.f("fk_chat_messages_conversation_id_chat_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint(
            "conversation_id", "seq", name=op.f("uq_chat_messages_conversation_id_seq")
        ),
        sa.UniqueConstraint(
            "conversation_id",
            "sender",
            "client_id",
            name=op.f("uq_chat_messages_conversation_id_cid"),
        ),
    )
    op.create_table(
        "chat_files",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["chat_conversations.id"],
            name=op.f("fk_chat_files_conversation_id_chat_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_files")),
    )
    op.create_index(op.f("ix_chat_files_conversation_id"), "chat_files", ["conversation_id"])
    op.create_table(
        "desk_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_desk_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_desk_sessions")),
    )
    op.create_index(op.f("ix_desk_sessions_user_id"), "desk_sessions", ["user_id"])


def downgrade() -> None:
    """Drops every chat; agent users are deleted (the older schema has no such role, and
    turning them into supervisors would hand them the console)."""
    op.drop_table("desk_sessions")
    op.drop_table("chat_files")
    op.drop_table("chat_messages")
    op.drop_table("chat_conversations")
    op.execute(sa.text("DELETE FROM users WHERE role = 'agent'"))
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("uq_users_agent_id"), type_="unique")
        batch.drop_column("agent_id")
        batch.drop_constraint(op.f("ck_users_role"), type_="check")
        batch.create_check_constraint(op.f("ck_users_role"), "role IN ('supervisor', 'admin')")
