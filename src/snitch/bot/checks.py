"""Checks every feature's commands share."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands


class ServerCommands(commands.Cog):
    """A cog whose commands work in servers only.

    ``app_commands.guild_only`` only tells Discord to hide a command in DMs; discord.py does
    not check it. This refuses any DM that slips through, before any cooldown is spent.
    """

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """Server only; the error handler explains a refusal in plain words."""
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        return True
