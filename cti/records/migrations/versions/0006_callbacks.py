"""Callback requests: stored before the customer is told "we will call you back".

Revision ID: 0006
Revises: 0005
Create Date: 2026-04-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cti.records.models import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "callback_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=24), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("place_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.CheckConstraint("state IN ('waiting', 'done', 'failed')",
                           name=op.f("ck_callback_requests_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_requests")),
    )
    op.create_index(op.f("ix_callback_requests_state"), "callback_requests", ["state"])


def downgrade() -> None:
    op.drop_index(op.f("ix_callback_requests_state"), table_name="callback_requests")
    op.drop_table("callback_requests")
