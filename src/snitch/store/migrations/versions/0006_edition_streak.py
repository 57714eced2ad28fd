"""Each guild's run of bad scheduled editions (failed, or written by the fallback engine).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add guild_settings.bad_editions, zero for every guild already there."""
    op.add_column(
        "guild_settings",
        sa.Column("bad_editions", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    """Drop it (batch mode: SQLite rebuilds the table)."""
    with op.batch_alter_table("guild_settings") as batch:
        batch.drop_column("bad_editions")
