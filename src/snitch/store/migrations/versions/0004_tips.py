"""Anonymous tips, encrypted at rest.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the tips table and the indexes its queries use."""
    op.create_table(
        "tips",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("guild_id", sa.Text(), nullable=False),
        sa.Column("tipster", sa.Text(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tips")),
    )
    op.create_index(
        op.f("ix_tips_guild_id_status_created_at"), "tips", ["guild_id", "status", "created_at"]
    )
    op.create_index(op.f("ix_tips_tipster_created_at"), "tips", ["tipster", "created_at"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index(op.f("ix_tips_tipster_created_at"), table_name="tips")
    op.drop_index(op.f("ix_tips_guild_id_status_created_at"), table_name="tips")
    op.drop_table("tips")
