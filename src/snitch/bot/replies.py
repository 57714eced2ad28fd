"""Answering interactions and posting editions, always without pinging anyone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord

from snitch.render.discord import MessagePayload

NO_PINGS = discord.AllowedMentions.none()
# Command extras flag: the command's first answer is always ``defer(ephemeral=True)``, so
# an HTTP endpoint can send that deferral at once and leave the whole command to a worker.
DEFERS_PRIVATELY = "snitch_defers_privately"


async def reply(
    interaction: discord.Interaction[Any],
    text: str,
    *,
    ephemeral: bool = True,
    embeds: Sequence[discord.Embed] = (),
) -> None:
    """Answer ``interaction``, whether or not it was deferred."""
    if interaction.response.is_done():
        await interaction.followup.send(
            text, ephemeral=ephemeral, embeds=list(embeds), allowed_mentions=NO_PINGS
        )
    else:
        await interaction.response.send_message(
            text, ephemeral=ephemeral, embeds=list(embeds), allowed_mentions=NO_PINGS
        )


def embeds_of(payload: MessagePayload) -> list[discord.Embed]:
    """The rendered embeds as discord.py objects (the renderer already fit them)."""
    return [discord.Embed.from_dict(dict(embed)) for embed in payload["embeds"]]


async def post_edition(
    channel: discord.abc.Messageable, payloads: Sequence[MessagePayload]
) -> list[discord.Message]:
    """Post a rendered edition to a channel, message by message, in order."""
    posted: list[discord.Message] = []
    for payload in payloads:
        posted.append(
            await channel.send(
                content=payload.get("content"),
                embeds=embeds_of(payload),
                allowed_mentions=NO_PINGS,
            )
        )
    return posted


async def follow_up_edition(
    interaction: discord.Interaction[Any], payloads: Sequence[MessagePayload]
) -> list[discord.Message]:
    """Post a rendered edition as the answer to a deferred command, publicly."""
    posted: list[discord.Message] = []
    for payload in payloads:
        posted.append(
            await interaction.followup.send(
                content=payload.get("content", discord.utils.MISSING),
                embeds=embeds_of(payload),
                allowed_mentions=NO_PINGS,
                wait=True,
            )
        )
    return posted
