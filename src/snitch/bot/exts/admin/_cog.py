"""The ``/snitch`` group: settings and review for moderators, privacy for everyone.

Discord applies a command's default permissions to top-level commands only, so the group
is visible to every member (they need ``optout``, ``optin``, ``forget-me`` and ``status``)
and the moderators' subcommands check Manage Server here, in code. That check is listed
last in each decorator stack so it runs first: a member without the permission is refused
before a cooldown could spend a moderator's turn.

Every answer is ephemeral: settings, privacy choices and tips are nobody else's business.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal, Protocol, runtime_checkable

import discord
from discord import app_commands

from snitch.bot.checks import ServerCommands
from snitch.bot.client import SnitchBot
from snitch.bot.cooldowns import per_guild, per_member
from snitch.bot.exts.admin._settings import (
    ALERTING,
    PERSONA_CHOICES,
    admin_channel_line,
    changed_options,
    filter_changes,
    last_edition_line,
    next_edition,
    posting_gaps,
    schedule_suggestions,
    settings_lines,
    zone_suggestions,
)
from snitch.bot.exts.admin._tipdesk import (
    HOW_TO_REVIEW,
    LISTED_TIPS,
    TipReferenceError,
    find_tip,
    pack,
    reference_choices,
    references,
    tip_embed,
)
from snitch.bot.replies import DEFERS_PRIVATELY, reply
from snitch.guilds import GuildSettings
from snitch.guilds.settings import MAX_RETENTION_DAYS
from snitch.log import get_logger
from snitch.privacy import forget_author
from snitch.tips import Tip, TipStatus

log = get_logger(__name__)

REVIEW_LIMIT: Final = 1000  # pending tips read to resolve a reference or count them
FORGET_ME_SECONDS: Final = 600.0
BACKFILL_MEMBER_SECONDS: Final = 600.0
BACKFILL_GUILD_RATE: Final = 3
BACKFILL_GUILD_SECONDS: Final = 3600.0
SETTINGS_COLOUR: Final = discord.Colour.dark_red()

Interaction = discord.Interaction[Any]
ChatChannelOption = discord.TextChannel | discord.VoiceChannel | discord.ForumChannel


@runtime_checkable
class Backfills(Protocol):
    """What ``/snitch backfill`` needs of the ingestion cog."""

    async def request_backfill(self, guild: discord.Guild, *, full: bool = False) -> bool:
        """Start reading a guild's history (in the background, or queued in chunks); False
        if a read is already running."""


def _ids(interaction: Interaction) -> tuple[str, str]:
    """The guild's and the caller's ids; these commands make no sense in DMs."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return str(interaction.guild_id), str(interaction.user.id)


def _plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {nouns or noun + 's'}"


def _settings_embed(title: str, lines: list[str]) -> discord.Embed:
    return discord.Embed(title=title, description="\n".join(lines), colour=SETTINGS_COLOUR)


class Admin(ServerCommands):
    """``/snitch``: configuration, status, privacy, tip review and backfill."""

    snitch = app_commands.Group(
        name="snitch",
        description="The Snitch: server settings, your privacy, anonymous tips",
        guild_only=True,
    )

    def __init__(self, bot: SnitchBot) -> None:
        self.bot = bot

    # --- moderators -------------------------------------------------------------------

    @snitch.command(name="config")
    @app_commands.describe(
        channel="Channel where editions are posted",
        admin_channel="Channel where moderators are warned when scheduled editions keep failing",
        schedule='When editions come out: "daily 18:00", "weekly fri 17:30" or "off"',
        timezone="Time zone of the schedule, e.g. Europe/Paris (IANA name)",
        persona="Voice the newsletter is written in",
        include="Add a channel to the only ones read (clears it from the excluded ones)",
        exclude="Add a channel never to read, nor its threads (clears it from the included)",
        clear_filters="Empty the included and excluded channel lists first",
        retention_days="Days stored messages are kept before they are deleted",
        llm="Write with the configured LLM (off: the offline engine only)",
    )
    @app_commands.choices(persona=PERSONA_CHOICES)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def config_command(
        self,
        interaction: Interaction,
        channel: discord.TextChannel | None = None,
        admin_channel: discord.TextChannel | None = None,
        schedule: str | None = None,
        timezone: str | None = None,
        persona: app_commands.Choice[str] | None = None,
        include: ChatChannelOption | None = None,
        exclude: ChatChannelOption | None = None,
        clear_filters: bool = False,
        retention_days: app_commands.Range[int, 1, MAX_RETENTION_DAYS] | None = None,
        llm: bool | None = None,
    ) -> None:
        """Set up The Snitch for this server (no options: show the settings)."""
        guild_id, _ = _ids(interaction)
        services = self.bot.services
        now = services.clock()
        current = await services.state.settings(guild_id)
        changes: dict[str, object] = {}
        if channel is not None:
            changes["edition_channel_id"] = str(channel.id)
        if admin_channel is not None:
            changes["admin_channel_id"] = str(admin_channel.id)
        if schedule is not None:
            changes["schedule"] = schedule
        if timezone is not None:
            changes["timezone"] = timezone
        if persona is not None:
            changes["persona"] = persona.value
        if include is not None or exclude is not None or clear_filters:
            changes |= filter_changes(
                current,
                include=str(include.id) if include else None,
                exclude=str(exclude.id) if exclude else None,
                clear=clear_filters,
            )
        if retention_days is not None:
            changes["retention_days"] = retention_days
        if llm is not None:
            changes["llm_enabled"] = llm
        if not changes:
            await self._show_settings(
                interaction,
                current,
                next_edition(current, now),
                "This server's settings; change any with `/snitch config <option>`.",
            )
            return
        updated = current.updated(**changes)  # SettingsError names the field
        changed = changed_options(current, updated)
        if not changed:
            await self._show_settings(
                interaction,
                current,
                next_edition(current, now),
                "Nothing changed: those are the settings already.",
            )
            return
        next_at = await services.state.save_settings(updated, now)
        services.ingest.rules.forget(guild_id)
        log.info("guild settings changed", guild=guild_id, changed=changed)
        notes = [f"Saved: {', '.join(changed)}."]
        if channel is not None and (gaps := posting_gaps(channel)):
            notes.append(
                f"Heads up: I can't post editions in <#{channel.id}> yet; I need "
                f"{', '.join(gaps)} there."
            )
        if admin_channel is not None and (gaps := posting_gaps(admin_channel, ALERTING)):
            notes.append(
                f"Heads up: I can't post warnings in <#{admin_channel.id}> yet; I need "
                f"{', '.join(gaps)} there."
            )
        if exclude is not None:
            notes.append(
                f"Messages already stored from <#{exclude.id}> are left out of editions "
                f"and deleted with the rest after {updated.retention_days} days."
            )
        await self._show_settings(interaction, updated, next_at, "\n".join(notes))

    @config_command.autocomplete("timezone")
    async def _timezone_choices(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=zone, value=zone) for zone in zone_suggestions(current)]

    @config_command.autocomplete("schedule")
    async def _schedule_choices(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=text, value=text) for text in schedule_suggestions(current)
        ]

    async def _show_settings(
        self,
        interaction: Interaction,
        settings: GuildSettings,
        next_at: datetime | None,
        text: str,
    ) -> None:
        lines = [*settings_lines(settings, next_at), admin_channel_line(settings)]
        embed = _settings_embed("The Snitch: settings", lines)
        await reply(interaction, text, ephemeral=True, embeds=[embed])

    @snitch.command(name="tips")
    @app_commands.describe(
        action="Approve or reject the tip named in `tip` (leave empty to list pending tips)",
        tip="The tip's reference from the list; its first few characters are enough",
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def tips_command(
        self,
        interaction: Interaction,
        action: Literal["approve", "reject"] | None = None,
        tip: str | None = None,
    ) -> None:
        """Review anonymous tips: list them, then approve or reject each one."""
        guild_id, _ = _ids(interaction)
        services = self.bot.services
        pending = await services.tips.waiting(guild_id, limit=REVIEW_LIMIT)
        if tip is None:
            if action is not None:
                raise TipReferenceError(
                    f"Say which tip to {action}: `/snitch tips action:{action} tip:<reference>` "
                    "(`/snitch tips` lists them)."
                )
            await self._list_tips(interaction, pending)
            return
        chosen = find_tip(pending, tip)
        reference = references(pending)[chosen.id]
        if action is None:
            text = f"Tip `{reference}`, waiting for review. {HOW_TO_REVIEW}"
            await reply(interaction, text, ephemeral=True, embeds=[tip_embed(chosen, reference)])
            return
        approve = action == "approve"
        if not await services.tips.review(
            guild_id, chosen.id, approve=approve, now=services.clock()
        ):
            raise TipReferenceError(f"Tip `{reference}` was reviewed by someone else meanwhile.")
        log.info("tip reviewed", guild=guild_id, approved=approve)
        if approve:
            text = (
                f"Approved tip `{reference}`: it will be printed in the next edition, labelled "
                "as an unverified reader tip."
            )
        else:
            text = f"Rejected tip `{reference}`: it will never be printed."
        left = len(pending) - 1
        text += f" {_plural(left, 'tip')} still waiting." if left else " No tips left to review."
        await reply(interaction, text, ephemeral=True)

    @tips_command.autocomplete("tip")
    async def _tip_choices(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        # Autocomplete runs no command checks: without this, any member could read the
        # pending tips by typing in the option.
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            return []
        pending = await self.bot.services.tips.waiting(str(interaction.guild_id), REVIEW_LIMIT)
        return reference_choices(pending, current)

    async def _list_tips(self, interaction: Interaction, pending: list[Tip]) -> None:
        if not pending:
            await reply(interaction, "No tips waiting for review.", ephemeral=True)
            return
        shown = references(pending)
        listed = pending[:LISTED_TIPS]
        head = f"{_plural(len(pending), 'tip')} waiting for review, oldest first."
        if len(pending) > len(listed):
            head += f" Here are the first {len(listed)}; the rest show once these are reviewed."
        messages = pack([tip_embed(tip, shown[tip.id]) for tip in listed])
        await reply(interaction, f"{head}\n{HOW_TO_REVIEW}", ephemeral=True, embeds=messages[0])
        for embeds in messages[1:]:
            await reply(interaction, "", ephemeral=True, embeds=embeds)

    @snitch.command(name="backfill")
    @per_guild(BACKFILL_GUILD_RATE, BACKFILL_GUILD_SECONDS)
    @per_member(1, BACKFILL_MEMBER_SECONDS)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def backfill_command(self, interaction: Interaction) -> None:
        """Re-read this server's recent history into The Snitch's memory."""
        guild_id, _ = _ids(interaction)
        guild = interaction.guild
        if guild is None:
            raise app_commands.NoPrivateMessage()
        ingestion = self.bot.get_cog("Ingestion")
        if not isinstance(ingestion, Backfills):
            raise RuntimeError("the ingestion extension is not loaded")
        services = self.bot.services
        settings = await services.state.settings(guild_id)
        days = min(services.settings.discord.backfill_days, settings.retention_days)
        if days == 0:
            text = "Reading history is turned off on this deployment (backfill days is 0)."
        elif not await ingestion.request_backfill(guild, full=True):
            text = "I'm already reading this server's history; it finishes on its own."
        else:
            log.info("backfill requested", guild=guild_id)
            text = (
                f"Reading the last {_plural(days, 'day')} of history in the background, from "
                "the channels I'm allowed to read. Editions and `/fact-check` use it as it "
                "comes in."
            )
        await reply(interaction, text, ephemeral=True)

    # --- everyone -----------------------------------------------------------------------

    @snitch.command(name="status")
    async def status_command(self, interaction: Interaction) -> None:
        """How The Snitch is set up here: settings, last and next edition, your choice."""
        guild_id, user_id = _ids(interaction)
        services = self.bot.services
        settings = await services.state.settings(guild_id)
        latest = await services.editions.archive.latest(guild_id, 1)
        stored = await services.store.count_messages(guild_id)
        opted_out = user_id in await services.state.opted_out(guild_id)
        lines = settings_lines(settings, next_edition(settings, services.clock()))
        lines.insert(2, last_edition_line(guild_id, latest[0] if latest else None))
        lines.append(f"**Stored:** {_plural(stored, 'message')}")
        if opted_out:
            lines.append("**You:** opted out; nothing you write is stored (`/snitch optin`)")
        else:
            lines.append("**You:** in; your messages may make the news (`/snitch optout`)")
        if interaction.permissions.manage_guild:
            waiting = await services.store.tips.with_status(
                guild_id, TipStatus.pending, REVIEW_LIMIT
            )
            lines.append(f"**Tips waiting for review:** {len(waiting)} (`/snitch tips`)")
        name = interaction.guild.name if interaction.guild else "this server"
        embed = _settings_embed(f"The Snitch in {name}", lines)
        await reply(interaction, "", ephemeral=True, embeds=[embed])

    @snitch.command(name="optout")
    async def optout_command(self, interaction: Interaction) -> None:
        """Stop The Snitch from storing, quoting or naming you in this server."""
        guild_id, user_id = _ids(interaction)
        services = self.bot.services
        already = user_id in await services.state.opted_out(guild_id)
        await services.state.set_opted_out(guild_id, user_id, True, services.clock())
        services.ingest.rules.forget(guild_id)
        settings = await services.state.settings(guild_id)
        first = "You were already opted out." if already else "You're opted out."
        await reply(
            interaction,
            f"{first} From now on nothing you write here is stored, and editions, leaks and "
            "fact-checks never quote or name you. What was stored before is no longer used "
            f"and is deleted within {_plural(settings.retention_days, 'day')}; to erase it "
            "now, run `/snitch forget-me`. Changed your mind? `/snitch optin`.",
            ephemeral=True,
        )

    @snitch.command(name="optin")
    async def optin_command(self, interaction: Interaction) -> None:
        """Let The Snitch store your messages here again (undoes optout)."""
        guild_id, user_id = _ids(interaction)
        services = self.bot.services
        was_out = user_id in await services.state.opted_out(guild_id)
        if not was_out:
            await reply(
                interaction, "You're not opted out, so there is nothing to undo.", ephemeral=True
            )
            return
        await services.state.set_opted_out(guild_id, user_id, False, services.clock())
        services.ingest.rules.forget(guild_id)
        await reply(
            interaction,
            "You're back in: what you write from now on may be stored and make the news. "
            "Messages you sent while opted out were never stored and stay that way.",
            ephemeral=True,
        )

    @snitch.command(name="forget-me", extras={DEFERS_PRIVATELY: True})
    @per_member(1, FORGET_ME_SECONDS)
    async def forget_me_command(self, interaction: Interaction) -> None:
        """Delete everything The Snitch stored about you here, and keep you opted out."""
        guild_id, user_id = _ids(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        services = self.bot.services
        # Opt out first, then let anything of theirs already queued land, then delete:
        # nothing written before this command can slip in after it.
        await services.state.set_opted_out(guild_id, user_id, True, services.clock())
        services.ingest.rules.forget(guild_id)
        await services.ingest.drained()
        removed = await forget_author(services.store, services.vectors, guild_id, user_id)
        tips = await services.tips.forget_tipster(guild_id, user_id)
        user = interaction.user
        names = {user.name, user.display_name, *([user.global_name] if user.global_name else [])}
        editions = await services.editions.archive.forget_author(
            guild_id, user_id, names=sorted(names)
        )
        log.info(
            "member forgotten",
            guild=guild_id,
            messages=removed.messages,
            tips=tips,
            editions=editions,
        )
        await reply(
            interaction,
            f"Done. I deleted {_plural(removed.messages, 'stored message')} "
            f"({_plural(removed.vectors, 'search-index entry', 'search-index entries')}) and "
            f"{_plural(tips, 'tip')} you sent, took your name out of other people's "
            f"stored mentions, and took your quotes and name out of "
            f"{_plural(editions, 'archived edition')}. You stay opted out, so nothing new "
            "of yours is stored; `/snitch optin` if you ever want back in. Editions already "
            "posted in the server stay as they are: ask a moderator to delete any you want "
            "gone.",
            ephemeral=True,
        )
