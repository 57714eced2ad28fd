"""The newsroom as one service: desk, editor and reporter run in order on a window of chat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from snitch.config import LLMSettings
from snitch.errors import EmptyWindowError
from snitch.log import get_logger
from snitch.models import Chat, Newsletter, Persona, TimeWindow
from snitch.newsroom.desk import GroupingWeights, OfflineNewsDesk
from snitch.newsroom.editor import OfflineEditor
from snitch.newsroom.protocols import EditorInChief, NewsDesk, StarReporter
from snitch.newsroom.reporter import OfflineReporter

if TYPE_CHECKING:  # the LLM engine pulls in LangChain: imported only when it is used
    from langchain_core.language_models import BaseChatModel

    from snitch.memory.embeddings import Embedder
    from snitch.newsroom.chains import EditionLedger
    from snitch.newsroom.llm import RetryPolicy

log = get_logger(__name__)


def window_of(chat: Chat, since: datetime | None, until: datetime | None) -> TimeWindow:
    """The window an edition covers: what was asked for, else the span of the chat."""
    if not chat.messages:
        raise EmptyWindowError("no messages in the chosen window")
    first = chat.messages[0].timestamp
    last = chat.messages[-1].timestamp
    return TimeWindow(since=since or first, until=until or last)


@dataclass(frozen=True)
class Newsroom:
    """The three desks, wired together; any of them may be the offline or the LLM engine.

    An LLM-backed newsroom carries the ledger its desks write to; one edition is published
    at a time, and each starts with fresh accounts.
    """

    desk: NewsDesk
    editor: EditorInChief
    reporter: StarReporter
    ledger: EditionLedger | None = None

    async def publish(
        self,
        chat: Chat,
        persona: Persona,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Newsletter:
        """Write one edition about ``chat`` (already limited to the window) for ``persona``."""
        window = window_of(chat, since, until)
        if self.ledger is not None:
            self.ledger.reset()
        stories = await self.desk.find_stories(chat)
        if not stories:  # nothing newsworthy: let the editor choose among everything
            stories = await self.desk.find_stories(chat, include_all=True)
        plan = await self.editor.plan(stories, persona)
        edition = await self.reporter.write(chat, stories, plan, persona, window)
        if self.ledger is not None:
            edition = self._account(edition, self.ledger)
        log.info(
            "edition written",
            persona=persona.name,
            engine=edition.engine,
            messages=len(chat.messages),
            stories=len(stories),
            quotes=edition.quote_count,
            **edition.usage.model_dump(),
        )
        return edition

    @staticmethod
    def _account(edition: Newsletter, ledger: EditionLedger) -> Newsletter:
        """Stamp the edition with who wrote it, what it cost and what went wrong."""
        if ledger.quote_fixes:
            log.info("quotes grounded", fixed_or_dropped=ledger.quote_fixes)
        return edition.model_copy(
            update={
                "engine": ledger.engine,
                "engines": dict(ledger.engines),
                "warnings": tuple(ledger.warnings),
                "usage": ledger.usage.snapshot(),
            }
        )


def build_newsroom(
    settings: LLMSettings,
    weights: GroupingWeights | None = None,
    *,
    workers: int = 1,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    embedder: Embedder | None = None,
    model: BaseChatModel | None = None,
) -> Newsroom:
    """The newsroom the settings ask for: offline, or LLM desks with offline twins.

    The LLM engine (and LangChain, half a second of imports) loads only when asked for.
    With an ``embedder`` the offline desk also joins conversations on the same topic.
    A long-lived caller passes its one ``model`` so editions share its HTTP connections.
    """
    if settings.provider == "offline":
        return offline_newsroom(weights, workers=workers, embedder=embedder)
    import asyncio

    from snitch.newsroom.chains import EditionLedger, LLMEditor, LLMNewsDesk, LLMReporter
    from snitch.newsroom.llm import LLMClient, RetryPolicy, build_chat_model, model_label

    model = model or build_chat_model(settings)
    if model is None:  # pragma: no cover - only the offline provider has no model
        return offline_newsroom(weights, workers=workers, embedder=embedder)
    policy = retry or RetryPolicy(attempts=settings.max_retries + 1)
    client = LLMClient(
        model=model, name=model_label(settings), policy=policy, sleep=sleep or asyncio.sleep
    )
    ledger = EditionLedger(client)
    budget = settings.max_prompt_tokens
    return Newsroom(
        desk=LLMNewsDesk(
            ledger, OfflineNewsDesk(weights, workers=workers, embedder=embedder), budget
        ),
        editor=LLMEditor(ledger, OfflineEditor()),
        reporter=LLMReporter(ledger, OfflineReporter(), budget),
        ledger=ledger,
    )


def offline_newsroom(
    weights: GroupingWeights | None = None,
    *,
    workers: int = 1,
    embedder: Embedder | None = None,
) -> Newsroom:
    """The embedded default: no key, no network, deterministic."""
    return Newsroom(
        desk=OfflineNewsDesk(weights, workers=workers, embedder=embedder),
        editor=OfflineEditor(),
        reporter=OfflineReporter(),
    )
