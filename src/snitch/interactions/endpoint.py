"""The interactions endpoint wired up: a bot logged in over HTTP only, a runner, a worker.

Used by ``snitch serve``; the Functions app builds the same pieces with Service Bus in
place of the in-process job queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from snitch.bot.client import SnitchBot
from snitch.bot.services import Services
from snitch.errors import ConfigError
from snitch.interactions.asgi import InteractionsApp
from snitch.interactions.handler import InteractionHandler
from snitch.interactions.jobs import InteractionJob
from snitch.interactions.priority import DEFAULT_MAX_HOLD, Answering
from snitch.interactions.runner import TreeRunner
from snitch.interactions.signature import load_public_key
from snitch.log import get_logger
from snitch.telemetry import record_queue_lag

log = get_logger(__name__)

QUEUE_NAME = "interactions"  # in the snitch.queue.lag metric, as on Service Bus


class JobRunner(Protocol):
    """What the worker needs of the runner (``TreeRunner``)."""

    async def finish(self, job: InteractionJob) -> None:
        """Run a deferred command to the end."""

    async def drain(self) -> None:
        """Wait for commands still finishing."""


class LocalJobs:
    """The in-process queue of deferred commands, and the worker that finishes them.

    The worker gives way to the endpoint (see ``snitch.interactions.priority``): a job
    waits for a lull in requests, up to ``max_hold`` seconds, unless the queue is full.
    """

    def __init__(
        self,
        runner: JobRunner | None = None,
        maxsize: int = 5000,
        *,
        answering: Answering | None = None,
        max_hold: float = DEFAULT_MAX_HOLD,
    ) -> None:
        self.runner = runner
        self.answering = answering
        self._max_hold = max_hold
        self._queue: asyncio.Queue[tuple[InteractionJob, float]] = asyncio.Queue(maxsize)
        self._task: asyncio.Task[None] | None = None

    async def put(self, job: InteractionJob) -> None:
        """Queue a deferred command."""
        await self._queue.put((job, asyncio.get_running_loop().time()))

    def start(self) -> None:
        """Run the worker in the background."""
        self._task = asyncio.create_task(self._work(), name="snitch-interaction-worker")

    async def stop(self) -> None:
        """Finish the queued commands, then stop."""
        await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def drained(self) -> None:
        """Wait until every queued command has finished."""
        await self._queue.join()
        if self.runner is not None:
            await self.runner.drain()

    def _was_full(self) -> bool:
        """Whether the queue was full before the worker took its job: requests may be
        waiting to put theirs, so the worker must not wait for them to finish."""
        return 0 < self._queue.maxsize <= self._queue.qsize() + 1

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job, queued_at = await self._queue.get()
            try:
                if self.answering is not None and not self._was_full():
                    await self.answering.lull(queued_at + self._max_hold - loop.time())
                record_queue_lag(QUEUE_NAME, job.received_at)  # the hold for a lull included
                if self.runner is not None:
                    await self.runner.finish(job)
            except Exception:
                log.exception("deferred command failed", interaction=job.interaction_id)
            finally:
                self._queue.task_done()


@dataclass(frozen=True)
class Endpoint:
    """What ``interaction_endpoint`` opens."""

    app: InteractionsApp
    handler: InteractionHandler
    runner: TreeRunner
    jobs: LocalJobs
    bot: SnitchBot


@asynccontextmanager
async def interaction_endpoint(services: Services) -> AsyncIterator[Endpoint]:
    """Log the bot in over HTTP (no gateway), and serve its commands at the endpoint."""
    discord_settings = services.settings.discord
    if discord_settings.public_key is None:
        raise ConfigError(
            "no SNITCH_DISCORD__PUBLIC_KEY: copy the application's public key from the "
            "developer portal (General Information)"
        )
    if discord_settings.token is None:
        raise ConfigError("no SNITCH_DISCORD__TOKEN: the endpoint answers through the bot")
    key = load_public_key(discord_settings.public_key)
    bot = SnitchBot(services, runs_jobs=False)
    jobs = LocalJobs()
    try:
        await bot.login(discord_settings.token.get_secret_value())
        runner = TreeRunner(bot, bot.tree, jobs.put)
        handler = InteractionHandler(key, runner)
        jobs.runner = runner
        jobs.answering = handler.answering
        jobs.start()
        yield Endpoint(InteractionsApp(handler), handler, runner, jobs, bot)
        await jobs.stop()
        await runner.drain()
    finally:
        await bot.close()
