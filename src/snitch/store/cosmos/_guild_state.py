"""``GuildState`` on Cosmos DB: settings and schedule in the directory, opt-outs per guild.

The run of bad scheduled editions is a field of the same directory document, counted by
``record_edition`` under the same ETag guard as everything else written there.

A guild's settings and its next slot share one directory document, so that ``due`` is a
single-partition query over every guild and ``claim`` a compare-and-set on the very
document ``due`` read: a replace conditioned on the ETag (``IfNotModified``) of a copy
whose slot was still the one being claimed. Of any number of schedulers racing for a
slot, the first replace wins and every other gets HTTP 412, re-reads, sees the slot has
moved on, and reports False. ``save_settings`` is a read-modify-write under the same
guard, so two admins saving at once cannot both decide from the same stale slot.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, Final

from azure.core import MatchConditions
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from snitch.errors import StoreError
from snitch.guilds.settings import GuildSettings
from snitch.store.cosmos._base import (
    DIRECTORY,
    DIRECTORY_SCOPE,
    GUILD_STATE,
    CosmosAccount,
    check_id,
    cosmos_errors,
    delete_if_present,
    from_text,
    optional_text,
    query,
    read_or_none,
    to_text,
    without_system,
)
from snitch.store.cosmos._docs import BAD_EDITIONS, OPT_OUT_TYPE, SCHEDULE_TYPE, schedule_doc_id
from snitch.store.guild_state import DueEdition

# Optimistic-concurrency retries before a busy settings document is reported.
MAX_CONFLICTS: Final = 10
WRITE = "writing guild state"


def _opt_out_id(user_id: str) -> str:
    return f"{OPT_OUT_TYPE}-{check_id('user', user_id)}"


class CosmosGuildState:
    """``GuildState`` on the store's Cosmos DB account."""

    def __init__(self, account: CosmosAccount) -> None:
        self._directory = account.container(DIRECTORY)
        self._state = account.container(GUILD_STATE)

    async def _schedule(self, guild_id: str) -> dict[str, Any] | None:
        return await read_or_none(self._directory, schedule_doc_id(guild_id), DIRECTORY_SCOPE)

    async def settings(self, guild_id: str) -> GuildSettings:
        """See ``GuildState.settings``."""
        with cosmos_errors(f"reading settings of guild {guild_id}"):
            stored = await self._schedule(guild_id)
        if stored is None:
            return GuildSettings.defaults(guild_id)
        return GuildSettings.model_validate({**stored["settings"], "guild_id": guild_id})

    async def save_settings(self, settings: GuildSettings, now: datetime) -> datetime | None:
        """See ``GuildState.save_settings``: the slot is recomputed only when the schedule
        or time zone changed (or none was set), decided under the document's ETag."""
        guild_id = check_id("guild", settings.guild_id)
        with cosmos_errors(f"{WRITE} of guild {guild_id}"):
            for _ in range(MAX_CONFLICTS):
                previous = await self._schedule(guild_id)
                keep = (
                    previous is not None
                    and previous["settings"].get("schedule") == settings.schedule
                    and previous["settings"].get("timezone") == settings.timezone
                    and previous.get("next_edition_at") is not None
                )
                next_at = (
                    from_text(previous["next_edition_at"])
                    if keep and previous is not None
                    else settings.parsed_schedule.next_after(now, settings.zone)
                )
                doc = {
                    **(without_system(previous) if previous is not None else {}),
                    "id": schedule_doc_id(guild_id),
                    "scope": DIRECTORY_SCOPE,
                    "type": SCHEDULE_TYPE,
                    "guild_id": guild_id,
                    "settings": settings.model_dump(mode="json", exclude={"guild_id"}),
                    "next_edition_at": optional_text(next_at),
                    "updated_at": to_text(now),
                }
                doc.setdefault("last_edition_at", None)
                doc.setdefault(BAD_EDITIONS, 0)
                try:
                    if previous is None:
                        await self._directory.create_item(doc)
                    else:
                        await self._directory.replace_item(
                            doc["id"],
                            doc,
                            etag=previous["_etag"],
                            match_condition=MatchConditions.IfNotModified,
                        )
                except (CosmosAccessConditionFailedError, CosmosResourceExistsError):
                    continue  # another save or a claim got there first: decide again
                return next_at
        raise StoreError(
            f"{WRITE} failed: the settings of guild {guild_id} kept changing "
            f"({MAX_CONFLICTS} attempts)"
        )

    async def set_opted_out(
        self, guild_id: str, user_id: str, opted_out: bool, now: datetime
    ) -> None:
        """See ``GuildState.set_opted_out``; repeating either is harmless (a second
        opt-out keeps the first one's date, as the SQL store does)."""
        check_id("guild", guild_id)
        doc_id = _opt_out_id(user_id)
        with cosmos_errors(f"{WRITE} of guild {guild_id}"):
            if not opted_out:
                await delete_if_present(self._state, doc_id, guild_id)
                return
            doc = {
                "id": doc_id,
                "guild_id": guild_id,
                "type": OPT_OUT_TYPE,
                "user_id": user_id,
                "since": to_text(now),
            }
            with suppress(CosmosResourceExistsError):
                await self._state.create_item(doc)

    async def opted_out(self, guild_id: str) -> frozenset[str]:
        """See ``GuildState.opted_out``."""
        with cosmos_errors(f"reading opt-outs of guild {guild_id}"):
            rows = await query(
                self._state,
                "SELECT VALUE c.user_id FROM c WHERE c.guild_id = @guild AND c.type = @type",
                guild_id,
                guild=guild_id,
                type=OPT_OUT_TYPE,
            )
        return frozenset(str(row) for row in rows)

    async def due(self, now: datetime) -> list[DueEdition]:
        """See ``GuildState.due``; oldest slot first. Guilds whose schedule is off hold a
        null slot, which a string comparison never matches."""
        with cosmos_errors("reading due editions"):
            rows = await query(
                self._directory,
                "SELECT c.guild_id, c.next_edition_at FROM c WHERE c.scope = @scope "
                "AND c.type = @type AND c.next_edition_at <= @now",
                DIRECTORY_SCOPE,
                scope=DIRECTORY_SCOPE,
                type=SCHEDULE_TYPE,
                now=to_text(now),
            )
        found = [
            DueEdition(row["guild_id"], from_text(row["next_edition_at"]))
            for row in rows
            if isinstance(row.get("next_edition_at"), str)
        ]
        return sorted(found, key=lambda due: (due.slot, due.guild_id))

    async def claim(self, guild_id: str, slot: datetime, next_slot: datetime | None) -> bool:
        """See ``GuildState.claim``: a replace guarded by the ETag of a copy that still
        held ``slot``. Losing to an unrelated write (a settings save that kept the slot)
        re-reads and tries again; losing to another claim returns False."""
        expected = to_text(slot)
        with cosmos_errors(f"claiming the edition of guild {guild_id}"):
            for _ in range(MAX_CONFLICTS):
                current = await self._schedule(guild_id)
                if current is None or current.get("next_edition_at") != expected:
                    return False
                doc = {
                    **without_system(current),
                    "next_edition_at": optional_text(next_slot),
                    "last_edition_at": expected,
                }
                try:
                    await self._directory.replace_item(
                        doc["id"],
                        doc,
                        etag=current["_etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                except CosmosAccessConditionFailedError:
                    continue
                except CosmosResourceNotFoundError:
                    return False
                return True
        raise StoreError(
            f"claiming the edition of guild {guild_id} failed: its schedule kept changing "
            f"({MAX_CONFLICTS} attempts)"
        )

    async def record_edition(self, guild_id: str, ok: bool) -> int:
        """See ``GuildState.record_edition``: a read-modify-write of the schedule document
        guarded by its ETag, so two instances recording at once both count. A guild with
        no document yet gets one holding the defaults and no scheduled slot."""
        guild_id = check_id("guild", guild_id)
        with cosmos_errors(f"{WRITE} of guild {guild_id}"):
            for _ in range(MAX_CONFLICTS):
                current = await self._schedule(guild_id)
                before = int(current.get(BAD_EDITIONS) or 0) if current is not None else 0
                streak = 0 if ok else before + 1
                if streak == before:  # a good edition after good ones: nothing to write
                    return streak
                try:
                    if current is None:
                        await self._directory.create_item(
                            {
                                "id": schedule_doc_id(guild_id),
                                "scope": DIRECTORY_SCOPE,
                                "type": SCHEDULE_TYPE,
                                "guild_id": guild_id,
                                "settings": GuildSettings.defaults(guild_id).model_dump(
                                    mode="json", exclude={"guild_id"}
                                ),
                                "next_edition_at": None,
                                "last_edition_at": None,
                                "updated_at": to_text(datetime.now(UTC)),
                                BAD_EDITIONS: streak,
                            }
                        )
                    else:
                        await self._directory.replace_item(
                            current["id"],
                            {**without_system(current), BAD_EDITIONS: streak},
                            etag=current["_etag"],
                            match_condition=MatchConditions.IfNotModified,
                        )
                except (
                    CosmosAccessConditionFailedError,
                    CosmosResourceExistsError,
                    CosmosResourceNotFoundError,
                ):
                    continue  # another write got there first: count again
                return streak
        raise StoreError(
            f"{WRITE} failed: the schedule of guild {guild_id} kept changing "
            f"({MAX_CONFLICTS} attempts)"
        )
