"""``/tip``: an anonymous tip for the newsroom, acknowledged only to its sender.

The tip box seals the text and keeps the sender only as a keyed hash; this edge must not
undo that. So the answer is ephemeral and never echoes the text, and this command answers
its own refusals and failures instead of leaving them to the tree's error handler, whose
log line names the user who ran the command: "member X was refused a tip" is exactly the
link between a member and a tip that the box exists to avoid.
"""

from __future__ import annotations

from typing import Any, Final

import discord
from discord import app_commands

from snitch.bot.checks import ServerCommands
from snitch.bot.client import SnitchBot
from snitch.bot.errors import correlation_id
from snitch.bot.replies import reply
from snitch.log import get_logger
from snitch.tips import TipRejected

log = get_logger(__name__)

THANKS: Final = (
    "Thanks, tip received. A moderator will review it; if they approve it, it will be "
    "printed in an edition as an unverified reader tip. Moderators see the tip, not who "
    "sent it."
)


class Tips(ServerCommands):
    """The anonymous tip line."""

    def __init__(self, bot: SnitchBot) -> None:
        self.bot = bot

    # ``anonymous`` tells any generic handler (logging, metrics) not to record who ran it.
    @app_commands.command(name="tip", extras={"anonymous": True})
    @app_commands.guild_only()
    @app_commands.describe(text="What you saw or heard. Moderators read it; nobody sees it's you.")
    async def tip(self, interaction: discord.Interaction[Any], text: str) -> None:
        """Send the newsroom an anonymous tip (moderators review it first)."""
        services = self.bot.services
        guild_id = str(interaction.guild_id)
        try:
            await services.tips.submit(guild_id, str(interaction.user.id), text, services.clock())
        except TipRejected as refused:
            # Logged without the member: a refusal says they tried to tip.
            log.info("tip refused", guild=guild_id)
            await reply(interaction, str(refused), ephemeral=True)
            return
        except Exception as failure:
            reference = correlation_id()
            # Neither the member nor the exception's text (it may carry the row's values).
            log.error(
                "tip failed",
                guild=guild_id,
                correlation_id=reference,
                error=type(failure).__name__,
            )
            await reply(
                interaction,
                "Something went wrong on our side and your tip was not saved, sorry. If it "
                f"keeps happening, give the server admin this reference: `{reference}`.",
                ephemeral=True,
            )
            return
        log.info("tip received", guild=guild_id)
        await reply(interaction, THANKS, ephemeral=True)


async def setup(bot: SnitchBot) -> None:
    """Load the extension."""
    await bot.add_cog(Tips(bot))
