"""What the Functions app runs on: the bot's services and commands, opened once per worker.

A Functions worker process lives across invocations, so the runtime opens the store, the
memory, the newsroom and a bot logged in over HTTP (no gateway) on first use and keeps
them. Every function is then a few lines over the same services ``snitch run`` uses: no
command or newsroom logic is written twice.

One difference: nothing may outlive an invocation (the host recycles idle instances, and
scales in), so the bot reads a backfill not in a background task but as a chain of chunks
on the interactions queue (``send_backfill``), each read, stored and continued by one
invocation of the interaction worker (``backfill``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from snitch.bot.client import SendBackfill, SnitchBot, use_api_base
from snitch.bot.services import Services, open_services
from snitch.config import Settings, load_settings
from snitch.errors import ConfigError
from snitch.ingest.budget import ChunkBudget
from snitch.interactions.handler import HttpReply, InteractionHandler
from snitch.interactions.jobs import InteractionJob
from snitch.interactions.runner import TreeRunner
from snitch.interactions.signature import load_public_key
from snitch.log import get_logger
from snitch.queues.schema import BackfillCursor, MessagesDeleted, MessagesUpserted

log = get_logger(__name__)

SendJob = Callable[[InteractionJob], Awaitable[None]]
Check = Callable[[], Awaitable[None]]


class ScheduleJobs(Protocol):
    """The editions extension's jobs (``EditionJobs``), as the timer uses them."""

    async def run_schedule(self, now: datetime) -> list[str]:
        """Publish every due edition exactly once."""


class BackfillChunks(Protocol):
    """The ingestion extension (``Ingestion``), as the interaction worker reads backfills."""

    async def backfill_chunk(
        self, cursor: BackfillCursor, budget: ChunkBudget
    ) -> BackfillCursor | None:
        """Read and store one chunk; the cursor of the rest, or None when done."""


@dataclass
class AzureRuntime:
    """The opened services, the HTTP-only bot and the interaction runner."""

    services: Services
    bot: SnitchBot
    runner: TreeRunner
    handler: InteractionHandler
    send_backfill: SendBackfill
    checks: dict[str, Check] = field(default_factory=dict)
    backfill_budget: ChunkBudget = field(default_factory=ChunkBudget)

    async def interaction(self, body: bytes, headers: Mapping[str, str]) -> HttpReply:
        """One request to the interactions endpoint."""
        return await self.handler.handle(body, headers)

    async def finish(self, job: InteractionJob) -> None:
        """Run a deferred command to the end (the interaction worker)."""
        await self.runner.finish(job)
        await self.runner.drain()

    async def backfill(self, cursor: BackfillCursor) -> BackfillCursor | None:
        """Read and store one chunk of a backfill, then queue the rest (the interaction
        worker). A failure before the next chunk is queued lets the queue deliver this one
        again: it reads the same pages, and storing them again is an upsert."""
        chunks = self.bot.get_cog("Ingestion")
        if chunks is None:  # pragma: no cover - the ingestion extension is always loaded
            raise RuntimeError("the ingestion extension is not loaded")
        following = await cast(BackfillChunks, chunks).backfill_chunk(cursor, self.backfill_budget)
        if following is not None:
            await self.send_backfill(following)
        return following

    async def ingest(self, envelope: MessagesUpserted | MessagesDeleted) -> int:
        """Store (or remove) what a gateway forwarded, before the invocation ends."""
        ingest = self.services.ingest
        if isinstance(envelope, MessagesDeleted):
            return await ingest.delete(list(envelope.message_ids), guild_id=envelope.guild_id)
        return await ingest.store_now(
            envelope.messages, guild=envelope.guild, channels=envelope.channels
        )

    async def publish_due(self, now: datetime) -> list[str]:
        """Every edition due at ``now``, each exactly once across instances."""
        jobs = self.bot.get_cog("EditionJobs")
        if jobs is None:  # pragma: no cover - the editions extension is always loaded
            raise RuntimeError("the editions extension is not loaded")
        return await cast(ScheduleJobs, jobs).run_schedule(now)

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Each dependency's state; healthy only when all answer."""
        report: dict[str, Any] = {}
        healthy = True
        for name, check in self.checks.items():
            started = time.perf_counter()
            try:
                await asyncio.wait_for(check(), timeout=5)
            except Exception as exc:  # a health check reports, it never raises
                healthy = False
                report[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
            else:
                elapsed = round((time.perf_counter() - started) * 1000, 1)
                report[name] = {"ok": True, "ms": elapsed}
        return healthy, report


def default_checks(services: Services) -> dict[str, Check]:
    """The store and the vector store; the queue adds its own."""

    async def store() -> None:
        await services.store.count_messages()

    async def vectors() -> None:
        if services.vectors is not None:
            await asyncio.to_thread(services.vectors.count)

    return {"store": store, "vectors": vectors}


async def open_runtime(
    stack: AsyncExitStack,
    settings: Settings,
    send_job: SendJob,
    *,
    send_backfill: SendBackfill,
    backfill_budget: ChunkBudget | None = None,
    queue_check: Check | None = None,
    embedder: Any = None,
    clock: Callable[[], datetime] | None = None,
) -> AzureRuntime:
    """Open everything on ``stack`` (closed when the worker shuts down). ``send_job`` and
    ``send_backfill`` put deferred commands and backfill chunks on the interactions queue."""
    discord_settings = settings.discord
    if discord_settings.token is None:
        raise ConfigError("no SNITCH_DISCORD__TOKEN: the Functions answer through the bot")
    if discord_settings.public_key is None:
        raise ConfigError("no SNITCH_DISCORD__PUBLIC_KEY: it verifies Discord's requests")
    key = load_public_key(discord_settings.public_key)
    use_api_base(discord_settings.api_base)
    opening = (
        open_services(settings, embedder=embedder, clock=clock)
        if clock
        else open_services(settings, embedder=embedder)
    )
    services = await stack.enter_async_context(opening)
    bot = SnitchBot(services, runs_jobs=False, send_backfill=send_backfill)
    stack.push_async_callback(bot.close)
    await bot.login(discord_settings.token.get_secret_value())
    runner = TreeRunner(bot, bot.tree, send_job)
    stack.push_async_callback(runner.drain)
    checks = default_checks(services)
    if queue_check is not None:
        checks["queue"] = queue_check
    return AzureRuntime(
        services,
        bot,
        runner,
        InteractionHandler(key, runner),
        send_backfill,
        checks,
        backfill_budget or ChunkBudget(),
    )


RuntimeFactory = Callable[[AsyncExitStack], Awaitable[AzureRuntime]]


class RuntimeHolder:
    """The process-wide runtime, opened on first use (and re-openable in tests)."""

    def __init__(self, factory: RuntimeFactory | None = None) -> None:
        self._factory = factory
        self._runtime: AzureRuntime | None = None
        self._stack: AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    def use(self, factory: RuntimeFactory) -> None:
        """Open runtimes with ``factory`` from now on (tests; a custom host)."""
        self._factory = factory

    async def get(self) -> AzureRuntime:
        """The runtime, opening it if this worker has not yet."""
        async with self._lock:
            if self._runtime is None:
                factory = self._factory or production_runtime
                stack = AsyncExitStack()
                try:
                    self._runtime = await factory(stack)
                except BaseException:
                    await stack.aclose()
                    raise
                self._stack = stack
            return self._runtime

    async def close(self) -> None:
        """Close what the runtime opened."""
        async with self._lock:
            if self._stack is not None:
                await self._stack.aclose()
            self._stack = None
            self._runtime = None


async def production_runtime(stack: AsyncExitStack) -> AzureRuntime:
    """Settings from the app settings (and Key Vault), jobs on Service Bus, telemetry on."""
    from snitch.queues.interactions import InteractionJobQueue
    from snitch.queues.servicebus import open_servicebus
    from snitch.telemetry import configure_telemetry

    settings = load_settings()
    configure_telemetry(settings)
    client = await stack.enter_async_context(open_servicebus(settings.servicebus))
    jobs = await stack.enter_async_context(
        InteractionJobQueue.from_settings(client, settings.servicebus)
    )
    return await open_runtime(
        stack, settings, jobs.put, send_backfill=jobs.put_backfill, queue_check=jobs.reachable
    )
