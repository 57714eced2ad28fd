"""The composition root: every service the bot uses, opened once and closed once.

``open_services`` builds the store, the memory, the newsroom, the tip box and the live
pipeline from ``Settings`` and hands them to the bot in one object; extensions take what
they need from it and build nothing themselves. The Azure runtime opens the same services.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from snitch.config import LLMSettings, Settings
from snitch.editions import EditionDesk
from snitch.factcheck import HybridRetriever, build_judge
from snitch.factcheck.verdict import Judge
from snitch.ingest.live import LiveIngest
from snitch.log import get_logger
from snitch.memory.embeddings import Embedder
from snitch.memory.vectors import VectorStore
from snitch.newsroom.edition import Newsroom, build_newsroom
from snitch.newsroom.llm import aclose_chat_model, build_chat_model
from snitch.store import StoreBackend, open_backend
from snitch.store.guild_state import GuildState
from snitch.tips import TipBox, TipCipher
from snitch.tips.box import tips_key

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = get_logger(__name__)
OFFLINE = LLMSettings(provider="offline")


def utc_now() -> datetime:
    """The clock the bot runs on (tests pass their own)."""
    return datetime.now(UTC)


@dataclass
class Services:
    """What the bot's extensions work with."""

    settings: Settings
    store: StoreBackend
    tips: TipBox
    editions: EditionDesk
    ingest: LiveIngest
    retriever: HybridRetriever
    vectors: VectorStore | None = None
    embedder: Embedder | None = None
    clock: Callable[[], datetime] = field(default=utc_now)

    @property
    def state(self) -> GuildState:
        """Per-guild settings, opt-outs and schedules."""
        return self.store.guild_state

    chat_model: BaseChatModel | None = None  # one per process, shared by every edition

    def judge(self, llm_enabled: bool) -> Judge:
        """The fact-check judge for a guild: its LLM only when the guild allows one."""
        if not llm_enabled:
            return build_judge(OFFLINE)
        return build_judge(self.settings.llm, self.chat_model)

    def newsroom(self, llm_enabled: bool) -> Newsroom:
        """A fresh newsroom per edition (each LLM edition keeps its own accounts), on the
        process's one chat model."""
        if not llm_enabled:
            return build_newsroom(OFFLINE)
        return build_newsroom(self.settings.llm, model=self.chat_model)


@asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    memory: bool = True,
    embedder: Embedder | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> AsyncIterator[Services]:
    """Open everything the bot needs; close it all on the way out, whatever happened.

    ``embedder`` replaces the configured one (tests share one loaded model).
    """
    from snitch.archive import open_archive
    from snitch.memory.wiring import build_embedder_from, open_vectors

    async with await open_backend(settings) as store, open_archive(settings, store) as archive:
        vectors = await asyncio.to_thread(open_vectors, settings) if memory else None
        try:
            chosen = (embedder or build_embedder_from(settings)) if memory else None
            tips = TipBox(store.tips, TipCipher(tips_key(settings)), settings.tips)
            ingest = LiveIngest(
                store, store.guild_state, embedder=chosen, vectors=vectors, clock=clock
            )
            services = Services(
                settings=settings,
                store=store,
                tips=tips,
                editions=EditionDesk(
                    store=store,
                    state=store.guild_state,
                    archive=archive,
                    tips=tips,
                    newsroom=lambda llm: services.newsroom(llm),
                ),
                ingest=ingest,
                retriever=HybridRetriever(store, vectors, chosen),
                vectors=vectors,
                embedder=chosen,
                clock=clock,
            )
            if settings.llm.provider != "offline":
                services.chat_model = build_chat_model(settings.llm)
            ingest.start()
            try:
                yield services
            finally:
                await ingest.stop()
                if services.chat_model is not None:
                    await aclose_chat_model(services.chat_model)
        finally:
            if vectors is not None:
                vectors.close()
