"""Chat receipts: the highest seq each side of a conversation has confirmed delivered / read.

Revision ID: 0004
Revises: 0003
Create Date: 2026-03-10
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

MARKS = ("customer_delivered", "customer_read", "agent_delivered", "agent_read")


def upgrade() -> None:
    # In batch mode (env.py, SQLite) an added column with a constant default is still a
    # plain ALTER TABLE ADD COLUMN: existing conversations get 0, nothing is rebuilt.
    with op.batch_alter_table("chat_conversations") as batch:
        for name in MARKS:
            batch.add_column(sa.Column(name, sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    """Drops the marks: receipts are live only again."""
    # SQLite 3.35+ drops a column in place; batch mode's rebuild (copy, drop, rename) would
    # drop the table that chat_messages and chat_files point at, which foreign keys refuse.
    in_place = op.get_bind().dialect.name != "sqlite" or sqlite3.sqlite_version_info >= (3, 35)
    with op.batch_alter_table(
        "chat_conversations", recreate="never" if in_place else "auto"
    ) as batch:
        for name in reversed(MARKS):
            batch.drop_column(name)
