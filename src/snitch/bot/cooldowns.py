"""Cooldowns on expensive commands, per member and per server.

Over HTTP, a deferred command runs twice: once in the endpoint up to its deferral, then
again in the worker (see ``snitch.interactions.runner``). The worker's run is marked
``REPLAYED`` and passes these checks freely, so one invocation counts once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Final, TypeVar

import discord
from discord import app_commands

REPLAYED: Final = "snitch_replayed"  # interaction.extras key set on the worker's run

T = TypeVar("T")


def _factory(
    rate: int, per: float
) -> Callable[[discord.Interaction[Any]], app_commands.Cooldown | None]:
    def cooldown(interaction: discord.Interaction[Any]) -> app_commands.Cooldown | None:
        if interaction.extras.get(REPLAYED):
            return None
        return app_commands.Cooldown(rate, per)

    return cooldown


def _member(interaction: discord.Interaction[Any]) -> Hashable:
    return (interaction.guild_id, interaction.user.id)


def _guild(interaction: discord.Interaction[Any]) -> Hashable:
    return interaction.guild_id


def per_member(rate: int, per: float) -> Callable[[T], T]:
    """At most ``rate`` uses per ``per`` seconds by one member in one server."""
    return app_commands.checks.dynamic_cooldown(_factory(rate, per), key=_member)


def per_guild(rate: int, per: float) -> Callable[[T], T]:
    """At most ``rate`` uses per ``per`` seconds in one server, whoever asks."""
    return app_commands.checks.dynamic_cooldown(_factory(rate, per), key=_guild)
