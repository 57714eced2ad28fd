"""Per-guild settings and schedule state, and opt-outs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create guild_settings and opt_outs."""
    op.create_table(
        "guild_settings",
        sa.Column("guild_id", sa.Text(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("next_edition_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_edition_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_guild_settings")),
    )
    op.create_index(
        op.f("ix_guild_settings_next_edition_at"), "guild_settings", ["next_edition_at"]
    )
    op.create_table(
        "opt_outs",
        sa.Column("guild_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "user_id", name=op.f("pk_opt_outs")),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("opt_outs")
    op.drop_index(op.f("ix_guild_settings_next_edition_at"), table_name="guild_settings")
    op.drop_table("guild_settings")
