"""Live ingestion and backfill: the server's chat into the store and the memory."""

from __future__ import annotations

from snitch.bot.client import SnitchBot
from snitch.bot.exts.ingestion._cog import Ingestion


async def setup(bot: SnitchBot) -> None:
    """Load the extension."""
    await bot.add_cog(Ingestion(bot))
