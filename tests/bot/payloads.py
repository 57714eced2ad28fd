"""Raw Discord payloads, shaped as the gateway and the API send them, for the bot's tests.

They go through discord.py's own parsers (``ConnectionState.parse_*``, ``Interaction``), so
a test exercises the same code a live event would.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import discord

JsonDict = dict[str, Any]

BASE_ID = 100_000_000_000_000_000
APP_ID = str(BASE_ID + 1)
BOT_ID = APP_ID
GUILD_ID = str(BASE_ID + 2)
GENERAL_ID = str(BASE_ID + 10)
RANDOM_ID = str(BASE_ID + 11)
SECRET_ID = str(BASE_ID + 12)  # the channel tests exclude
NEWS_ID = str(BASE_ID + 13)  # where editions go
THREAD_ID = str(BASE_ID + 14)  # a thread under #secret
LOCKED_ID = str(BASE_ID + 15)  # a channel where the bot may not embed links
BOT_ROLE_ID = str(BASE_ID + 3)

ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
MEMBER_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 31)  # view, send, history, slash
BOT_PERMISSIONS = MEMBER_PERMISSIONS | (1 << 14)  # and embed links

_interaction_ids = itertools.count(1)


@dataclass(frozen=True)
class User:
    """A member for tests: an id and a name."""

    id: str
    name: str
    bot: bool = False

    @property
    def payload(self) -> JsonDict:
        """The user object."""
        return {
            "id": self.id,
            "username": self.name,
            "global_name": self.name.title(),
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
        }


ALICE = User(str(BASE_ID + 101), "alice")
BOB = User(str(BASE_ID + 102), "bob")
CAROL = User(str(BASE_ID + 103), "carol")
ROBOT = User(str(BASE_ID + 104), "robot", bot=True)
BOT = User(BOT_ID, "the-snitch", bot=True)


def snowflake(moment: datetime, sequence: int = 0) -> str:
    """A message id that encodes ``moment``, as Discord's do."""
    return str(discord.utils.time_snowflake(moment) + sequence)


def bot_user() -> JsonDict:
    """GET /users/@me."""
    return BOT.payload


def application() -> JsonDict:
    """GET /oauth2/applications/@me."""
    return {
        "id": APP_ID,
        "name": "The Snitch",
        "icon": None,
        "description": "",
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": ALICE.payload,
        "verify_key": "0" * 64,
        "flags": 0,
    }


def channel(channel_id: str, name: str, *, parent_id: str | None = None, kind: int = 0) -> JsonDict:
    """A guild text channel (kind 0) or public thread (kind 11)."""
    data: JsonDict = {
        "id": channel_id,
        "type": kind,
        "guild_id": GUILD_ID,
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": parent_id,
    }
    if kind == 11:
        data["thread_metadata"] = {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": "2026-11-01T00:00:00+00:00",
            "locked": False,
        }
        data["owner_id"] = ALICE.id
        data["member_count"] = 2
        data["message_count"] = 1
    return data


def guild_create() -> JsonDict:
    """GUILD_CREATE for the test server: four channels, a thread, the bot as a member."""
    return {
        "id": GUILD_ID,
        "name": "Test Server",
        "icon": None,
        "owner_id": ALICE.id,
        "unavailable": False,
        "member_count": 4,
        "large": False,
        "features": [],
        "roles": [
            {
                "id": GUILD_ID,
                "name": "@everyone",
                "permissions": str(MEMBER_PERMISSIONS),
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
            },
            {
                "id": BOT_ROLE_ID,
                "name": "The Snitch",
                "permissions": str(BOT_PERMISSIONS),
                "position": 1,
                "color": 0,
                "hoist": False,
                "managed": True,
                "mentionable": False,
            },
        ],
        "members": [member(BOT, BOT_PERMISSIONS, roles=(BOT_ROLE_ID,))],
        "channels": [
            channel(GENERAL_ID, "general"),
            channel(RANDOM_ID, "random"),
            channel(SECRET_ID, "secret"),
            channel(NEWS_ID, "news"),
            {
                **channel(LOCKED_ID, "locked"),
                "permission_overwrites": [
                    {"id": BOT_ROLE_ID, "type": 0, "allow": "0", "deny": str(1 << 14)}
                ],
            },
        ],
        "threads": [channel(THREAD_ID, "secret-thread", parent_id=SECRET_ID, kind=11)],
        "emojis": [],
        "stickers": [],
        "joined_at": "2026-11-01T00:00:00+00:00",
    }


def member(
    user: User, permissions: int = MEMBER_PERMISSIONS, *, roles: tuple[str, ...] = ()
) -> JsonDict:
    """A guild member as interactions carry it (with their computed permissions)."""
    return {
        "user": user.payload,
        "roles": list(roles),
        "joined_at": "2026-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
        "permissions": str(permissions),
    }


def message(
    message_id: str,
    author: User,
    content: str,
    *,
    channel_id: str = GENERAL_ID,
    timestamp: datetime | None = None,
    mentions: tuple[User, ...] = (),
    reply_to: str | None = None,
    guild: bool = True,
) -> JsonDict:
    """MESSAGE_CREATE (and history) message object."""
    moment = timestamp or discord.utils.snowflake_time(int(message_id))
    data: JsonDict = {
        "id": message_id,
        "channel_id": channel_id,
        "author": author.payload,
        "content": content,
        "timestamp": moment.astimezone(UTC).isoformat(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [user.payload for user in mentions],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 19 if reply_to else 0,
        "flags": 0,
    }
    if guild:
        data["guild_id"] = GUILD_ID
        data["member"] = {k: v for k, v in member(author).items() if k != "user"}
    if reply_to:
        data["message_reference"] = {
            "type": 0,
            "message_id": reply_to,
            "channel_id": channel_id,
            "guild_id": GUILD_ID,
        }
    return data


def sent_message(message_id: str, channel_id: str, body: JsonDict) -> JsonDict:
    """What the API answers for a message the bot posted."""
    return {
        **message(message_id, BOT, body.get("content") or "", channel_id=channel_id, guild=False),
        "embeds": body.get("embeds", []),
        "webhook_id": APP_ID if "flags" in body or "wait" in body else None,
    }


@dataclass(frozen=True)
class ChannelOption:
    """A channel chosen in a command option."""

    channel_id: str
    name: str = "general"


_OPTION_TYPES: dict[type, int] = {bool: 5, int: 4, float: 10, str: 3}


def interaction(
    command: str,
    options: dict[str, Any] | None = None,
    *,
    user: User = ALICE,
    permissions: int = MEMBER_PERMISSIONS,
    channel_id: str = GENERAL_ID,
    guild: bool = True,
) -> JsonDict:
    """An APPLICATION_COMMAND interaction for ``command`` ("fact-check", "snitch config")."""
    resolved: JsonDict = {}
    typed = []
    for name, value in (options or {}).items():
        if isinstance(value, ChannelOption):
            resolved.setdefault("channels", {})[value.channel_id] = {
                "id": value.channel_id,
                "name": value.name,
                "type": 0,
                "permissions": str(MEMBER_PERMISSIONS),
            }
            typed.append({"name": name, "type": 7, "value": value.channel_id})
        else:
            typed.append({"name": name, "type": _OPTION_TYPES[type(value)], "value": value})
    parts = command.split()
    if len(parts) > 2:
        raise ValueError(f"only commands and subcommands are supported, got {command!r}")
    data: JsonDict = {"name": parts[-1], "options": typed}
    if len(parts) == 2:  # a subcommand is the group's only option, of type 1
        data = {"name": parts[0], "options": [{**data, "type": 1}]}
    data.update({"id": str(BASE_ID + 5000), "type": 1})
    if resolved:
        data["resolved"] = resolved
    number = next(_interaction_ids)
    payload: JsonDict = {
        "id": str(BASE_ID + 7000 + number),
        "application_id": APP_ID,
        "type": 2,
        "token": f"token-{number}",
        "version": 1,
        "channel_id": channel_id,
        # What Discord sends: a channel the bot can build without a gateway cache.
        "channel": {
            **channel(channel_id, "general"),
            "permissions": str(permissions | MEMBER_PERMISSIONS),
        },
        "data": data,
        "locale": "en-US",
        "app_permissions": str(BOT_PERMISSIONS),
        "attachment_size_limit": 8 * 1024 * 1024,
        "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD_ID},
        "context": 0 if guild else 1,
    }
    if guild:
        payload["guild_id"] = GUILD_ID
        payload["guild_locale"] = "en-US"
        payload["member"] = member(user, permissions)
    else:
        payload["user"] = user.payload
        del payload["channel"]["guild_id"]
        payload["channel"]["type"] = 1
    return payload
