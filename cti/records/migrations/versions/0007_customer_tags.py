"""Customer tags: set by agents on the desktop, or by rules (repeat contact, back-end value).

Revision ID: 0007
Revises: 0006
Create Date: 2026-04-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cti.records.models import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "customer_tags",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("tag", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_customer_tags_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_tags")),
        sa.UniqueConstraint("customer_id", "tag", name="uq_customer_tags_customer_id_tag"),
    )
    op.create_index(op.f("ix_customer_tags_customer_id"), "customer_tags", ["customer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_customer_tags_customer_id"), table_name="customer_tags")
    op.drop_table("customer_tags")
