"""One error handler for every command: plain words for the user, details for the log.

The user always gets an ephemeral answer. A mistake of theirs (bad input, a cooldown, a
missing permission, a request the services refuse) is explained; anything else is our
fault, so they get an apology and a short reference, and the log gets the traceback under
the same reference, so an admin's screenshot leads straight to the log line.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import discord
from discord import app_commands

from snitch.bot.replies import reply
from snitch.errors import SnitchError
from snitch.log import get_logger
from snitch.telemetry import record_command

log = get_logger(__name__)


class HandedOver(Exception):
    """Raised inside a command run over HTTP once it deferred: a worker finishes it."""


def correlation_id() -> str:
    """A short reference a user can quote and an operator can grep for."""
    return uuid.uuid4().hex[:10]


def _permissions(names: list[str]) -> str:
    return ", ".join(name.replace("_", " ").replace("guild", "server").title() for name in names)


def explain(error: app_commands.AppCommandError) -> str | None:
    """What to tell the user about their own mistake; None when the fault is ours."""
    original = getattr(error, "original", error)
    if isinstance(error, app_commands.CommandOnCooldown):
        # Rounded up: "in 119 seconds" with 119.4 left would be refused once more.
        return f"Easy, tiger: try that again in {math.ceil(error.retry_after)} seconds."
    if isinstance(error, app_commands.MissingPermissions):
        return f"Only members with {_permissions(error.missing_permissions)} can do that."
    if isinstance(error, app_commands.BotMissingPermissions):
        return f"I need {_permissions(error.missing_permissions)} here to do that."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "That only works in a server, not in direct messages."
    if isinstance(error, app_commands.TransformerError):
        return f"{error.value!r} is not a valid {error.type.name} for that option."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use that command here."
    if isinstance(original, SnitchError):
        return str(original)
    return None


async def on_app_command_error(
    interaction: discord.Interaction[Any], error: app_commands.AppCommandError
) -> None:
    """Answer the user ephemerally and log the details with a correlation id."""
    if isinstance(getattr(error, "original", error), HandedOver):
        return  # not an error: the command continues in the interaction worker
    reference = correlation_id()
    command = interaction.command.qualified_name if interaction.command else "unknown"
    context: dict[str, object] = {
        "correlation_id": reference,
        "command": command,
        "guild": interaction.guild_id,
    }
    # An anonymous command (/tip) never has its caller written down, not even on failure.
    anonymous = interaction.command is not None and interaction.command.extras.get("anonymous")
    if not anonymous and interaction.user is not None:
        context["user"] = interaction.user.id
    text = explain(error)
    record_command(command, "failed" if text is None else "refused")
    if text is None:
        original = getattr(error, "original", error)
        log.error("command failed", exc_info=original, **context)
        text = (
            "Something went wrong on our side, sorry. If it keeps happening, give the "
            f"server admin this reference: `{reference}`."
        )
    else:
        log.info("command refused", reason=type(error).__name__, **context)
    try:
        await reply(interaction, text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not answer the failed command", **context)


class SnitchTree(app_commands.CommandTree[Any]):
    """The command tree, with the one error handler."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """Every command's errors end here."""
        await on_app_command_error(interaction, error)
