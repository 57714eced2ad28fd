"""Answers first: deferred work waits for a lull in requests.

Discord fails an interaction whose HTTP request is not answered within 3 seconds, while a
deferred command has 15 minutes to finish. In a process that does both (``snitch serve``),
a burst of requests is therefore answered first and the deferred work it queued runs in
the lull after it. Two limits keep that from starving the work: a job is never held longer
than ``max_hold``, so under a sustained load the work shares the process again, and a
queue that is full is worked at once, so the endpoint never waits behind its own worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

DEFAULT_MAX_HOLD: Final = 2.0  # seconds a deferred job may wait for a lull


class Answering:
    """How many requests the endpoint is answering right now, and a way to wait for none."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._lull = asyncio.Event()
        self._lull.set()

    @property
    def in_flight(self) -> int:
        """Requests being answered."""
        return self._in_flight

    def started(self) -> None:
        """A request came in."""
        self._in_flight += 1
        if self._in_flight == 1:
            self._lull.clear()

    def finished(self) -> None:
        """A request was answered."""
        self._in_flight -= 1
        if self._in_flight == 0:
            self._lull.set()

    async def lull(self, longest: float) -> bool:
        """Wait until no request is being answered, ``longest`` seconds at most; whether
        the lull came."""
        if self._in_flight == 0:
            return True
        if longest <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(longest):
                await self._lull.wait()
                return True
        return False
