"""Builders for domain objects in tests, so each test states only what it cares about."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from snitch.models import Author, Channel, Chat, Guild, Message, Reaction

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dce"
GUILD = Guild(id="100", name="Test Guild")
CHANNEL = Channel(id="200", guild_id="100", name="general")
START = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
_ids = itertools.count(1_000)


def author(name: str, author_id: str | None = None, *, bot: bool = False) -> Author:
    """An author whose id defaults to a stable number derived from the name."""
    stable = str(int(hashlib.sha1(name.encode()).hexdigest()[:12], 16))
    return Author(id=author_id or stable, name=name, is_bot=bot)


def message(
    who: Author,
    content: str,
    *,
    minutes: float = 0.0,
    channel: Channel = CHANNEL,
    reply_to: str | None = None,
    reactions: int = 0,
    mentions: Iterable[Author] = (),
    message_id: str | None = None,
) -> Message:
    """A message ``minutes`` after START."""
    return Message(
        id=message_id or str(next(_ids)),
        guild_id=channel.guild_id,
        channel_id=channel.id,
        author=who,
        content=content,
        timestamp=START + timedelta(minutes=minutes),
        reply_to_id=reply_to,
        kind="Reply" if reply_to else "Default",
        mentions=tuple(mentions),
        reactions=(Reaction(emoji="🔥", count=reactions),) if reactions else (),
    )


def chat(messages: Iterable[Message], channels: Iterable[Channel] = (CHANNEL,)) -> Chat:
    """A Chat of the test guild, messages sorted as the newsroom expects."""
    ordered = sorted(messages, key=lambda m: (m.timestamp, m.id))
    return Chat(guild=GUILD, channels={c.id: c for c in channels}, messages=ordered)


def dce_export(
    messages: Iterable[Mapping[str, Any]],
    *,
    guild: Mapping[str, Any] | None = None,
    channel: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A DiscordChatExporter document with the given raw messages."""
    items = list(messages)
    return {
        "guild": dict(guild or {"id": "100", "name": "Test Guild"}),
        "channel": dict(channel or {"id": "200", "type": "GuildTextChat", "name": "general"}),
        "messages": items,
        "messageCount": len(items),
    }


def raw_message(
    message_id: str, content: str, *, minutes: float = 0.0, author_id: str = "1"
) -> dict[str, Any]:
    """A minimal raw DCE message, as old exporter versions wrote them."""
    return {
        "id": message_id,
        "timestamp": (START + timedelta(minutes=minutes)).isoformat(),
        "content": content,
        "author": {"id": author_id, "name": f"user{author_id}"},
    }


def write_json(path: Path, document: Any) -> Path:
    """Write a JSON document and return its path."""
    path.write_text(json.dumps(document), encoding="utf-8")
    return path
