"""Full-text search over message content.

SQLite: an FTS5 table keyed by the message's snowflake (its rowid), filled from the
existing rows and kept in step by triggers, so every write path (upserts, deletes,
retention, a hand-run DELETE) updates the index in the same transaction. PostgreSQL: a GIN
index on ``to_tsvector('english', content)``, which the planner uses for ``@@`` queries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_UPGRADE = (
    # Porter stemming over unicode61 tokens, accents folded; guild_id rides along unindexed
    # so a search can stay inside one guild without a join.
    """CREATE VIRTUAL TABLE message_search USING fts5(
        content, guild_id UNINDEXED,
        tokenize = 'porter unicode61 remove_diacritics 2'
    )""",
    """INSERT INTO message_search (rowid, content, guild_id)
        SELECT CAST(id AS INTEGER), content, guild_id FROM messages""",
    """CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
        INSERT INTO message_search (rowid, content, guild_id)
        VALUES (CAST(new.id AS INTEGER), new.content, new.guild_id);
    END""",
    """CREATE TRIGGER message_search_update AFTER UPDATE OF content, guild_id ON messages
    BEGIN
        DELETE FROM message_search WHERE rowid = CAST(old.id AS INTEGER);
        INSERT INTO message_search (rowid, content, guild_id)
        VALUES (CAST(new.id AS INTEGER), new.content, new.guild_id);
    END""",
    """CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
        DELETE FROM message_search WHERE rowid = CAST(old.id AS INTEGER);
    END""",
)
_SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS message_search_delete",
    "DROP TRIGGER IF EXISTS message_search_update",
    "DROP TRIGGER IF EXISTS message_search_insert",
    "DROP TABLE IF EXISTS message_search",
)


def upgrade() -> None:
    """Create the dialect's full-text index over ``messages.content``."""
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_UPGRADE:
            op.execute(statement)
        return
    op.execute(
        "CREATE INDEX ix_messages_search ON messages USING gin (to_tsvector('english', content))"
    )


def downgrade() -> None:
    """Drop the full-text index (and on SQLite its triggers)."""
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DOWNGRADE:
            op.execute(statement)
        return
    op.execute("DROP INDEX IF EXISTS ix_messages_search")
