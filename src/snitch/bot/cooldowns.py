"""Cooldowns on expensive commands, per member and per server.

Over HTTP, a deferred command runs twice: once in the endpoint up to its deferral, then
again in the worker (see ``snitch.interactions.runner``). The worker's run is marked
``REPLAYED`` and passes these checks without touching a bucket, so one invocation counts
once. (discord.py's own ``dynamic_cooldown`` consults its factory only for a new key, so
it cannot tell a replay from a second use.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, Final, TypeVar

import discord
from discord import app_commands

REPLAYED: Final = "snitch_replayed"  # interaction.extras key set on the worker's run
PRUNE_AT: Final = 10_000  # buckets kept before idle ones are dropped

T = TypeVar("T")
Key = Callable[[discord.Interaction[Any]], Hashable]


def _cooldown(rate: int, per: float, key: Key) -> Callable[[T], T]:
    buckets: dict[Hashable, app_commands.Cooldown] = {}

    def predicate(interaction: discord.Interaction[Any]) -> bool:
        if interaction.extras.get(REPLAYED):
            return True
        now = time.monotonic()
        if len(buckets) > PRUNE_AT:  # forget members whose window has passed
            for idle in [k for k, b in buckets.items() if b.get_tokens(now) == rate]:
                del buckets[idle]
        bucket = buckets.setdefault(key(interaction), app_commands.Cooldown(rate, per))
        retry_after = bucket.update_rate_limit(now)
        if retry_after:
            raise app_commands.CommandOnCooldown(bucket, retry_after)
        return True

    return app_commands.check(predicate)


def _member(interaction: discord.Interaction[Any]) -> Hashable:
    return (interaction.guild_id, interaction.user.id)


def _guild(interaction: discord.Interaction[Any]) -> Hashable:
    return interaction.guild_id


def per_member(rate: int, per: float) -> Callable[[T], T]:
    """At most ``rate`` uses per ``per`` seconds by one member in one server."""
    return _cooldown(rate, per, _member)


def per_guild(rate: int, per: float) -> Callable[[T], T]:
    """At most ``rate`` uses per ``per`` seconds in one server, whoever asks."""
    return _cooldown(rate, per, _guild)
