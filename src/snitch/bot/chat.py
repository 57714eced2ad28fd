"""discord.py objects as the project's models: the one place that knows both shapes."""

from __future__ import annotations

import discord

from snitch.models import Author, Channel, Guild, Message, Reaction

# Chat worth reporting; joins, pins, boosts and the like are system noise.
CHAT_KINDS = {
    discord.MessageType.default: "Default",
    discord.MessageType.reply: "Reply",
}
ChatChannel = discord.TextChannel | discord.Thread | discord.VoiceChannel | discord.StageChannel


def guild_of(guild: discord.Guild) -> Guild:
    """The guild as stored."""
    return Guild(id=str(guild.id), name=guild.name)


def channel_of(channel: ChatChannel) -> Channel:
    """A channel or thread as stored (a thread keeps its parent, for the guild's filters)."""
    parent_id = str(channel.parent_id) if isinstance(channel, discord.Thread) else None
    category = channel.category.name if channel.category else None
    topic = channel.topic if isinstance(channel, discord.TextChannel) else None
    return Channel(
        id=str(channel.id),
        guild_id=str(channel.guild.id),
        name=channel.name,
        kind=type(channel).__name__,
        category=category,
        parent_id=parent_id,
        topic=topic,
    )


def author_of(user: discord.User | discord.Member) -> Author:
    """A member as stored: their name and, where the server gives one, their nickname."""
    nickname = user.nick if isinstance(user, discord.Member) else None
    return Author(
        id=str(user.id),
        name=user.global_name or user.name,
        nickname=nickname,
        is_bot=user.bot or user.system,
    )


def is_chat(message: discord.Message) -> bool:
    """Whether a message is server chat the newsroom may consider (before guild rules)."""
    return message.guild is not None and message.type in CHAT_KINDS and message.webhook_id is None


def message_of(message: discord.Message) -> Message:
    """A Discord message as the newsroom reads it."""
    if message.guild is None:
        raise ValueError(f"message {message.id} is not from a server")
    reference = message.reference
    return Message(
        id=str(message.id),
        guild_id=str(message.guild.id),
        channel_id=str(message.channel.id),
        author=author_of(message.author),
        content=message.content,
        timestamp=message.created_at,
        edited_at=message.edited_at,
        kind=CHAT_KINDS.get(message.type, "Default"),
        reply_to_id=str(reference.message_id) if reference and reference.message_id else None,
        mentions=tuple(author_of(user) for user in message.mentions),
        reactions=tuple(
            Reaction(emoji=str(reaction.emoji), count=reaction.count)
            for reaction in message.reactions
        ),
        attachments_count=len(message.attachments),
        is_pinned=message.pinned,
    )
