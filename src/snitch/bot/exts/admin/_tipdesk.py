"""The moderators' side of the tip line: short references, and tips laid out for review.

A tip id is 32 hex digits; moderators type its first eight (more only on the rare day two
pending tips share them), and any unambiguous prefix of that is accepted.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Final

import discord
from discord import app_commands

from snitch.errors import SnitchError
from snitch.tips import Tip

REFERENCE_LENGTH: Final = 8
LISTED_TIPS: Final = 10
DESCRIPTION_LIMIT: Final = 4096
EMBEDS_PER_MESSAGE: Final = 10
EMBED_CHARS_PER_MESSAGE: Final = 6000
CHOICE_NAME_LIMIT: Final = 100
MAX_CHOICES: Final = 25
TIP_COLOUR: Final = discord.Colour.gold()
HOW_TO_REVIEW: Final = (
    "Approve or reject one with `/snitch tips action:approve tip:<reference>`. Approved tips "
    "are printed in the next edition as unverified reader tips; rejected ones never are."
)


class TipReferenceError(SnitchError):
    """A reference that names no pending tip, or more than one."""


def references(tips: Sequence[Tip]) -> dict[str, str]:
    """Each tip's reference: its first eight hex digits, more if two would look alike."""
    length = REFERENCE_LENGTH
    while len({tip.id[:length] for tip in tips}) < len(tips):
        length += 1
    return {tip.id: tip.id[:length] for tip in tips}


def find_tip(pending: Sequence[Tip], typed: str) -> Tip:
    """The one pending tip whose id starts with ``typed``; a clear error otherwise."""
    wanted = typed.strip().strip("`#").lower()
    if not wanted or any(char not in string.hexdigits for char in wanted):
        raise TipReferenceError(
            "That is not a tip reference: references look like `1a2b3c4d`. "
            "`/snitch tips` lists the pending tips with theirs."
        )
    matches = [tip for tip in pending if tip.id.startswith(wanted)]
    if not matches:
        raise TipReferenceError(
            f"No pending tip has the reference `{wanted}`: it may have been reviewed "
            "already. `/snitch tips` lists the pending ones."
        )
    if len(matches) > 1:
        shown = ", ".join(f"`{reference}`" for reference in references(matches).values())
        raise TipReferenceError(
            f"`{wanted}` matches {len(matches)} pending tips ({shown}); type more of the reference."
        )
    return matches[0]


def tip_embed(tip: Tip, reference: str) -> discord.Embed:
    """One tip as a moderator reviews it: the text, its reference and when it came in."""
    text = tip.text
    if len(text) > DESCRIPTION_LIMIT:
        text = text[: DESCRIPTION_LIMIT - 1] + "…"
    embed = discord.Embed(
        title=f"Tip {reference}", description=text, colour=TIP_COLOUR, timestamp=tip.created_at
    )
    embed.set_footer(text="Anonymous · unverified · received")
    return embed


def pack(embeds: Sequence[discord.Embed]) -> list[list[discord.Embed]]:
    """Embeds grouped into messages within Discord's limits (10 and 6000 characters each)."""
    messages: list[list[discord.Embed]] = []
    current: list[discord.Embed] = []
    size = 0
    for embed in embeds:
        length = len(embed)
        if current and (
            len(current) == EMBEDS_PER_MESSAGE or size + length > EMBED_CHARS_PER_MESSAGE
        ):
            messages.append(current)
            current, size = [], 0
        current.append(embed)
        size += length
    if current:
        messages.append(current)
    return messages


def reference_choices(pending: Sequence[Tip], typed: str) -> list[app_commands.Choice[str]]:
    """Autocomplete: the pending tips whose reference starts with what was typed."""
    wanted = typed.strip().strip("`#").lower()
    choices = []
    shown = references(pending)
    for tip in pending:
        reference = shown[tip.id]
        if not tip.id.startswith(wanted):
            continue
        snippet = " ".join(tip.text.split())
        name = f"{reference}: {snippet}"
        if len(name) > CHOICE_NAME_LIMIT:
            name = name[: CHOICE_NAME_LIMIT - 1] + "…"
        choices.append(app_commands.Choice(name=name, value=reference))
    return choices[:MAX_CHOICES]
