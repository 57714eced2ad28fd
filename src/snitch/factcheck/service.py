"""The fact-check service: what the CLI and the Discord command both call.

It takes a claim and a guild, retrieves the evidence, asks the judge, and returns one
``FactCheck`` that any front end can render: every piece of evidence carries its jump link
and its text already defanged, so no front end can ping anyone with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, ConfigDict

from snitch.config import LLMSettings
from snitch.errors import SnitchError
from snitch.factcheck.retrieval import MAX_CLAIM_CHARS, Evidence, HybridRetriever
from snitch.factcheck.verdict import Judge, OfflineJudge, Verdict
from snitch.models import Message, Usage
from snitch.newsroom.text import defang, display_content, safe_name

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

DEFAULT_EVIDENCE: Final = 5
MAX_EVIDENCE: Final = 25


class FactCheckError(SnitchError):
    """A claim or request the fact-checker cannot take; the message says what to change."""


class EvidenceItem(BaseModel):
    """One message shown as evidence."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    channel_id: str
    author_id: str
    author_name: str
    timestamp: datetime
    text: str
    jump_url: str
    score: float
    similarity: float | None


class FactCheck(BaseModel):
    """The answer to one claim."""

    model_config = ConfigDict(frozen=True)

    claim: str
    guild_id: str
    verdict: Verdict
    explanation: str
    cited_ids: tuple[str, ...]
    evidence: tuple[EvidenceItem, ...]
    engine: str
    semantic: bool  # whether vector similarity took part, or keywords alone
    usage: Usage


def validate_claim(claim: str) -> str:
    """The claim, trimmed; a clear error when it is empty or too long."""
    trimmed = " ".join(claim.split())
    if not trimmed:
        raise FactCheckError("the claim is empty: say what you want checked")
    if len(trimmed) > MAX_CLAIM_CHARS:
        raise FactCheckError(
            f"the claim is {len(trimmed)} characters long; keep it under {MAX_CLAIM_CHARS}"
        )
    return trimmed


def _shown(item: Evidence) -> EvidenceItem:
    message = item.message
    return EvidenceItem(
        message_id=message.id,
        channel_id=message.channel_id,
        author_id=message.author.id,
        author_name=safe_name(message.author.display_name),
        timestamp=message.timestamp,
        text=defang(display_content(message)),
        jump_url=item.jump_url,
        score=round(item.score, 6),
        similarity=None if item.similarity is None else round(item.similarity, 4),
    )


async def fact_check(
    claim: str,
    guild_id: str,
    *,
    retriever: HybridRetriever,
    judge: Judge | None = None,
    limit: int = DEFAULT_EVIDENCE,
    exclude_authors: Sequence[str] = (),
    admit: Callable[[Message], Message | None] | None = None,
) -> FactCheck:
    """Check ``claim`` against one guild's stored chat.

    ``exclude_authors`` keeps people who opted out from ever being shown as evidence;
    ``admit`` (``snitch.editions.admission``) applies the guild's channel rules and unnames
    opted-out members where others mention them, before the judge or anyone sees it.
    """
    checked = validate_claim(claim)
    if not 1 <= limit <= MAX_EVIDENCE:
        raise FactCheckError(f"evidence limit must be between 1 and {MAX_EVIDENCE}, got {limit}")
    evidence = await retriever.retrieve(
        guild_id, checked, limit, exclude_authors=exclude_authors, admit=admit
    )
    judgement = await (judge or OfflineJudge()).judge(checked, evidence)
    return FactCheck(
        claim=checked,
        guild_id=guild_id,
        verdict=judgement.verdict,
        explanation=judgement.explanation,
        cited_ids=judgement.cited_ids,
        evidence=tuple(_shown(item) for item in evidence),
        engine=judgement.engine,
        semantic=retriever.semantic,
        usage=judgement.usage,
    )


def build_judge(settings: LLMSettings, model: BaseChatModel | None = None) -> Judge:
    """The judge the settings ask for; LangChain loads only for an LLM provider.

    A long-lived caller passes its one ``model`` so checks share its HTTP connections.
    """
    if settings.provider == "offline":
        return OfflineJudge()
    from snitch.factcheck.verdict import LLMJudge
    from snitch.newsroom.llm import RetryPolicy, build_chat_model, model_label

    model = model or build_chat_model(settings)
    if model is None:  # pragma: no cover - only the offline provider has no model
        return OfflineJudge()
    return LLMJudge(
        model, model_label(settings), policy=RetryPolicy(attempts=settings.max_retries + 1)
    )
