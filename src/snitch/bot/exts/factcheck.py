"""``/fact-check``: a claim checked against what was really said, with the messages as proof.

The answer is public (a fact-check is for the whole channel to see) and is one embed: the
verdict in its colour, the judge's explanation, and each piece of evidence as its author,
a short quote and a jump link. The service has defanged every string from chat already;
the claim and the explanation are defanged here too, markdown from chat or from an LLM is
shown as typed (no masked links), and nothing is sent with mentions allowed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import discord
from discord import app_commands

from snitch.bot.checks import ServerCommands
from snitch.bot.client import SnitchBot
from snitch.bot.cooldowns import per_guild, per_member
from snitch.bot.replies import NO_PINGS
from snitch.editions import admission
from snitch.factcheck import FactCheck, Verdict, fact_check
from snitch.factcheck.retrieval import MAX_CLAIM_CHARS
from snitch.factcheck.service import EvidenceItem, validate_claim
from snitch.newsroom.text import defang
from snitch.render.discord import EMBED_DESCRIPTION_LIMIT, MESSAGE_EMBED_TEXT_LIMIT

EVIDENCE_SHOWN: Final = 5
QUOTE_CHARS: Final = 200
EXPLANATION_CHARS: Final = 1500
ELLIPSIS: Final = "\u2026"
COLOURS: Final = {
    Verdict.supported: discord.Colour.green(),
    Verdict.contradicted: discord.Colour.red(),
    Verdict.not_enough_evidence: discord.Colour.light_grey(),
}
LABELS: Final = {
    Verdict.supported: "Supported",
    Verdict.contradicted: "Contradicted",
    Verdict.not_enough_evidence: "Not enough evidence",
}
_MARKDOWN: Final = str.maketrans({char: f"\\{char}" for char in "\\`*_~|>[]()#"})

# A message id as a judge cites it: "[123...]" (escaped by ``_plain``) or bare.
_CITATION: Final = re.compile(r"\\\[(\d{15,21})\\\]|(?<!\d)(\d{15,21})(?!\d)")

Interaction = discord.Interaction[SnitchBot]


def _short(text: str, limit: int) -> str:
    """One line, at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + ELLIPSIS


def _plain(text: str) -> str:
    """Chat text shown as typed: no masked links, no formatting smuggled into the embed."""
    return text.translate(_MARKDOWN)


def _evidence_field(number: int, item: EvidenceItem, cited: bool) -> tuple[str, str]:
    name = f"{number}. {_plain(_short(item.author_name, 80))}" + (" (cited)" if cited else "")
    quote = _plain(_short(item.text, QUOTE_CHARS))
    when = discord.utils.format_dt(item.timestamp, "R")
    value = f"> {quote}\n{when} \u00b7 [Jump to message]({item.jump_url})"
    return name, value


def _cited(explanation: str, evidence: Sequence[EvidenceItem]) -> str:
    """The explanation, safe to show, with each message id it cites as a link to that
    evidence (the judges write ids as ``[123...]`` or bare); one pass, so a link's own URL
    is never rewritten."""
    text = _plain(defang(_short(explanation, EXPLANATION_CHARS)))
    links = {item.message_id: f"[#{n}]({item.jump_url})" for n, item in enumerate(evidence, 1)}

    def link(match: re.Match[str]) -> str:
        return links.get(match.group(1) or match.group(2), match.group(0))

    return _CITATION.sub(link, text)


def _fit(text: str, limit: int) -> str:
    """At most ``limit`` characters, never ending in half an escape."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if (len(cut) - len(cut.rstrip("\\"))) % 2:
        cut = cut[:-1]
    return cut + ELLIPSIS


def verdict_embed(result: FactCheck) -> discord.Embed:
    """The answer as one embed within Discord's limits, whatever the chat or the judge
    wrote (escaping can double a text's length, so the limits are checked at the end)."""
    shown = result.evidence[:EVIDENCE_SHOWN]
    claim = _plain(defang(_short(result.claim, MAX_CLAIM_CHARS)))
    description = f"**Claim:** {claim}\n\n{_cited(result.explanation, shown)}"
    embed = discord.Embed(
        title=f"Fact-check: {LABELS[result.verdict]}",
        description=_fit(description, EMBED_DESCRIPTION_LIMIT),
        colour=COLOURS[result.verdict],
    )
    cited = set(result.cited_ids)
    for number, item in enumerate(shown, start=1):
        name, value = _evidence_field(number, item, item.message_id in cited)
        embed.add_field(name=name, value=value, inline=False)
    if not result.evidence:
        embed.add_field(name="Evidence", value="No message here matches the claim.")
    how = "meaning and keywords" if result.semantic else "keywords"
    judge = "offline rules" if result.engine == "offline" else result.engine
    embed.set_footer(text=f"Searched by {how}; judged by {judge}. Read the receipts yourself.")
    while len(embed) > MESSAGE_EMBED_TEXT_LIMIT and len(embed.fields) > 1:
        embed.remove_field(len(embed.fields) - 1)  # the weakest evidence goes first
    return embed


class FactChecks(ServerCommands):
    """The fact-check command."""

    def __init__(self, bot: SnitchBot) -> None:
        self.bot = bot

    @app_commands.command(name="fact-check")
    @app_commands.guild_only()
    @app_commands.describe(
        claim="What to check, e.g. 'Priya promised to bring the cake on Friday'.",
    )
    @per_guild(10, 300)
    @per_member(3, 120)
    async def fact_check(
        self,
        interaction: Interaction,
        claim: app_commands.Range[str, 1, MAX_CLAIM_CHARS],
    ) -> None:
        """Check a claim against what was really said here, with the messages as proof."""
        checked = validate_claim(claim)  # before deferring, so a refusal stays ephemeral
        await interaction.response.defer(thinking=True)
        services = self.bot.services
        assert interaction.guild_id is not None  # see interaction_check
        guild_id = str(interaction.guild_id)
        settings = await services.state.settings(guild_id)
        opted_out = await services.state.opted_out(guild_id)
        result = await fact_check(
            checked,
            guild_id,
            retriever=services.retriever,
            judge=services.judge(settings.llm_enabled),
            exclude_authors=sorted(opted_out),
            admit=await admission(services.store, settings, opted_out),
        )
        await interaction.followup.send(embed=verdict_embed(result), allowed_mentions=NO_PINGS)


async def setup(bot: SnitchBot) -> None:
    """Load the extension."""
    await bot.add_cog(FactChecks(bot))
