"""The offline Editor-in-Chief: ranks stories for a persona and picks the front page."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from snitch.errors import EmptyWindowError
from snitch.models import EditorialPlan, Persona, Story, StorySignals
from snitch.newsroom.scoring import is_newsworthy

MIN_SUPPORTING = 2
MAX_SUPPORTING = 4
SAME_CHANNEL_LIMIT = 2
SUPPORTING_FLOOR = 0.25  # a supporting story scores at least this share of the headline


def signal_value(signals: StorySignals, name: str) -> float:
    """One named signal as a number (the names personas weigh)."""
    value = getattr(signals, name, None)
    if value is None:
        raise KeyError(f"unknown story signal {name!r}")
    return float(value)


def persona_score(story: Story, persona: Persona) -> float:
    """The desk's score, tilted towards what this persona's readers come for."""
    tilt = sum(
        weight * math.log1p(signal_value(story.signals, name))
        for name, weight in persona.weights.items()
    )
    return story.score + tilt


class OfflineEditor:
    """Deterministic editor: same stories and persona, same front page."""

    async def plan(self, stories: Sequence[Story], persona: Persona) -> EditorialPlan:
        """See ``EditorInChief.plan``; pure computation, so nothing here awaits."""
        candidates = [story for story in stories if is_newsworthy(story.signals)]
        if not candidates:
            candidates = [story for story in stories if story.signals.participants > 0]
        if not candidates:
            raise EmptyWindowError("no human conversation in this window to write about")
        ranked = sorted(candidates, key=lambda story: (-persona_score(story, persona), story.id))
        headline, rest = ranked[0], ranked[1:]
        floor = persona_score(headline, persona) * SUPPORTING_FLOOR
        supporting: list[Story] = []
        per_channel: Counter[str] = Counter({headline.channel_id: 1})
        for story in rest:
            if len(supporting) >= MAX_SUPPORTING:
                break
            crowded = per_channel[story.channel_id] >= SAME_CHANNEL_LIMIT
            weak = persona_score(story, persona) < floor
            if (crowded or weak) and len(supporting) >= MIN_SUPPORTING:
                continue
            supporting.append(story)
            per_channel[story.channel_id] += 1
        return EditorialPlan(
            persona=persona.name,
            headline_story_id=headline.id,
            supporting_story_ids=tuple(story.id for story in supporting),
            reason=_reason(headline, persona),
        )


def _reason(story: Story, persona: Persona) -> str:
    signals = story.signals
    favourite = max(
        persona.weights,
        key=lambda name: (persona.weights[name] * math.log1p(signal_value(signals, name)), name),
    )
    return (
        f"Leads with '{story.title}': {signals.messages} messages from {signals.participants} "
        f"people, {signals.reactions} reactions; for {persona.display_name} its strongest "
        f"draw is {favourite} ({signal_value(signals, favourite):g})."
    )
