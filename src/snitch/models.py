"""Domain models shared by every feature: what a chat is, and what the newsroom makes of it.

Discord ids are kept as strings: they are 64-bit snowflakes that JSON consumers (and
JavaScript in particular) cannot hold as numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

JUMP_URL = "https://discord.com/channels/{guild}/{channel}/{message}"
# Snowflakes are unsigned 64-bit on Discord's side, but every one issued (and every one
# until 2084) fits in 63 bits, which is what SQLite's integer keys can hold.
MAX_SNOWFLAKE = 2**63 - 1


def is_snowflake(text: str) -> bool:
    """A Discord id as Discord writes it: canonical decimal digits, within 63 bits."""
    return (
        text.isascii() and text.isdigit() and str(int(text)) == text and int(text) <= MAX_SNOWFLAKE
    )


def jump_url(guild_id: str, channel_id: str, message_id: str) -> str:
    """The link Discord opens at one message."""
    return JUMP_URL.format(guild=guild_id, channel=channel_id, message=message_id)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Guild(_Frozen):
    """A Discord server."""

    id: str
    name: str


class Channel(_Frozen):
    """A text channel, or a thread (whose ``parent_id`` is the channel it hangs off)."""

    id: str
    guild_id: str
    name: str
    kind: str = "GuildTextChat"
    category: str | None = None
    parent_id: str | None = None
    topic: str | None = None


class Author(_Frozen):
    """Someone who wrote or was mentioned in a message."""

    id: str
    name: str
    nickname: str | None = None
    is_bot: bool = False

    @property
    def display_name(self) -> str:
        """The name people see in the server."""
        return self.nickname or self.name


class Reaction(_Frozen):
    """One emoji under a message and how many people added it."""

    emoji: str
    count: int = Field(ge=0)


class Message(_Frozen):
    """One chat message, with what the newsroom needs to judge and quote it."""

    id: str
    guild_id: str
    channel_id: str
    author: Author
    content: str
    timestamp: datetime
    edited_at: datetime | None = None
    kind: str = "Default"
    reply_to_id: str | None = None
    mentions: tuple[Author, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    attachments_count: int = Field(default=0, ge=0)
    is_pinned: bool = False

    @property
    def jump_url(self) -> str:
        """Link to this message in Discord."""
        return jump_url(self.guild_id, self.channel_id, self.id)

    @property
    def reaction_count(self) -> int:
        """Total reactions, all emoji together."""
        return sum(reaction.count for reaction in self.reactions)


@dataclass(frozen=True)
class Chat:
    """The chat an edition is written from: one guild, its channels, messages oldest first.

    A plain dataclass, not a pydantic model, so that 100,000 already-validated messages are
    not validated again on the way into the newsroom.
    """

    guild: Guild
    channels: Mapping[str, Channel]
    messages: Sequence[Message]

    def channel_name(self, channel_id: str) -> str:
        """The channel's name, or its id when the export did not say."""
        channel = self.channels.get(channel_id)
        return channel.name if channel else channel_id


class Persona(_Frozen):
    """A voice the Star Reporter writes in, and what the Editor looks for in that voice."""

    name: str
    display_name: str
    masthead: str
    description: str
    # How much the Editor values each newsworthiness signal for this persona.
    weights: dict[str, float]


class StorySignals(_Frozen):
    """The measured newsworthiness of one conversation, each signal on its own scale."""

    messages: int
    participants: int
    reactions: int
    replies: int
    mentions: int
    burst: float
    conflict: float
    excitement: float
    mystery: float
    edits: int = 0
    pinned: int = 0


class Story(_Frozen):
    """A conversation the News Desk found, with its score; the unit the Editor ranks."""

    id: str
    title: str
    guild_id: str
    channel_id: str
    channel_name: str = ""
    message_ids: tuple[str, ...]
    participants: tuple[str, ...]
    score: float
    start: datetime
    end: datetime
    signals: StorySignals
    keywords: tuple[str, ...] = ()
    # Messages that carry the story, as an LLM News Desk cited them (empty offline).
    highlights: tuple[str, ...] = ()


class EditorialPlan(_Frozen):
    """The Editor-in-Chief's decision: which story leads, which support it, and why."""

    persona: str
    headline_story_id: str
    supporting_story_ids: tuple[str, ...]
    reason: str


class Quote(_Frozen):
    """A verbatim excerpt of a real message, attributed and linked."""

    message_id: str
    author_id: str
    author_name: str
    text: str
    jump_url: str


class Article(_Frozen):
    """One story as written up in an edition."""

    role: Literal["headline", "supporting"]
    title: str
    summary: str
    channel_id: str
    message_ids: tuple[str, ...]
    quotes: tuple[Quote, ...]


class TimeWindow(_Frozen):
    """The span of chat an edition covers."""

    since: datetime
    until: datetime


class Usage(_Frozen):
    """What the LLM cost for an edition; zeros when the offline engine wrote it."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Newsletter(_Frozen):
    """A finished edition."""

    persona: str
    persona_display_name: str
    masthead: str
    engine: str
    guild_name: str
    headline: str
    window: TimeWindow
    stories: tuple[Article, ...]
    body_markdown: str
    usage: Usage = Usage()
    message_count: int = 0
    # Which engine wrote each desk's part ("offline", a model, or "offline (fallback)").
    engines: dict[str, str] = Field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    # Anonymous tips a moderator approved, printed apart from the reporting and labelled
    # unverified: the newsroom never treats them as chat.
    reader_tips: tuple[str, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def quote_count(self) -> int:
        """How many real messages the edition quotes."""
        return sum(len(article.quotes) for article in self.stories)
