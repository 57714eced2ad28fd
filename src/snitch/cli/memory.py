"""The memory's commands: import, fact-check, and forgetting (forget, expire).

They work on the configured store and vector store. The heavy stacks (SQLAlchemy and
Alembic, chromadb, torch) are imported inside the commands, so the newsroom's commands
never pay for them at start-up.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from snitch.cli.shared import (
    ExportArgs,
    app,
    byte_progress,
    parse_duration,
    progress_bar,
    safe_url,
    settings_of,
    stderr,
    user_errors,
    with_llm,
)
from snitch.config import Settings
from snitch.errors import SnitchError

if TYPE_CHECKING:
    from snitch.factcheck import FactCheck
    from snitch.importer import ExportCheck, ImportSummary, Memory
    from snitch.memory.embeddings import Embedder
    from snitch.memory.vectors import VectorStore
    from snitch.models import Guild
    from snitch.store import StoreBackend


class GuildChoiceError(SnitchError):
    """The store holds no guild, or several and none was chosen."""


NoMemoryOption = Annotated[
    bool,
    typer.Option(
        "--no-memory", help="Only store the messages: no embeddings, so no semantic search."
    ),
]
GuildOption = Annotated[
    str | None,
    typer.Option("--guild", "-g", help="Guild id; needed when the store holds several."),
]


@dataclass(frozen=True)
class _Opened:
    """The configured store, and the memory unless it was turned off."""

    store: StoreBackend
    vectors: VectorStore | None = None
    embedder: Embedder | None = None

    @property
    def memory(self) -> Memory | None:
        from snitch.importer import Memory

        if self.vectors is None or self.embedder is None:
            return None
        return Memory(embedder=self.embedder, index=self.vectors)


@asynccontextmanager
async def _opened(
    settings: Settings, *, memory: bool, pick_guild: bool = False, guild: str | None = None
) -> AsyncIterator[tuple[_Opened, Guild | None]]:
    """Open the store, pick the guild (``guild``, or the only one) if asked, then the memory.

    The memory opens last, so a request that names a wrong guild creates no vector store.
    """
    from snitch.memory.wiring import build_embedder_from, open_vectors
    from snitch.store import open_backend

    async with await open_backend(settings) as store:
        chosen = await choose_guild(store, guild) if pick_guild else None
        if not memory:
            yield _Opened(store), chosen
            return
        vectors = await asyncio.to_thread(open_vectors, settings)
        try:
            yield _Opened(store, vectors, build_embedder_from(settings)), chosen
        finally:
            vectors.close()


def _check(exports: Sequence[Path]) -> ExportCheck:
    """The checking pass, with its own byte-level progress bar."""
    from snitch.importer import check_exports

    with byte_progress(exports, "Checking exports") as on_read:
        return check_exports(exports, on_read)


async def _ingest(
    store: StoreBackend, memory: Memory | None, checked: ExportCheck, verb: str
) -> ImportSummary:
    from snitch.importer import ingest_checked

    with progress_bar(checked.messages, verb, counting_bytes=False) as on_stored:
        return await ingest_checked(store, checked, memory=memory, on_stored=on_stored)


@app.command("import")
def import_(ctx: typer.Context, exports: ExportArgs, no_memory: NoMemoryOption = False) -> None:
    """Load exports into the store and the memory; re-importing changes nothing.

    Every file is checked before anything is written. A killed import is finished by
    running it again.
    """
    settings = settings_of(ctx)

    async def run(checked: ExportCheck) -> ImportSummary:
        async with _opened(settings, memory=not no_memory) as (opened, _):
            return await _ingest(opened.store, opened.memory, checked, "Importing")

    with user_errors():
        summary = asyncio.run(run(_check(exports)))
    stderr.print(
        f"imported {summary.messages:,} messages from {summary.files} file(s), "
        f"{summary.channels} channel(s) of {', '.join(summary.guilds)} into "
        f"{safe_url(settings.database_url)}" + ("" if no_memory else " and the semantic memory"),
        highlight=False,
    )


async def choose_guild(store: StoreBackend, wanted: str | None) -> Guild:
    """The guild asked for, or the only one stored; a clear error otherwise."""
    guilds = await store.guilds()
    listed = ", ".join(f"{guild.id} ({guild.name})" for guild in guilds)
    if wanted is not None:
        for guild in guilds:
            if guild.id == wanted:
                return guild
        raise GuildChoiceError(
            f"--guild {wanted}: no such guild in the store"
            + (f"; it holds {listed}" if guilds else "; it is empty (run `snitch import`)")
        )
    if not guilds:
        raise GuildChoiceError("the store is empty: run `snitch import EXPORT...` first")
    if len(guilds) > 1:
        raise GuildChoiceError(f"the store holds several guilds, pick one with --guild: {listed}")
    return guilds[0]


@app.command("fact-check")
def fact_check_command(
    ctx: typer.Context,
    claim: Annotated[str, typer.Argument(help='What to check, e.g. "alice promised cake".')],
    exports: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Check against these exports instead of the store (nothing is kept).",
            show_default=False,
        ),
    ] = None,
    guild: GuildOption = None,
    limit: Annotated[int, typer.Option(min=1, max=25, help="Pieces of evidence.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    no_memory: NoMemoryOption = False,
    llm: Annotated[
        str | None, typer.Option("--llm", help="offline, groq, or openai (any compatible server).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="The LLM's model name.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server.")] = None,
) -> None:
    """Check a claim against what was really said, with the messages as evidence."""
    from snitch.factcheck import HybridRetriever, build_judge, fact_check
    from snitch.factcheck.service import validate_claim

    settings = with_llm(settings_of(ctx), llm, model, base_url)

    async def check(opened: _Opened, chosen: Guild) -> FactCheck:
        retriever = HybridRetriever(opened.store, opened.vectors, opened.embedder)
        return await fact_check(
            claim, chosen.id, retriever=retriever, judge=build_judge(settings.llm), limit=limit
        )

    async def run() -> FactCheck:
        if not exports:
            opening = _opened(settings, memory=not no_memory, pick_guild=True, guild=guild)
            async with opening as (opened, chosen):
                if chosen is None:  # pragma: no cover - pick_guild always picks or raises
                    raise GuildChoiceError("no guild was picked")
                return await check(opened, chosen)
        # Exports: the same path as the bot's, on a store and memory that live only for
        # this command, in a scratch directory.
        checked = _check(exports)
        with tempfile.TemporaryDirectory(prefix="snitch-factcheck-") as scratch:
            scratch_settings = settings.model_copy(
                update={
                    "data_dir": Path(scratch),
                    "database": settings.database.model_copy(update={"url": None}),
                    "memory": settings.memory.model_copy(update={"chroma_host": None}),
                }
            )
            async with _opened(scratch_settings, memory=not no_memory) as (opened, _):
                await _ingest(opened.store, opened.memory, checked, "Reading")
                return await check(opened, await choose_guild(opened.store, guild))

    with user_errors():
        validate_claim(claim)
        result = asyncio.run(run())
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    _print_fact_check(result)


VERDICT_STYLE = {
    "supported": "bold green",
    "contradicted": "bold red",
    "not enough evidence": "bold yellow",
}


def _print_fact_check(result: FactCheck) -> None:
    out = Console(highlight=False, soft_wrap=True)
    style = VERDICT_STYLE.get(result.verdict.value, "bold")
    how = "keywords and meaning" if result.semantic else "keywords only"
    out.print(
        f"[{style}]{result.verdict.value.upper()}[/]  [dim]({result.engine}, {how})[/]",
    )
    out.print(escape(result.explanation))
    if not result.evidence:
        return
    out.print("\n[bold]Evidence[/]")
    for number, item in enumerate(result.evidence, start=1):
        cited = " [bold]*[/]" if item.message_id in result.cited_ids else ""
        when = item.timestamp.strftime("%Y-%m-%d %H:%M")
        out.print(f"{number:>2}. [bold]{escape(item.author_name)}[/] {when}{cited}")
        out.print(f'    "{escape(item.text)}"')
        out.print(f"    [link={item.jump_url}]{item.jump_url}[/link]")


@app.command()
def forget(
    ctx: typer.Context,
    author_id: Annotated[str, typer.Argument(help="The Discord user id to forget.")],
    guild: GuildOption = None,
) -> None:
    """Delete everything stored about one user in a guild: messages, vectors, archived quotes."""
    from snitch.archive import open_archive
    from snitch.privacy import forget_author

    settings = settings_of(ctx)

    async def run() -> tuple[str, int, int, int]:
        opening = _opened(settings, memory=True, pick_guild=True, guild=guild)
        async with opening as (opened, chosen):
            if chosen is None:  # pragma: no cover - pick_guild always picks or raises
                raise GuildChoiceError("no guild was picked")
            removed = await forget_author(opened.store, opened.vectors, chosen.id, author_id)
            async with open_archive(settings, opened.store) as archive:
                editions = await archive.forget_author(chosen.id, author_id)
            return chosen.name, removed.messages, removed.vectors, editions

    with user_errors():
        name, messages, vectors, editions = asyncio.run(run())
    stderr.print(
        f"forgot user {author_id} in {name}: {messages:,} messages, {vectors:,} vectors and "
        f"their quotes in {editions:,} archived editions removed",
        highlight=False,
    )


@app.command()
def expire(
    ctx: typer.Context,
    older_than: Annotated[
        str, typer.Option("--older-than", help="Remove messages older than this: 30d, 12w ...")
    ],
    guild: Annotated[
        str | None, typer.Option("--guild", "-g", help="Only this guild (default: all).")
    ] = None,
) -> None:
    """Retention: delete messages (and their vectors) older than a duration."""
    from snitch.privacy import expire_before

    settings = settings_of(ctx)
    cutoff = datetime.now(UTC) - parse_duration(older_than, "--older-than")

    async def run() -> list[tuple[str, int, int]]:
        opening = _opened(settings, memory=True, pick_guild=guild is not None, guild=guild)
        async with opening as (opened, chosen):
            guilds = [chosen] if chosen else await opened.store.guilds()
            results = []
            for each in guilds:
                removed = await expire_before(opened.store, opened.vectors, each.id, cutoff)
                results.append((each.name, removed.messages, removed.vectors))
            return results

    with user_errors():
        results = asyncio.run(run())
    for name, messages, vectors in results:
        stderr.print(
            f"{name}: {messages:,} messages and {vectors:,} vectors from before "
            f"{cutoff:%Y-%m-%d %H:%M} UTC removed",
            highlight=False,
        )
    if not results:
        stderr.print("the store holds no guild: nothing to expire", highlight=False)
