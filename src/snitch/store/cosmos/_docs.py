"""The documents the store writes, and the models it reads back from them.

One document per guild (in the directory), channel, author (per guild) and message. A
message keeps its author's id and a snapshot of the author as well: reads prefer the
author document (so a rename shows on old messages, as with SQL's join), and fall back
on the snapshot when a concurrent forget removed the author document a moment before
a new message of theirs landed (Cosmos DB has no foreign keys to stop that).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from snitch.errors import StoreError
from snitch.models import Author, Channel, Guild, Message, Reaction, is_snowflake
from snitch.store.cosmos._base import (
    DIRECTORY_SCOPE,
    check_id,
    from_text,
    optional_text,
    optional_time,
    to_text,
)
from snitch.store.cosmos._search import terms_of
from snitch.store.sql import FORGOTTEN_NAME

GUILD_TYPE: Final = "guild"
SCHEDULE_TYPE: Final = "schedule"
# An opt-out, in the guild state container's partition of its guild.
OPT_OUT_TYPE: Final = "opt_out"
# The schedule document's count of scheduled editions in a row that failed or fell back
# to the offline engine (absent on documents written before it existed: zero).
BAD_EDITIONS: Final = "bad_editions"


def guild_doc_id(guild_id: str) -> str:
    """The directory id of a guild's name document."""
    return f"{GUILD_TYPE}-{guild_id}"


def schedule_doc_id(guild_id: str) -> str:
    """The directory id of a guild's settings and schedule document."""
    return f"{SCHEDULE_TYPE}-{guild_id}"


def guild_doc(guild: Guild) -> dict[str, Any]:
    """The directory entry that lists a guild."""
    check_id("guild", guild.id)
    return {
        "id": guild_doc_id(guild.id),
        "scope": DIRECTORY_SCOPE,
        "type": GUILD_TYPE,
        "guild_id": guild.id,
        "name": guild.name,
    }


def channel_doc(channel: Channel) -> dict[str, Any]:
    """A channel or thread, in its guild's partition."""
    check_id("guild", channel.guild_id)
    check_id("channel", channel.id)
    return channel.model_dump(mode="json")


def author_json(author: Author) -> dict[str, Any]:
    """An author as the snapshots hold it (the SQL store's JSON shape)."""
    return {
        "id": author.id,
        "name": author.name,
        "nickname": author.nickname,
        "is_bot": author.is_bot,
    }


def author_doc(author: Author, guild_id: str) -> dict[str, Any]:
    """An author, in the partition of the guild they wrote in."""
    check_id("author", author.id)
    return {**author_json(author), "guild_id": guild_id}


def tombstone_doc(message_id: str, partition: str, deleted_at: datetime) -> dict[str, Any]:
    """A deleted message's tombstone, in its guild's partition (or ``GUILDLESS``)."""
    return {"id": message_id, "guild_id": partition, "deleted_at": to_text(deleted_at)}


def require_snowflake(message: Message) -> None:
    """Only real Discord ids are stored, as on the SQL backends, so that every backend
    refuses the same input."""
    if not is_snowflake(message.id):
        raise StoreError(
            f"message {message.id!r} in channel {message.channel_id}: id is not a Discord snowflake"
        )


def message_doc(message: Message) -> dict[str, Any]:
    """A message with its search terms, in its guild's partition."""
    require_snowflake(message)
    check_id("guild", message.guild_id)
    check_id("channel", message.channel_id)
    check_id("author", message.author.id)
    return {
        "id": message.id,
        "guild_id": message.guild_id,
        "channel_id": message.channel_id,
        "author_id": message.author.id,
        "author": author_json(message.author),
        "content": message.content,
        "timestamp": to_text(message.timestamp),
        "edited_at": optional_text(message.edited_at),
        "kind": message.kind,
        "reply_to_id": message.reply_to_id,
        "mentions": [author_json(author) for author in message.mentions],
        "mention_ids": sorted({author.id for author in message.mentions}),
        "reactions": [{"emoji": r.emoji, "count": r.count} for r in message.reactions],
        "attachments_count": message.attachments_count,
        "is_pinned": message.is_pinned,
        "terms": terms_of(message.content),
    }


# What reads project: everything but the search terms.
MESSAGE_FIELDS: Final = ", ".join(
    f"c.{name}"
    for name in (
        "id",
        "guild_id",
        "channel_id",
        "author_id",
        "author",
        "content",
        "timestamp",
        "edited_at",
        "kind",
        "reply_to_id",
        "mentions",
        "reactions",
        "attachments_count",
        "is_pinned",
    )
)


def scrubbed(doc: Mapping[str, Any], forgotten: Iterable[str]) -> dict[str, Any]:
    """The message document with forgotten authors' names replaced in its mentions."""
    gone = set(forgotten)
    mentions = [
        {**item, "name": FORGOTTEN_NAME, "nickname": None} if item.get("id") in gone else item
        for item in doc["mentions"]
    ]
    return {**doc, "mentions": mentions}


def message_from_doc(doc: Mapping[str, Any], authors: Mapping[str, Author]) -> Message:
    """The model of a stored message, with the author document's name if there is one."""
    author = authors.get(doc["author_id"]) or Author.model_validate(doc["author"])
    return Message(
        id=doc["id"],
        guild_id=doc["guild_id"],
        channel_id=doc["channel_id"],
        author=author,
        content=doc["content"],
        timestamp=from_text(doc["timestamp"]),
        edited_at=optional_time(doc.get("edited_at")),
        kind=doc["kind"],
        reply_to_id=doc.get("reply_to_id"),
        mentions=tuple(Author.model_validate(item) for item in doc["mentions"]),
        reactions=tuple(Reaction.model_validate(item) for item in doc["reactions"]),
        attachments_count=doc["attachments_count"],
        is_pinned=doc["is_pinned"],
    )


def author_from_doc(doc: Mapping[str, Any]) -> Author:
    """The model of an author document."""
    return Author(
        id=doc["id"], name=doc["name"], nickname=doc.get("nickname"), is_bot=doc["is_bot"]
    )


def channel_from_doc(doc: Mapping[str, Any]) -> Channel:
    """The model of a channel document."""
    return Channel(
        id=doc["id"],
        guild_id=doc["guild_id"],
        name=doc["name"],
        kind=doc["kind"],
        category=doc.get("category"),
        parent_id=doc.get("parent_id"),
        topic=doc.get("topic"),
    )
