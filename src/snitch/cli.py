"""The ``snitch`` command line. Settings are built once here and passed down."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from snitch.config import LLMSettings, Settings, load_settings
from snitch.errors import SnitchError
from snitch.log import configure_logging
from snitch.models import Chat, Newsletter
from snitch.newsroom.desk import GroupingWeights, OfflineNewsDesk
from snitch.newsroom.edition import Newsroom, build_newsroom
from snitch.newsroom.personas import PERSONAS, get_persona
from snitch.render.html import render_html
from snitch.sources.dce import ProgressCallback, expand_paths, load_exports

app = typer.Typer(
    name="snitch",
    help="The Snitch: a tabloid newsletter about your Discord server's chat.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
stderr = Console(stderr=True)

DEMO_SEED = 2026
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class OutputFormat(StrEnum):
    """How ``snitch newsletter`` writes the edition."""

    markdown = "markdown"
    json = "json"
    html = "html"


ExportArgs = Annotated[
    list[Path],
    typer.Argument(help="DiscordChatExporter JSON files, or folders of them.", show_default=False),
]
PersonaOption = Annotated[
    str | None,
    typer.Option("--persona", "-p", help=f"Who writes the edition: {', '.join(PERSONAS)}."),
]


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    if not isinstance(settings, Settings):  # pragma: no cover - the callback always sets it
        raise typer.Exit(code=2)
    return settings


@app.callback()
def _startup(ctx: typer.Context) -> None:
    """Build the settings and logging once, for every command."""
    try:
        settings = load_settings()
    except SnitchError as exc:
        _fail(str(exc))
    configure_logging(settings.log.level, settings.log.format)
    ctx.obj = settings


def _weights(settings: Settings) -> GroupingWeights:
    return GroupingWeights(gap_seconds=settings.newsroom.gap_minutes * 60.0)


def _workers(settings: Settings) -> int:
    return settings.newsroom.workers or os.cpu_count() or 1


def _newsroom(settings: Settings) -> Newsroom:
    """The newsroom the settings ask for: offline, or LLM desks with offline fallbacks."""
    return build_newsroom(settings.llm, _weights(settings), workers=_workers(settings))


def _with_llm(
    settings: Settings, provider: str | None, model: str | None, base_url: str | None
) -> Settings:
    """Command-line LLM choices override the environment, validated like it."""
    overrides = {
        key: value
        for key, value in (("provider", provider), ("model", model), ("base_url", base_url))
        if value is not None
    }
    if not overrides:
        return settings
    try:
        llm = LLMSettings.model_validate({**settings.llm.model_dump(), **overrides})
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"], param_hint="--llm") from None
    if llm.provider == "groq" and llm.api_key is None and settings.groq_api_key:
        llm = llm.model_copy(update={"api_key": settings.groq_api_key})
    return settings.model_copy(update={"llm": llm})


def _fail(message: str) -> typer.Exit:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


@contextmanager
def _batch() -> Iterator[None]:
    """Pause the cyclic garbage collector for one command's batch work.

    Reading an export allocates millions of objects that hold no reference cycles, so the
    collector frees nothing, yet it rescans them again and again: at 100,000 messages that
    was a sixth of the run. Reference counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _user_errors() -> Iterator[None]:
    """Problems the user can fix become one line on stderr and exit code 1, no traceback."""
    try:
        yield
    except SnitchError as exc:
        _fail(str(exc))


def parse_moment(text: str, option: str) -> datetime:
    """An ISO date or date-time; naive values are taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO date or date-time (e.g. 2026-11-20 or 2026-11-20T18:00)",
            param_hint=option,
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_duration(text: str) -> timedelta:
    """``90m``, ``24h``, ``7d`` or ``2w``."""
    match = DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise typer.BadParameter(
            f"{text!r} is not a duration like 90m, 24h, 7d or 2w", param_hint="--last"
        )
    return timedelta(**{DURATION_UNITS[match.group(2).lower()]: float(match.group(1))})


def resolve_window(
    since: str | None, until: str | None, last: str | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """``--since``/``--until`` as given, or ``--last`` counted back from ``--until`` or now."""
    if last and since:
        raise typer.BadParameter("use either --since or --last, not both", param_hint="--last")
    end = parse_moment(until, "--until") if until else None
    start = parse_moment(since, "--since") if since else None
    if last:
        end = end or now
        start = end - parse_duration(last)
    if start and end and start >= end:
        raise typer.BadParameter(f"--since ({start}) must be before --until ({end})")
    return start, end


@contextmanager
def _progress(paths: Sequence[Path], verb: str) -> Iterator[ProgressCallback]:
    """A byte-level progress bar over the exports, shown only on a terminal."""
    total = sum(path.stat().st_size for path in expand_paths(paths))
    with Progress(
        TextColumn(f"[bold]{verb}[/]"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    ) as progress:
        task = progress.add_task(verb, total=total)
        yield lambda size: progress.advance(task, size)


def _load(
    paths: Sequence[Path], since: datetime | None = None, until: datetime | None = None
) -> Chat:
    with _progress(paths, "Reading exports") as on_read:
        return load_exports(paths, since=since, until=until, on_read=on_read)


def write_output(text: str, out: Path | None) -> None:
    """Print, or write the whole file at once: a failed run never leaves half a file behind."""
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        Path(temporary).replace(out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    stderr.print(f"wrote {out}", highlight=False)


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
) -> None:
    """List the stories the News Desk finds in the exports, best first."""
    settings = _settings(ctx)
    with _user_errors(), _batch():
        chat = _load(exports)
        desk = OfflineNewsDesk(_weights(settings), workers=_workers(settings))
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
) -> None:
    """Write an edition about the exports (whole span, or the chosen window)."""
    settings = _with_llm(_settings(ctx), llm, model, base_url)
    with _user_errors(), _batch():
        chosen = get_persona(persona or settings.newsroom.persona)
        start, end = resolve_window(since, until, last, datetime.now(UTC))
        chat = _load(exports, start, end)
        newsroom = _newsroom(settings)
        edition = asyncio.run(newsroom.publish(chat, chosen, since=start, until=end))
        write_output(render(edition, fmt), out)
    for warning in edition.warnings:
        stderr.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


@app.command("import")
def import_(ctx: typer.Context, exports: ExportArgs) -> None:
    """Load exports into the store (SQLite by default); re-importing changes nothing."""
    # Imported here: the store stack (SQLAlchemy, Alembic) costs half a second at start-up
    # that the commands which never touch the store should not pay.
    from snitch.importer import ImportSummary, import_exports
    from snitch.store import open_store

    settings = _settings(ctx)

    async def run(on_read: ProgressCallback) -> ImportSummary:
        async with await open_store(settings) as store:
            return await import_exports(store, exports, on_read=on_read)

    with _user_errors(), _progress(exports, "Importing") as on_read:
        summary = asyncio.run(run(on_read))
    stderr.print(
        f"imported {summary.messages:,} messages from {summary.files} file(s), "
        f"{summary.channels} channel(s) of {', '.join(summary.guilds)} into "
        f"{_safe_url(settings.database_url)}",
        highlight=False,
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


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

    settings = _settings(ctx)
    with _user_errors(), _batch():
        chosen = get_persona(persona or settings.newsroom.persona)
        server = generate_server(seed=DEMO_SEED, channels=5, messages=3000, days=2.0, planted=6)
        with tempfile.TemporaryDirectory(prefix="snitch-demo-") as scratch:
            directory = export_dir or Path(scratch)
            directory.mkdir(parents=True, exist_ok=True)
            chat = _load(write_dce_exports(server, directory))
        edition = asyncio.run(_newsroom(settings).publish(chat, chosen))
        write_output(render(edition, fmt), out)
    if export_dir:
        stderr.print(f"sample exports kept in {export_dir}: try `snitch stories {export_dir}`")


def main() -> None:
    """Entry point of the ``snitch`` script."""
    app()
