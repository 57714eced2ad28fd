"""The newsroom as one service: desk, editor and reporter run in order on a window of chat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from snitch.errors import EmptyWindowError
from snitch.log import get_logger
from snitch.models import Chat, Newsletter, Persona, TimeWindow
from snitch.newsroom.desk import GroupingWeights, OfflineNewsDesk
from snitch.newsroom.editor import OfflineEditor
from snitch.newsroom.protocols import EditorInChief, NewsDesk, StarReporter
from snitch.newsroom.reporter import OfflineReporter

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
    """The three desks, wired together; any of them may be the offline or the LLM engine."""

    desk: NewsDesk
    editor: EditorInChief
    reporter: StarReporter

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
        stories = await self.desk.find_stories(chat)
        if not stories:  # nothing newsworthy: let the editor choose among everything
            stories = await self.desk.find_stories(chat, include_all=True)
        plan = await self.editor.plan(stories, persona)
        edition = await self.reporter.write(chat, stories, plan, persona, window)
        log.info(
            "edition written",
            persona=persona.name,
            engine=edition.engine,
            messages=len(chat.messages),
            stories=len(stories),
            quotes=edition.quote_count,
        )
        return edition


def offline_newsroom(weights: GroupingWeights | None = None, *, workers: int = 1) -> Newsroom:
    """The embedded default: no key, no network, deterministic."""
    return Newsroom(
        desk=OfflineNewsDesk(weights, workers=workers),
        editor=OfflineEditor(),
        reporter=OfflineReporter(),
    )
