"""The SQL tables behind ``SqlStore``; the Alembic migrations must build exactly these.

Core ``Table`` objects rather than ORM classes: the store reads and writes rows in bulk and
turns them into the frozen pydantic models of ``snitch.models``, so an identity map and
lazy loading would only cost time. Change a table here, then run
``alembic revision --autogenerate`` from the repository root; ``tests/store`` fails while
the migrations and these tables disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so migrations can drop or alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps the offset (``timestamptz``); SQLite stores text and silently drops
    it, so values are converted to UTC before they are written (naive values are taken to
    be UTC already) and given back their UTC tzinfo when read. Stored text is then
    uniformly UTC, which keeps SQLite's string comparisons in range filters correct.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC; SQLite gets the naive UTC wall clock it can store."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Give back an aware UTC datetime whatever the backend returned."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _deferred_fk(target: str) -> ForeignKey:
    """A foreign key checked at commit, so writes inside one unit of work may come in any
    order (messages before their channel) as long as everything is there at the end."""
    return ForeignKey(target, deferrable=True, initially="DEFERRED")


guilds = Table(
    "guilds",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
)

channels = Table(
    "channels",
    metadata,
    Column("id", Text, primary_key=True),
    Column("guild_id", Text, _deferred_fk("guilds.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("category", Text, nullable=True),
    # No foreign key: a thread's parent channel may never have been exported.
    Column("parent_id", Text, nullable=True),
    Column("topic", Text, nullable=True),
    Index(None, "guild_id"),
)

authors = Table(
    "authors",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("nickname", Text, nullable=True),
    Column("is_bot", Boolean, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Text, primary_key=True),
    Column("guild_id", Text, _deferred_fk("guilds.id"), nullable=False),
    Column("channel_id", Text, _deferred_fk("channels.id"), nullable=False),
    Column("author_id", Text, _deferred_fk("authors.id"), nullable=False),
    Column("content", Text, nullable=False),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("edited_at", UtcDateTime, nullable=True),
    Column("kind", Text, nullable=False),
    # No foreign key: a reply may point at a message outside what was imported.
    Column("reply_to_id", Text, nullable=True),
    # Snapshots of the mentioned authors and of the reactions, as lists of objects.
    Column("mentions", JSON, nullable=False),
    Column("reactions", JSON, nullable=False),
    Column("attachments_count", Integer, nullable=False),
    Column("is_pinned", Boolean, nullable=False),
    Index(None, "guild_id", "timestamp"),
    Index(None, "channel_id", "timestamp"),
    Index(None, "author_id"),
)

# Messages deleted on Discord, by id: an upsert of a tombstoned id is skipped, so a creation
# delivered after its deletion (by a queue, to any process) never stores it again. Removed
# by retention (see ``snitch.store.protocol``). No foreign key: the delete may come before
# anything of its guild is stored, or with no guild at all (null).
message_tombstones = Table(
    "message_tombstones",
    metadata,
    Column("message_id", Text, primary_key=True),
    Column("guild_id", Text, nullable=True),
    Column("deleted_at", UtcDateTime, nullable=False),
    Index(None, "guild_id", "deleted_at"),
)

# Full-text search over message content (for fact-check's keyword half). Built by the
# migrations with dialect-specific DDL that SQLAlchemy's metadata cannot describe: an FTS5
# table kept in step by triggers on SQLite, an expression GIN index on PostgreSQL. Both use
# English stemming, so "promised" finds "promise".
SEARCH_TABLE = "message_search"  # SQLite: FTS5 table (and its shadow tables)
SEARCH_INDEX = "ix_messages_search"  # PostgreSQL: GIN index on to_tsvector(content)
SEARCH_CONFIG = "english"  # PostgreSQL text search configuration


def is_search_object(name: str | None) -> bool:
    """True for the full-text objects above, which autogenerate must leave alone."""
    return name is not None and (name.startswith(SEARCH_TABLE) or name == SEARCH_INDEX)


guild_settings = Table(
    "guild_settings",
    metadata,
    Column("guild_id", Text, primary_key=True),
    # The admin's settings as JSON (snitch.guilds.GuildSettings, validated on every read),
    # so adding a setting needs no migration.
    Column("settings", JSON, nullable=False),
    # The next scheduled edition (UTC), moved on atomically when an instance claims it.
    Column("next_edition_at", UtcDateTime, nullable=True),
    Column("last_edition_at", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    # Scheduled editions in a row that failed or fell back to the offline engine.
    Column("bad_editions", Integer, nullable=False, server_default=text("0")),
    Index(None, "next_edition_at"),
)

opt_outs = Table(
    "opt_outs",
    metadata,
    Column("guild_id", Text, primary_key=True),
    Column("user_id", Text, primary_key=True),
    Column("since", UtcDateTime, nullable=False),
)

tips = Table(
    "tips",
    metadata,
    Column("id", Text, primary_key=True),
    Column("guild_id", Text, nullable=False),
    # HMAC of (guild, user) under the tips key: who sent it, without saying who.
    Column("tipster", Text, nullable=False),
    # AES-GCM nonce and ciphertext of the text; never the text itself.
    Column("sealed", LargeBinary, nullable=False),
    Column("status", Text, nullable=False),  # pending, approved, rejected, published
    Column("created_at", UtcDateTime, nullable=False),
    Column("reviewed_at", UtcDateTime, nullable=True),
    Index(None, "guild_id", "status", "created_at"),
    Index(None, "tipster", "created_at"),
)

editions = Table(
    "editions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("guild_id", Text, nullable=False),
    Column("published_at", UtcDateTime, nullable=False),
    # The scheduled slot it was published for; null for /breaking-news and the CLI.
    Column("slot", UtcDateTime, nullable=True),
    Column("channel_id", Text, nullable=True),
    Column("persona", Text, nullable=False),
    Column("engine", Text, nullable=False),
    Column("headline", Text, nullable=False),
    # The whole edition (snitch.models.Newsletter as JSON) and the Discord messages it became.
    Column("newsletter", JSON, nullable=False),
    Column("discord_message_ids", JSON, nullable=False),
    Index(None, "guild_id", "published_at"),
)
