"""Weighing the evidence: an LLM judge when one is configured, a cautious rule otherwise.

The offline judge never guesses. It answers "supported" or "contradicted" only when one
message says the claim's words back almost word for word, with the claim's polarity or its
opposite, from the person the claim names (if it names one), and nothing else retrieved
says the opposite. Everything else is "not enough evidence", with the ranked messages for
the reader to judge.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, Protocol

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field

from snitch.factcheck.retrieval import Evidence, claim_terms
from snitch.log import get_logger
from snitch.models import Usage
from snitch.newsroom.llm import LLMClient, LLMUnavailable, RetryPolicy
from snitch.newsroom.text import defang, display_content, safe_name, words

log = get_logger(__name__)

# Offline: how close the best message must be before the rule speaks at all.
MIN_SIMILARITY: Final = 0.6
MIN_COVERAGE: Final = 0.75
MIN_TERMS: Final = 2
NEGATIONS: Final = frozenset(
    """not no never nope nah nothing nobody none neither nor cannot can't won't wont didn't
    didnt don't dont doesn't doesnt isn't isnt wasn't wasnt aren't arent weren't werent
    haven't havent hasn't hasnt hadn't hadnt shouldn't wouldn't couldn't""".split()
)
LABEL: Final = re.compile(r"\[?\b(e\d+)\b\]?")
SUFFIXES: Final = ("ing", "ed", "es", "s", "ly")


class Verdict(StrEnum):
    """What the evidence says about the claim."""

    supported = "supported"
    contradicted = "contradicted"
    not_enough_evidence = "not enough evidence"


@dataclass(frozen=True)
class Judgement:
    """A verdict, why, the message ids that show it, and which engine decided."""

    verdict: Verdict
    explanation: str
    cited_ids: tuple[str, ...] = ()
    engine: str = "offline"
    usage: Usage = field(default_factory=Usage)


class Judge(Protocol):
    """Turns a claim and its evidence into a judgement."""

    async def judge(self, claim: str, evidence: Sequence[Evidence]) -> Judgement:
        """The verdict on ``claim`` given ``evidence`` (best first)."""


def _stem(word: str) -> str:
    """A crude stemmer, enough to match "promised" with "promise" and "cakes" with "cake"."""
    for suffix in SUFFIXES:
        if len(word) >= len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


def _negated(text: str) -> bool:
    return any(word in NEGATIONS for word in words(text))


def _coverage(claim: str, text: str) -> float:
    """The share of the claim's content words (stemmed) that the text contains."""
    wanted = {_stem(term) for term in claim_terms(claim)}
    if len(wanted) < MIN_TERMS:
        return 0.0
    have = {_stem(word) for word in words(text)}
    return len(wanted & have) / len(wanted)


def _quote(item: Evidence) -> str:
    text = defang(display_content(item.message))
    return text if len(text) <= 160 else text[:157].rstrip() + "..."


class OfflineJudge:
    """The embedded default: speaks only when one message settles the claim outright."""

    async def judge(self, claim: str, evidence: Sequence[Evidence]) -> Judgement:
        """See the module docstring for the rule."""
        if not evidence:
            return Judgement(Verdict.not_enough_evidence, "No stored message matches the claim.")
        names_someone = any(item.by_named_author for item in evidence)
        claim_negated = _negated(claim)
        decisive: list[tuple[Evidence, bool]] = []
        for item in evidence:
            close = item.similarity is not None and item.similarity >= MIN_SIMILARITY
            covered = _coverage(claim, item.message.content) >= MIN_COVERAGE
            right_person = item.by_named_author or not names_someone
            if close and covered and right_person:
                decisive.append((item, _negated(item.message.content) == claim_negated))
        agreeing = [item for item, agrees in decisive if agrees]
        opposing = [item for item, agrees in decisive if not agrees]
        best = evidence[0]
        if agreeing and not opposing:
            return self._settled(Verdict.supported, agreeing[0], "says it")
        if opposing and not agreeing:
            return self._settled(Verdict.contradicted, opposing[0], "says the opposite")
        if agreeing and opposing:
            return Judgement(
                Verdict.not_enough_evidence,
                f"The messages disagree: {agreeing[0].message.id} says it and "
                f"{opposing[0].message.id} says the opposite.",
                (agreeing[0].message.id, opposing[0].message.id),
            )
        return Judgement(
            Verdict.not_enough_evidence,
            f"No message settles it outright; the closest is {best.message.id} by "
            f'{safe_name(best.message.author.display_name)}: "{_quote(best)}"',
            (best.message.id,),
        )

    @staticmethod
    def _settled(verdict: Verdict, item: Evidence, how: str) -> Judgement:
        author = safe_name(item.message.author.display_name)
        return Judgement(
            verdict,
            f'Message {item.message.id} by {author} {how}: "{_quote(item)}"',
            (item.message.id,),
        )


class _LLMVerdict(BaseModel):
    verdict: str = Field(pattern=r"^(supported|contradicted|not_enough_evidence)$")
    explanation: str = Field(min_length=1, max_length=2000)
    cited: list[str] = Field(default_factory=list, max_length=20)


SYSTEM_PROMPT: Final = """You are the fact-checker of a tabloid newsroom that reports on a \
Discord server's chat. Decide whether the numbered chat messages support or contradict the \
reader's claim. Use only those messages, never outside knowledge. If they do not settle it, \
the verdict is not_enough_evidence. Reply with one JSON object and nothing else:
{"verdict": "supported" | "contradicted" | "not_enough_evidence",
 "explanation": "two or three sentences citing messages by label, like [e2]",
 "cited": ["e2"]}"""


def _evidence_block(evidence: Sequence[Evidence]) -> str:
    lines = []
    for number, item in enumerate(evidence, start=1):
        message = item.message
        when = message.timestamp.strftime("%Y-%m-%d %H:%M UTC")
        lines.append(
            f"[e{number}] {when} {safe_name(message.author.display_name)}: "
            f"{display_content(message)}"
        )
    return "\n".join(lines)


class LLMJudge:
    """Asks the model, checks its citations, and falls back offline when it fails.

    Each check gets its own ``LLMClient`` (meter and circuit), so concurrent checks from
    the bot neither share a token count nor trip each other's fallback.
    """

    def __init__(
        self,
        model: BaseChatModel,
        name: str,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        fallback: Judge | None = None,
    ) -> None:
        self._model = model
        self._name = name
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._fallback = fallback or OfflineJudge()

    async def judge(self, claim: str, evidence: Sequence[Evidence]) -> Judgement:
        """The model's verdict, with labels turned into message ids; offline on failure."""
        if not evidence:
            return await self._fallback.judge(claim, evidence)
        user = f"Claim: {claim}\n\nMessages:\n{_evidence_block(evidence)}"
        client = LLMClient(
            model=self._model, name=self._name, policy=self._policy, sleep=self._sleep
        )
        try:
            answer = await client.complete_json(
                SYSTEM_PROMPT, user, _LLMVerdict, purpose="fact-check"
            )
        except LLMUnavailable as exc:
            log.warning("fact-check fell back offline", error=str(exc)[:200])
            fallback = await self._fallback.judge(claim, evidence)
            return replace(fallback, usage=client.usage.snapshot())
        ids = {f"e{number}": item.message.id for number, item in enumerate(evidence, start=1)}
        cited = tuple(dict.fromkeys(ids[label] for label in answer.cited if label in ids))
        verdict = Verdict(answer.verdict.replace("_", " "))
        explanation = LABEL.sub(
            lambda match: f"[{ids[match.group(1)]}]" if match.group(1) in ids else match.group(0),
            answer.explanation,
        )
        if verdict is not Verdict.not_enough_evidence and not cited:
            # A verdict the model cannot point at is not one we print.
            verdict = Verdict.not_enough_evidence
            explanation += " (The model cited no message, so this is not a verdict.)"
        return Judgement(
            verdict, defang(explanation), cited, engine=self._name, usage=client.usage.snapshot()
        )
