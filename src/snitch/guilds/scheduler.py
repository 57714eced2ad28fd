"""Publishing scheduled editions: each due slot exactly once, whatever restarts or races.

Each tick asks the store which guilds are due, and for each one claims the slot by moving
the schedule on to the next slot after *now* (a compare-and-set: one claimant wins, across
processes and restarts). Only the winner publishes. A slot missed during downtime is
still due at the next tick, so it is published once, late, and the schedule then skips to
the future rather than replaying every slot it missed.

Claiming before publishing makes a crash mid-publication lose that edition rather than
post it twice: a duplicate edition in a channel is the worse failure for a newsletter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from snitch.guilds.settings import GuildSettings
from snitch.log import get_logger
from snitch.store.guild_state import GuildState

log = get_logger(__name__)

Publish = Callable[[GuildSettings, datetime], Awaitable[None]]


class Scheduler:
    """Runs due editions through ``publish``; call ``tick`` every minute or so."""

    def __init__(self, state: GuildState, publish: Publish) -> None:
        self._state = state
        self._publish = publish

    async def tick(self, now: datetime) -> list[str]:
        """Publish every edition due at ``now``; returns the guild ids this call published."""
        published = []
        for due in await self._state.due(now):
            settings = await self._state.settings(due.guild_id)
            next_slot = settings.parsed_schedule.next_after(now, settings.zone)
            if not await self._state.claim(due.guild_id, due.slot, next_slot):
                continue  # another instance took this slot
            late = (now - due.slot).total_seconds()
            try:
                await self._publish(settings, due.slot)
            except Exception:
                log.exception("scheduled edition failed", guild=due.guild_id, slot=str(due.slot))
                continue
            log.info("scheduled edition published", guild=due.guild_id, late_seconds=late)
            published.append(due.guild_id)
        return published
