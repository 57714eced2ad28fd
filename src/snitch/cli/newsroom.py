"""The newsroom's commands: stories, newsletter and the demo, straight from exports."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from snitch.cli.shared import (
    EmbeddingsOption,
    ExportArgs,
    PersonaOption,
    app,
    batch_work,
    grouping_weights,
    load_chat,
    newsroom_for,
    resolve_window,
    settings_of,
    stderr,
    topic_embedder,
    user_errors,
    with_llm,
    worker_count,
    write_output,
)
from snitch.models import Newsletter
from snitch.newsroom.desk import OfflineNewsDesk
from snitch.newsroom.personas import get_persona
from snitch.render.html import render_html

DEMO_SEED = 2026


class OutputFormat(StrEnum):
    """How ``snitch newsletter`` writes the edition."""

    markdown = "markdown"
    json = "json"
    html = "html"


def render(newsletter: Newsletter, fmt: OutputFormat) -> str:
    """The edition in the requested format."""
    if fmt is OutputFormat.json:
        return newsletter.model_dump_json(indent=2)
    if fmt is OutputFormat.html:
        return render_html(newsletter)
    return newsletter.body_markdown


@app.command()
def stories(
    ctx: typer.Context,
    exports: ExportArgs,
    include_all: Annotated[
        bool, typer.Option("--all", help="Every conversation, so the stories cover every message.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    embeddings: EmbeddingsOption = False,
) -> None:
    """List the stories the News Desk finds in the exports, best first."""
    settings = settings_of(ctx)
    with user_errors(), batch_work():
        chat = load_chat(exports)
        desk = OfflineNewsDesk(
            grouping_weights(settings),
            workers=worker_count(settings),
            embedder=topic_embedder(settings) if embeddings else None,
        )
        found = desk.find_stories_now(chat, include_all=include_all)
    if as_json:
        sys.stdout.write(json.dumps([s.model_dump(mode="json") for s in found], indent=2) + "\n")
        return
    table = Table(title=f"{len(found)} stories in {chat.guild.name}")
    for column in ("score", "title", "messages", "people", "start"):
        table.add_column(column, overflow="fold")
    for story in found:
        table.add_row(
            f"{story.score:.2f}",
            story.title,
            str(len(story.message_ids)),
            str(len(story.participants)),
            story.start.strftime("%Y-%m-%d %H:%M"),
        )
    Console().print(table)


@app.command()
def newsletter(
    ctx: typer.Context,
    exports: ExportArgs,
    persona: PersonaOption = None,
    since: Annotated[str | None, typer.Option(help="Start of the window (ISO date-time).")] = None,
    until: Annotated[str | None, typer.Option(help="End of the window (ISO date-time).")] = None,
    last: Annotated[
        str | None, typer.Option(help="Window length back from --until or now: 24h, 7d ...")
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.markdown,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")] = None,
    llm: Annotated[
        str | None, typer.Option("--llm", help="offline, groq, or openai (any compatible server).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="The LLM's model name.")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1")
    ] = None,
    embeddings: EmbeddingsOption = False,
) -> None:
    """Write an edition about the exports (whole span, or the chosen window)."""
    settings = with_llm(settings_of(ctx), llm, model, base_url)
    with user_errors(), batch_work():
        chosen = get_persona(persona or settings.newsroom.persona)
        start, end = resolve_window(since, until, last, datetime.now(UTC))
        chat = load_chat(exports, start, end)
        newsroom = newsroom_for(settings, embeddings=embeddings)
        edition = asyncio.run(newsroom.publish(chat, chosen, since=start, until=end))
        write_output(render(edition, fmt), out)
        # Freed while the collector is still paused: once it resumes, it would first scan
        # every object still alive that the batch made (0.1-0.2 s at 100,000 messages).
        del chat, newsroom
    for warning in edition.warnings:
        stderr.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


@app.command()
def demo(
    ctx: typer.Context,
    persona: PersonaOption = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.markdown,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")] = None,
    export_dir: Annotated[
        Path | None,
        typer.Option(help="Also keep the sample server's exports here, to try other commands."),
    ] = None,
) -> None:
    """Write an edition about a bundled sample server: no token, no key, no network."""
    from snitch.sources.synthetic import generate_server, write_dce_exports

    settings = settings_of(ctx)
    with user_errors(), batch_work():
        chosen = get_persona(persona or settings.newsroom.persona)
        server = generate_server(seed=DEMO_SEED, channels=5, messages=3000, days=2.0, planted=6)
        with tempfile.TemporaryDirectory(prefix="snitch-demo-") as scratch:
            directory = export_dir or Path(scratch)
            directory.mkdir(parents=True, exist_ok=True)
            chat = load_chat(write_dce_exports(server, directory))
        edition = asyncio.run(newsroom_for(settings).publish(chat, chosen))
        write_output(render(edition, fmt), out)
    if export_dir:
        stderr.print(f"sample exports kept in {export_dir}: try `snitch stories {export_dir}`")
