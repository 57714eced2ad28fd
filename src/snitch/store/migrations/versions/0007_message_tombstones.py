"""Tombstones of deleted messages, so that a late or redelivered upsert stays deleted.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the message_tombstones table and the index retention deletes by.

    Deletes applied before this revision left no tombstone; they cannot be recovered, and
    only a creation redelivered from before the upgrade could bring one of them back.
    """
    op.create_table(
        "message_tombstones",
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("guild_id", sa.Text(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_tombstones")),
    )
    op.create_index(
        op.f("ix_message_tombstones_guild_id_deleted_at"),
        "message_tombstones",
        ["guild_id", "deleted_at"],
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_index(
        op.f("ix_message_tombstones_guild_id_deleted_at"), table_name="message_tombstones"
    )
    op.drop_table("message_tombstones")
