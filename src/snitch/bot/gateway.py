"""``snitch gateway``: the slimmest gateway process, for the Azure deployment.

Azure Functions cannot hold a gateway connection, so this process holds it and does nothing
else: new, edited and deleted server messages go onto the ``message-processing`` queue as
versioned envelopes, where the Functions' message processor applies the guild's rules and
stores them. No commands, no store, no model: it restarts in a second and scales to one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord

from snitch.bot.chat import ChatChannel, channel_of, guild_of, is_chat, message_of
from snitch.bot.client import bot_intents
from snitch.log import get_logger
from snitch.queues.schema import MessagesDeleted, MessagesUpserted, QueueMessage

log = get_logger(__name__)

Send = Callable[[QueueMessage], Awaitable[None]]


class Forwarder(discord.Client):
    """Message events in, envelopes out."""

    def __init__(self, send: Send) -> None:
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(intents=bot_intents(), allowed_mentions=discord.AllowedMentions.none())
        self._send = send

    async def forward(self, message: discord.Message) -> None:
        """One new or edited message (bots and non-chat are dropped here already)."""
        if not is_chat(message) or message.author.bot or message.guild is None:
            return
        channels = (
            (channel_of(message.channel),) if isinstance(message.channel, ChatChannel) else ()
        )
        await self._send(
            MessagesUpserted(
                messages=(message_of(message),), guild=guild_of(message.guild), channels=channels
            )
        )

    async def on_message(self, message: discord.Message, /) -> None:
        """A new message."""
        await self.forward(message)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent, /) -> None:
        """An edit, cached or not."""
        await self.forward(payload.message)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent, /) -> None:
        """A deleted message."""
        if payload.guild_id is not None:
            await self._send(
                MessagesDeleted(
                    message_ids=(str(payload.message_id),), guild_id=str(payload.guild_id)
                )
            )

    async def on_raw_bulk_message_delete(
        self, payload: discord.RawBulkMessageDeleteEvent, /
    ) -> None:
        """A moderator's purge."""
        if payload.guild_id is not None and payload.message_ids:
            await self._send(
                MessagesDeleted(
                    message_ids=tuple(str(i) for i in sorted(payload.message_ids)),
                    guild_id=str(payload.guild_id),
                )
            )

    async def on_error(self, event_method: str, /, *args: object, **kwargs: object) -> None:
        """A message that could not be queued is logged; the connection stays up."""
        log.exception("forwarding failed", handler=event_method)
