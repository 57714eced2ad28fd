"""Editions from stored chat: what the bot publishes on schedule and on ``/breaking-news``.

Only chat the guild lets the newsroom read reaches a desk: no bot, no excluded channel, no
member who opted out. A member who opted out is also unnamed where others mention them, so
an edition, an LLM prompt or a teaser cannot print their name from a mention. The engine
is the guild's choice: with the LLM switched off for a guild, its editions are offline ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from snitch.errors import EmptyWindowError, SnitchError
from snitch.guilds.settings import GuildSettings
from snitch.log import get_logger
from snitch.models import Author, Channel, Chat, Guild, Message, Newsletter, Persona
from snitch.newsroom.edition import Newsroom
from snitch.newsroom.personas import get_persona
from snitch.render.discord import MessagePayload, render_discord
from snitch.store.archive import EditionArchive
from snitch.store.guild_state import GuildState
from snitch.store.protocol import Store
from snitch.telemetry import EditionOutcome, record_edition, record_tokens, span
from snitch.tips.box import TipBox

UNNAMED: Final = "a member"  # what an opted-out member is called where others mention them
TIPS_PER_EDITION: Final = 3
# What the LLM engine's ledger writes for a desk whose offline twin stood in for a failed
# LLM (snitch.newsroom.chains.EditionLedger.fell_back).
FALLBACK_ENGINE: Final = "offline (fallback)"
log = get_logger(__name__)


class NothingToReport(SnitchError):
    """The window holds no chat the newsroom may read."""


def fell_back(newsletter: Newsletter) -> bool:
    """Whether the offline engine stood in for a failed LLM on any desk of the edition."""
    return FALLBACK_ENGINE in newsletter.engines.values()


def readable(message: Message, settings: GuildSettings, channels: dict[str, str | None]) -> bool:
    """Whether the guild lets the newsroom read ``message`` (``channels``: id to parent id)."""
    return not message.author.is_bot and settings.reads(
        message.channel_id, channels.get(message.channel_id)
    )


def unnamed(message: Message, opted_out: frozenset[str]) -> Message:
    """``message`` with every opted-out member it mentions shown without a name."""
    if not any(person.id in opted_out for person in message.mentions):
        return message
    mentions = tuple(
        Author(id=person.id, name=UNNAMED) if person.id in opted_out else person
        for person in message.mentions
    )
    return message.model_copy(update={"mentions": mentions})


Admit = Callable[[Message], Message | None]


def admit_with(
    settings: GuildSettings, opted_out: frozenset[str], channels: Iterable[Channel]
) -> Admit:
    """What the newsroom may use of a stored message: None to leave it out, or the message
    with opted-out members unnamed. One rule for editions, teasers and fact-checks, applied
    when reading too, since chat stored before a rule changed stays until retention."""
    parents = {channel.id: channel.parent_id for channel in channels}

    def admit(message: Message) -> Message | None:
        if message.author.id in opted_out or not readable(message, settings, parents):
            return None
        return unnamed(message, opted_out)

    return admit


async def admission(store: Store, settings: GuildSettings, opted_out: frozenset[str]) -> Admit:
    """``admit_with`` the guild's stored channels."""
    return admit_with(settings, opted_out, await store.channels(settings.guild_id))


async def readable_chat(
    store: Store,
    settings: GuildSettings,
    opted_out: frozenset[str],
    *,
    since: datetime,
    until: datetime,
    channel_id: str | None = None,
    guild_name: str = "",
) -> Chat:
    """The guild's chat in the window that the newsroom may read, optionally one channel."""
    channels = {channel.id: channel for channel in await store.channels(settings.guild_id)}
    admit = admit_with(settings, opted_out, channels.values())
    messages = []
    for message in await store.messages(settings.guild_id, since=since, until=until):
        admitted = admit(message)
        if admitted is None:
            continue
        parent = channels[message.channel_id].parent_id if message.channel_id in channels else None
        if channel_id is None or channel_id in (message.channel_id, parent):
            messages.append(admitted)
    guild = Guild(id=settings.guild_id, name=guild_name)
    return Chat(guild=guild, channels=channels, messages=messages)


@dataclass(frozen=True)
class WrittenEdition:
    """An edition and the Discord messages that carry it."""

    newsletter: Newsletter
    messages: list[MessagePayload]
    tip_ids: tuple[str, ...]


@dataclass(frozen=True)
class EditionDesk:
    """Writes a guild's edition from the store, with its persona, engine and approved tips."""

    store: Store
    state: GuildState
    archive: EditionArchive
    tips: TipBox
    # The newsroom for a guild: ``llm`` False asks for the offline engine.
    newsroom: Callable[[bool], Newsroom]

    async def write(
        self,
        settings: GuildSettings,
        *,
        since: datetime,
        until: datetime,
        persona: str | None = None,
        channel_id: str | None = None,
        guild_name: str = "",
        with_tips: bool = False,
    ) -> WrittenEdition:
        """One edition of the window; ``NothingToReport`` when nobody said anything usable.

        Traced, and measured: how long it took with which engine, how it came out (ok,
        fallback to the offline engine, failed, quiet) and the LLM tokens it cost."""
        chosen = get_persona(persona or settings.persona)
        newsroom = self.newsroom(settings.llm_enabled)
        # The engine the guild asked for; a fallback shows in the outcome.
        engine = newsroom.ledger.label if newsroom.ledger is not None else "offline"
        started = time.perf_counter()
        outcome: EditionOutcome = "failed"
        quiet: NothingToReport | None = None
        try:
            with span(
                "edition.write", guild=settings.guild_id, persona=chosen.name, engine=engine
            ) as current:
                try:
                    written = await self._write(
                        newsroom,
                        settings,
                        chosen,
                        since=since,
                        until=until,
                        channel_id=channel_id,
                        guild_name=guild_name,
                        with_tips=with_tips,
                    )
                except NothingToReport as exc:  # a quiet day, not an error of the span
                    quiet = exc
                    outcome = "quiet"
                else:
                    outcome = "fallback" if fell_back(written.newsletter) else "ok"
                current.set_attribute("outcome", outcome)
        finally:
            record_edition(
                time.perf_counter() - started, engine=engine, persona=chosen.name, outcome=outcome
            )
        if quiet is not None:
            raise quiet
        record_tokens(written.newsletter.usage, engine)
        return written

    async def _write(
        self,
        newsroom: Newsroom,
        settings: GuildSettings,
        chosen: Persona,
        *,
        since: datetime,
        until: datetime,
        channel_id: str | None,
        guild_name: str,
        with_tips: bool,
    ) -> WrittenEdition:
        opted_out = await self.state.opted_out(settings.guild_id)
        chat = await readable_chat(
            self.store,
            settings,
            opted_out,
            since=since,
            until=until,
            channel_id=channel_id,
            guild_name=guild_name,
        )
        if not chat.messages:
            hours = (until - since) / timedelta(hours=1)
            where = " in that channel" if channel_id else ""
            raise NothingToReport(f"nothing was said{where} in the last {hours:g} hours")
        try:
            newsletter = await newsroom.publish(chat, chosen, since=since, until=until)
        except EmptyWindowError as exc:
            raise NothingToReport(str(exc)) from exc
        tip_ids: tuple[str, ...] = ()
        if with_tips:
            approved = await self.tips.approved(settings.guild_id, limit=TIPS_PER_EDITION)
            tip_ids = tuple(tip.id for tip in approved)
            newsletter = newsletter.model_copy(
                update={"reader_tips": tuple(tip.printable for tip in approved)}
            )
        return WrittenEdition(newsletter, render_discord(newsletter), tip_ids)

    async def archive_published(
        self,
        settings: GuildSettings,
        written: WrittenEdition,
        *,
        now: datetime,
        slot: datetime | None,
        channel_id: str,
        discord_message_ids: Sequence[str],
    ) -> None:
        """Keep the posted edition, and retire the tips it printed."""
        await self.archive.keep(
            written.newsletter,
            guild_id=settings.guild_id,
            published_at=now,
            slot=slot,
            channel_id=channel_id,
            discord_message_ids=discord_message_ids,
        )
        if written.tip_ids:
            await self.tips.mark_published(settings.guild_id, written.tip_ids, now)
        log.info(
            "edition archived",
            guild=settings.guild_id,
            channel=channel_id,
            messages=len(discord_message_ids),
            tips=len(written.tip_ids),
        )

    async def window_for(self, settings: GuildSettings, until: datetime) -> datetime:
        """Where a scheduled edition starts: the last one, or a day back for the first."""
        latest = await self.archive.latest(settings.guild_id, limit=1)
        if latest and latest[0].published_at < until:
            return max(latest[0].published_at, until - timedelta(days=7))
        return until - timedelta(days=1)
