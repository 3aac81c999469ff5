"""The knowledge base: questions and answers in Chinese and English, edited in the console.

Revision ID: 0005
Revises: 0004
Create Date: 2026-03-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cti.records.models import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("question", sa.String(length=300), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("keywords", sa.String(length=500), server_default="", nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint("lang IN ('zh', 'en')", name=op.f("ck_knowledge_articles_lang")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_articles")),
        sa.UniqueConstraint("key", "lang", name="uq_knowledge_articles_key_lang"),
        sqlite_autoincrement=True,  # an id is never reused (knowledge.revision relies on it)
    )


def downgrade() -> None:
    op.drop_table("knowledge_articles")
