"""Answers first: deferred work waits for a lull in requests.

Discord fails an interaction whose HTTP request is not answered within 3 seconds, while a
deferred command has 15 minutes to finish. In a process that does both (``snitch serve``),
a burst of requests is therefore answered first and the deferred work it queued runs in
the lull after it (a moment with no request being answered and none just arrived, which a
steady trickle of requests leaves between each two). Two limits keep that from starving
the work: a job is never held longer than ``max_hold``, so under a sustained load the
work shares the process again, and a queue that is full is worked at once, so the
endpoint never waits behind its own worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Final

DEFAULT_MAX_HOLD: Final = 2.0  # seconds a deferred job may wait for a lull
# A lull is this long without a new request and with none being answered: long enough to
# tell a burst (requests fractions of a millisecond apart) from a steady trickle.
QUIET_SECONDS: Final = 0.002


class Answering:
    """How many requests the endpoint is answering right now, and a way to wait for a lull."""

    def __init__(self, quiet: float = QUIET_SECONDS) -> None:
        self._quiet = quiet
        self._in_flight = 0
        self._last_started = float("-inf")
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        """Requests being answered."""
        return self._in_flight

    def started(self) -> None:
        """A request came in."""
        self._in_flight += 1
        self._last_started = time.monotonic()  # the event loop's clock, without the lookup
        if self._in_flight == 1:
            self._idle.clear()

    def finished(self) -> None:
        """A request was answered."""
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    async def lull(self, longest: float) -> bool:
        """Wait until no request is being answered and none came in for a moment,
        ``longest`` seconds at most; whether the lull came."""
        deadline = time.monotonic() + longest
        while True:
            now = time.monotonic()
            quiet_from = self._last_started + self._quiet
            if self._in_flight == 0 and now >= quiet_from:
                return True
            if now >= deadline:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(deadline - now):
                    if self._in_flight:
                        await self._idle.wait()
                    else:
                        await asyncio.sleep(quiet_from - now)
