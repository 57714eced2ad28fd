"""Editions in Discord: ``/breaking-news`` and ``/leak`` now, scheduled editions and
retention in the background."""

from __future__ import annotations

from snitch.bot.client import SnitchBot
from snitch.bot.exts.editions._cog import Editions
from snitch.bot.exts.editions._jobs import EditionJobs


async def setup(bot: SnitchBot) -> None:
    """Load the extension."""
    await bot.add_cog(Editions(bot))
    await bot.add_cog(EditionJobs(bot))
