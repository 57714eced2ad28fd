"""The LLM engine's three desks, each backed by its offline twin.

Every desk sends a compact digest, validates the model's JSON against a pydantic schema, and
keeps only what the data supports: story labels and message ids must exist, quotes must be
verbatim, names and jump links come from the chat, never from the model. When the model
cannot give a usable answer the desk says so in the ledger and hands the work to its
offline twin, so an edition is never skipped because an API is down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from snitch.log import get_logger
from snitch.models import (
    Article,
    Chat,
    EditorialPlan,
    Message,
    Newsletter,
    Persona,
    Quote,
    Story,
    TimeWindow,
)
from snitch.newsroom.desk import OfflineNewsDesk
from snitch.newsroom.editor import MAX_SUPPORTING, MIN_SUPPORTING, OfflineEditor, persona_score
from snitch.newsroom.llm import LLMClient, LLMUnavailable, UsageMeter, estimate_tokens
from snitch.newsroom.personas import voice_of
from snitch.newsroom.prompts import (
    DESK_MESSAGES_PER_STORY,
    DESK_SYSTEM,
    EDITOR_SYSTEM,
    REPORTER_MESSAGES_PER_STORY,
    REPORTER_SYSTEM,
    editor_prompt,
    persona_brief,
    story_block,
    within_budget,
)
from snitch.newsroom.reporter import (
    OfflineReporter,
    assemble,
    excerpt,
    quotable_score,
    quote_matches,
    replies_received,
)
from snitch.newsroom.text import defang, display_content, safe_name

log = get_logger(__name__)
DIGEST_CANDIDATES = 20
INSTRUCTION_TOKENS = 400  # room kept for the system prompt and the reply's framing


class DeskPick(BaseModel):
    candidate: str
    title: str = Field(max_length=200)
    why: str = ""
    message_ids: list[str] = Field(default_factory=list)


class DeskReply(BaseModel):
    stories: list[DeskPick]


class EditorReply(BaseModel):
    headline: str
    supporting: list[str] = Field(default_factory=list)
    reason: str = ""


class QuotePick(BaseModel):
    message_id: str
    text: str


class ArticleDraft(BaseModel):
    story: str
    title: str = Field(max_length=200)
    summary: str = Field(max_length=2000)
    quotes: list[QuotePick] = Field(default_factory=list)


class ReporterReply(BaseModel):
    articles: list[ArticleDraft]


@dataclass
class EditionLedger:
    """Which engine wrote each part of an edition, what it cost, and what went wrong."""

    client: LLMClient
    engines: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    quote_fixes: int = 0

    @property
    def label(self) -> str:
        """The model's name, as editions report it."""
        return self.client.name

    @property
    def usage(self) -> UsageMeter:
        """What the edition's calls cost so far."""
        return self.client.usage

    def reset(self) -> None:
        """Start a new edition's accounts (and give the LLM a fresh chance)."""
        self.client.reset()
        self.engines.clear()
        self.warnings.clear()
        self.quote_fixes = 0

    def used_llm(self, role: str) -> None:
        """The LLM did this desk's work."""
        self.engines[role] = self.label

    def fell_back(self, role: str, problem: LLMUnavailable) -> None:
        """The offline twin did this desk's work because the LLM failed."""
        self.engines[role] = "offline (fallback)"
        self.warnings.append(f"{role}: the LLM failed, the offline engine stood in ({problem})")
        log.warning("desk fell back to offline", desk=role, problem=str(problem)[:300])

    @property
    def engine(self) -> str:
        """One word for the edition: the model, offline, or mixed."""
        values = set(self.engines.values())
        if values == {self.label}:
            return self.label
        if self.label not in values:
            return "offline"
        return "mixed"


def _representative(
    messages: Sequence[Message], cap: int, highlights: Sequence[str] = ()
) -> list[Message]:
    """The messages that tell a story best, at most ``cap`` of them, in time order; the
    desk's highlights first."""
    if len(messages) <= cap:
        return list(messages)
    replies_to = replies_received(messages)
    ranked = sorted(messages[1:], key=lambda m: (-quotable_score(m, replies_to), m.id))
    keep = {messages[0].id, *highlights[: cap - 1]}
    keep.update(m.id for m in ranked[: max(cap - len(keep), 0)])
    return [m for m in messages if m.id in keep]


def _labelled(stories: Sequence[Story]) -> dict[str, Story]:
    return {f"S{index}": story for index, story in enumerate(stories, start=1)}


class LLMNewsDesk:
    """Offline threading and scoring first; the model then judges a budgeted digest."""

    def __init__(self, ledger: EditionLedger, offline: OfflineNewsDesk, budget: int) -> None:
        self._client, self._ledger = ledger.client, ledger
        self._offline, self._budget = offline, budget

    async def find_stories(self, chat: Chat, *, include_all: bool = False) -> list[Story]:
        """See ``NewsDesk.find_stories``: the model's picks first, then the rest by score."""
        stories = await self._offline.find_stories(chat, include_all=include_all)
        if not stories:
            return stories
        try:
            picked = await self._pick(chat, stories)
        except LLMUnavailable as problem:
            self._ledger.fell_back("desk", problem)
            return stories
        self._ledger.used_llm("desk")
        chosen = {story.id for story in picked}
        return [*picked, *(story for story in stories if story.id not in chosen)]

    async def _pick(self, chat: Chat, stories: Sequence[Story]) -> list[Story]:
        by_id = {message.id: message for message in chat.messages}
        labelled = _labelled(stories[:DIGEST_CANDIDATES])
        shown: dict[str, list[Message]] = {
            label: _representative(
                [by_id[m] for m in story.message_ids if m in by_id], DESK_MESSAGES_PER_STORY
            )
            for label, story in labelled.items()
        }
        aliases = {
            message.id: f"m{number}"
            for number, message in enumerate(
                (message for messages in shown.values() for message in messages), start=1
            )
        }
        blocks = [
            story_block(label, labelled[label], messages, aliases)
            for label, messages in shown.items()
        ]
        digest = within_budget(blocks, self._budget - INSTRUCTION_TOKENS)
        prompt = "<chat>\n" + "\n".join(digest) + "\n</chat>"
        reply = await self._client.complete_json(
            DESK_SYSTEM, prompt, DeskReply, purpose="news desk"
        )
        real_id = {alias: message_id for message_id, alias in aliases.items()}
        picked: list[Story] = []
        for pick in reply.stories:
            label = pick.candidate.strip()
            story = labelled.get(label)
            if story is None or any(story.id == chosen.id for chosen in picked):
                continue
            own = {message.id for message in shown[label]}
            cited = [real_id.get(alias.strip(), "") for alias in pick.message_ids]
            title = defang(" ".join(pick.title.split())) or story.title
            picked.append(
                story.model_copy(
                    update={
                        "title": title,
                        "highlights": tuple(dict.fromkeys(m for m in cited if m in own)),
                    }
                )
            )
        if not picked:
            raise LLMUnavailable("news desk: the reply named no known candidate")
        return picked


class LLMEditor:
    """The model chooses the front page; the plan is checked against the stories given."""

    def __init__(self, ledger: EditionLedger, offline: OfflineEditor) -> None:
        self._client, self._ledger, self._offline = ledger.client, ledger, offline

    async def plan(self, stories: Sequence[Story], persona: Persona) -> EditorialPlan:
        """See ``EditorInChief.plan``."""
        try:
            plan = await self._plan(stories, persona)
        except LLMUnavailable as problem:
            self._ledger.fell_back("editor", problem)
            return await self._offline.plan(stories, persona)
        self._ledger.used_llm("editor")
        return plan

    async def _plan(self, stories: Sequence[Story], persona: Persona) -> EditorialPlan:
        ranked = sorted(stories[:DIGEST_CANDIDATES], key=lambda s: -persona_score(s, persona))
        labelled = _labelled(ranked[:12])
        reply = await self._client.complete_json(
            EDITOR_SYSTEM, editor_prompt(persona, labelled), EditorReply, purpose="editor"
        )
        headline = labelled.get(reply.headline.strip())
        if headline is None:
            raise LLMUnavailable(f"editor: unknown headline label {reply.headline!r}")
        supporting: list[Story] = []
        for label in reply.supporting:
            story = labelled.get(label.strip())
            if story is not None and story is not headline and story not in supporting:
                supporting.append(story)
        for story in labelled.values():  # top up a plan the model left short
            if len(supporting) >= MIN_SUPPORTING:
                break
            if story is not headline and story not in supporting:
                supporting.append(story)
        return EditorialPlan(
            persona=persona.name,
            headline_story_id=headline.id,
            supporting_story_ids=tuple(s.id for s in supporting[:MAX_SUPPORTING]),
            reason=defang(" ".join(reply.reason.split()))[:500] or "chosen by the editor",
        )


class LLMReporter:
    """The model writes; every quote is grounded in its message before it is printed."""

    def __init__(self, ledger: EditionLedger, offline: OfflineReporter, budget: int) -> None:
        self._client, self._ledger = ledger.client, ledger
        self._offline, self._budget = offline, budget

    async def write(
        self,
        chat: Chat,
        stories: Sequence[Story],
        plan: EditorialPlan,
        persona: Persona,
        window: TimeWindow,
    ) -> Newsletter:
        """See ``StarReporter.write``."""
        try:
            edition = await self._write(chat, stories, plan, persona, window)
        except LLMUnavailable as problem:
            self._ledger.fell_back("reporter", problem)
            return await self._offline.write(chat, stories, plan, persona, window)
        self._ledger.used_llm("reporter")
        return edition

    async def _write(
        self,
        chat: Chat,
        stories: Sequence[Story],
        plan: EditorialPlan,
        persona: Persona,
        window: TimeWindow,
    ) -> Newsletter:
        by_story = {story.id: story for story in stories}
        order = [plan.headline_story_id, *plan.supporting_story_ids]
        labelled = {f"S{index}": by_story[sid] for index, sid in enumerate(order, start=1)}
        needed = {mid for story in labelled.values() for mid in story.message_ids}
        by_id = {m.id: m for m in chat.messages if m.id in needed}
        blocks = [
            story_block(
                label,
                story,
                _representative(
                    [by_id[m] for m in story.message_ids],
                    REPORTER_MESSAGES_PER_STORY,
                    story.highlights,
                ),
                {},  # real ids: the reporter's quotes must cite them exactly
            )
            for label, story in labelled.items()
        ]
        brief = persona_brief(persona) + f"\nSign-off style: {voice_of(persona).sign_off}"
        budget = self._budget - INSTRUCTION_TOKENS - estimate_tokens(brief)
        prompt = brief + "\n<chat>\n" + "\n".join(within_budget(blocks, budget)) + "\n</chat>"
        reply = await self._client.complete_json(
            REPORTER_SYSTEM, prompt, ReporterReply, purpose="reporter"
        )
        drafts = {draft.story.strip(): draft for draft in reply.articles}
        articles: list[Article] = []
        for index, (label, story) in enumerate(labelled.items()):
            draft = drafts.get(label)
            if draft is None:
                if index == 0:
                    raise LLMUnavailable("reporter: no article for the headline story")
                continue
            articles.append(self._article(draft, story, by_id, index == 0))
        return assemble(chat, voice_of(persona), persona, window, articles, engine="llm")

    def _article(
        self, draft: ArticleDraft, story: Story, messages: Mapping[str, Message], lead: bool
    ) -> Article:
        quotes: list[Quote] = []
        for pick in draft.quotes[:3]:
            quote = self._ground(pick, story, messages)
            if quote is not None and all(q.message_id != quote.message_id for q in quotes):
                quotes.append(quote)
        return Article(
            role="headline" if lead else "supporting",
            title=defang(" ".join(draft.title.split())) or story.title,
            summary=defang(" ".join(draft.summary.split())),
            channel_id=story.channel_id,
            message_ids=story.message_ids,
            quotes=tuple(quotes),
        )

    def _ground(
        self, pick: QuotePick, story: Story, messages: Mapping[str, Message]
    ) -> Quote | None:
        """The quote as the data has it: verbatim, or the real line, or nothing."""
        message = messages.get(pick.message_id.strip())
        if message is None or message.id not in story.message_ids:
            self._ledger.quote_fixes += 1
            log.info("invented quote dropped", message_id=pick.message_id[:40])
            return None
        quote = Quote(
            message_id=message.id,
            author_id=message.author.id,
            author_name=safe_name(message.author.display_name),
            text=pick.text.strip() or "-",
            jump_url=message.jump_url,
        )
        if quote_matches(quote, message) and quote.text == defang(quote.text):
            return quote
        real = excerpt(display_content(message))
        self._ledger.quote_fixes += 1
        log.info("quote replaced by the real text", message_id=message.id)
        return quote.model_copy(update={"text": real}) if real else None
