"""``/snitch``: a server's settings, status, privacy choices, tip review and backfill."""

from __future__ import annotations

from snitch.bot.client import SnitchBot
from snitch.bot.exts.admin._cog import Admin


async def setup(bot: SnitchBot) -> None:
    """Load the extension."""
    await bot.add_cog(Admin(bot))
