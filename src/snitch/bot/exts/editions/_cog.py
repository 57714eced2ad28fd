"""``/breaking-news`` and ``/leak``: an edition now, and a nameless teaser of the next one.

``/breaking-news`` is posted in the channel where it was asked for, as an ordinary message
from the bot (the command's own answer stays ephemeral: a confirmation with a link). It
neither prints approved reader tips nor goes into the archive: both belong to the
scheduled edition, whose window starts where the last archived one ended, and an on-demand
edition of one channel must not make the next scheduled edition skip every other channel.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final, TypeVar

import discord
from discord import app_commands

from snitch.bot.checks import ServerCommands
from snitch.bot.client import SnitchBot
from snitch.bot.cooldowns import per_guild, per_member
from snitch.bot.replies import DEFERS_PRIVATELY, post_edition, reply
from snitch.errors import SnitchError
from snitch.leak import DEFAULT_WINDOW, leak
from snitch.log import get_logger
from snitch.newsroom.personas import PERSONAS, get_persona

log = get_logger(__name__)

MIN_HOURS: Final = 1
MAX_HOURS: Final = 168  # a week: the longest window an edition covers
DEFAULT_HOURS: Final = 24
PERSONA_CHOICES: Final = [
    app_commands.Choice(name=persona.display_name, value=persona.name)
    for persona in PERSONAS.values()
]
NOTHING_BREWING: Final = (
    "Nothing is brewing yet: no story since the last edition. Check back later, or start one."
)

Interaction = discord.Interaction[SnitchBot]
T = TypeVar("T")


class EditionRequestError(SnitchError):
    """A ``/breaking-news`` request that cannot be served; the message says why."""


def _checked_hours(hours: int) -> int:
    """Discord enforces the option's range in its client; a raw request can skip it."""
    if not MIN_HOURS <= hours <= MAX_HOURS:
        raise EditionRequestError(f"hours must be between {MIN_HOURS} and {MAX_HOURS}, not {hours}")
    return hours


def bot_can_post() -> Callable[[T], T]:
    """A check that the bot may post embeds where the command is used, before any work
    (and before the cooldowns: a refusal costs no one a turn).

    ``app_permissions`` are the bot's permissions in that channel as Discord computed them;
    a refusal is ``BotMissingPermissions``, which the error handler spells out.
    """

    def predicate(interaction: discord.Interaction[Any]) -> bool:
        permissions = interaction.app_permissions
        in_thread = isinstance(interaction.channel, discord.Thread)
        sending = "send_messages_in_threads" if in_thread else "send_messages"
        needed = ("view_channel", sending, "embed_links")
        missing = [name for name in needed if not getattr(permissions, name)]
        if missing:
            raise app_commands.BotMissingPermissions(missing)
        return True

    return app_commands.check(predicate)


def _may_read(interaction: Interaction, channel: discord.TextChannel) -> bool:
    """Whether the member may read ``channel``: nobody gets a report of a channel they
    cannot see (Discord computes their permissions there and sends them along)."""
    resolved = getattr(interaction.namespace, "channel", None)
    if isinstance(resolved, app_commands.AppCommandChannel) and resolved.id == channel.id:
        permissions = resolved.permissions
    elif isinstance(interaction.user, discord.Member):
        permissions = channel.permissions_for(interaction.user)
    else:  # pragma: no cover - a guild interaction always carries a member
        return False
    return permissions.view_channel and permissions.read_message_history


class Editions(ServerCommands):
    """Editions on demand."""

    def __init__(self, bot: SnitchBot) -> None:
        self.bot = bot

    @app_commands.command(name="breaking-news", extras={DEFERS_PRIVATELY: True})
    @app_commands.guild_only()
    @app_commands.describe(
        hours=f"How many hours of chat to cover (default {DEFAULT_HOURS}, at most {MAX_HOURS}).",
        channel="Only this channel (and its threads); default: every channel I read.",
        persona="Who writes it; default: this server's persona.",
    )
    @app_commands.choices(persona=PERSONA_CHOICES)
    @per_guild(3, 600)
    @per_member(1, 300)
    @bot_can_post()  # checks run bottom-up: this one first
    async def breaking_news(
        self,
        interaction: Interaction,
        hours: app_commands.Range[int, MIN_HOURS, MAX_HOURS] = DEFAULT_HOURS,
        channel: discord.TextChannel | None = None,
        persona: str | None = None,
    ) -> None:
        """Stop the presses: an edition of the latest chat, posted right here."""
        _checked_hours(hours)
        if persona is not None:
            get_persona(persona)  # an unknown one is refused before any work
        if channel is not None and not _may_read(interaction, channel):
            raise EditionRequestError(f"You can't read #{channel.name}, so I won't report on it.")
        target = interaction.channel
        if not isinstance(target, discord.abc.Messageable):
            raise EditionRequestError("I can't post an edition in this kind of channel.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        services = self.bot.services
        assert interaction.guild_id is not None  # see interaction_check
        settings = await services.state.settings(str(interaction.guild_id))
        now = services.clock()
        written = await services.editions.write(
            settings,
            since=now - timedelta(hours=hours),
            until=now,
            persona=persona,
            channel_id=str(channel.id) if channel else None,
            guild_name=interaction.guild.name if interaction.guild else "",
            with_tips=False,
        )
        try:
            posted = await post_edition(target, written.messages)
        except discord.Forbidden as exc:
            raise EditionRequestError(
                "Discord wouldn't let me post the edition in this channel. Ask an admin to let "
                "me send messages and embed links here."
            ) from exc
        log.info(
            "breaking news posted",
            guild=interaction.guild_id,
            channel=getattr(target, "id", None),
            hours=hours,
            messages=len(posted),
        )
        await reply(interaction, f"Hot off the press: {posted[0].jump_url}", ephemeral=True)

    @app_commands.command(name="leak")
    @app_commands.guild_only()
    @per_guild(4, 600)
    @per_member(1, 120)
    async def leak(self, interaction: Interaction) -> None:
        """Psst: a nameless sneak peek at the story most likely to lead the next edition."""
        services = self.bot.services
        assert interaction.guild_id is not None  # see interaction_check
        guild_id = str(interaction.guild_id)
        settings = await services.state.settings(guild_id)
        now = services.clock()
        # What the next edition will cover, but no more than a day: the freshest story, and
        # little enough work to answer well within Discord's three seconds without deferring.
        since = max(await services.editions.window_for(settings, now), now - DEFAULT_WINDOW)
        opted_out = await services.state.opted_out(guild_id)
        found = await leak(services.store, settings, opted_out, now, since=since)
        if found is None:
            await reply(interaction, NOTHING_BREWING, ephemeral=True)
            return
        await reply(interaction, found.teaser, ephemeral=False)
