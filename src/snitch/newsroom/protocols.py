"""The three desks' interfaces. The offline engine implements them now; the LLM engine will too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from snitch.models import Chat, EditorialPlan, Newsletter, Persona, Story, TimeWindow


class NewsDesk(Protocol):
    """Finds the stories in a chat and scores how newsworthy each one is."""

    async def find_stories(self, chat: Chat, *, include_all: bool = False) -> list[Story]:
        """Stories best first; with ``include_all`` every message lands in exactly one story."""


class EditorInChief(Protocol):
    """Chooses the headline and supporting stories for a persona."""

    async def plan(self, stories: Sequence[Story], persona: Persona) -> EditorialPlan:
        """Pick the lead and 2-4 supporting stories, deterministically for the same input."""


class StarReporter(Protocol):
    """Writes the edition in the persona's voice, quoting real messages."""

    async def write(
        self,
        chat: Chat,
        stories: Sequence[Story],
        plan: EditorialPlan,
        persona: Persona,
        window: TimeWindow,
    ) -> Newsletter:
        """The finished edition; every quote is verbatim and linked."""
