"""The edition archive: every published edition, whole.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the editions table."""
    op.create_table(
        "editions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("guild_id", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel_id", sa.Text(), nullable=True),
        sa.Column("persona", sa.Text(), nullable=False),
        sa.Column("engine", sa.Text(), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("newsletter", sa.JSON(), nullable=False),
        sa.Column("discord_message_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_editions")),
    )
    op.create_index(
        op.f("ix_editions_guild_id_published_at"), "editions", ["guild_id", "published_at"]
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_index(op.f("ix_editions_guild_id_published_at"), table_name="editions")
    op.drop_table("editions")
