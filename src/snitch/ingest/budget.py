"""How much one chunk of a chunked backfill may read before it hands over to the next.

Kept outside the bot's ingestion extension, whose modules discord.py reloads with the
extension, so the Functions runtime that sets the budget and the extension that spends it
share one class.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

# Well under the Functions' 10-minute timeout and the 5 minutes the host renews a message's
# lock for: a page that waits out rate limits still ends in time.
CHUNK_SECONDS: Final = 240.0


@dataclass(frozen=True)
class ChunkBudget:
    """A time limit, and optionally a number of pages. A chunk stops only between pages
    (after storing one), so it always reads at least one."""

    seconds: float = CHUNK_SECONDS
    pages: int | None = None

    def start(self) -> ChunkMeter:
        """A meter for one chunk, starting now."""
        return ChunkMeter(self, time.monotonic())


@dataclass
class ChunkMeter:
    """What one chunk has spent of its budget."""

    budget: ChunkBudget
    started: float
    pages: int = 0

    def page_read(self) -> None:
        """Count a full page read (and kept)."""
        self.pages += 1

    @property
    def spent(self) -> bool:
        """Whether the chunk should stop and hand the rest over."""
        if self.budget.pages is not None and self.pages >= self.budget.pages:
            return True
        return time.monotonic() - self.started >= self.budget.seconds
