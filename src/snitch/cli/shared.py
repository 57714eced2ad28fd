"""What every ``snitch`` command shares: the app, settings, errors, progress and output.

Settings are built once, in the app callback, and passed down from the context."""

from __future__ import annotations

import atexit
import gc
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from snitch.config import LLMSettings, Settings, load_settings
from snitch.errors import SnitchError
from snitch.log import configure_logging
from snitch.models import Chat
from snitch.newsroom.desk import GroupingWeights
from snitch.newsroom.edition import Newsroom, build_newsroom
from snitch.newsroom.personas import PERSONAS
from snitch.sources.dce import ProgressCallback, expand_paths, load_exports

if TYPE_CHECKING:
    from snitch.memory.embeddings import Embedder

app = typer.Typer(
    name="snitch",
    help="The Snitch: a tabloid newsletter about your Discord server's chat.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
stderr = Console(stderr=True)

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


ExportArgs = Annotated[
    list[Path],
    typer.Argument(help="DiscordChatExporter JSON files, or folders of them.", show_default=False),
]
PersonaOption = Annotated[
    str | None,
    typer.Option("--persona", "-p", help=f"Who writes the edition: {', '.join(PERSONAS)}."),
]


def settings_of(ctx: typer.Context) -> Settings:
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
        fail(str(exc))
    configure_logging(settings.log.level, settings.log.format)
    ctx.obj = settings


def grouping_weights(settings: Settings) -> GroupingWeights:
    return GroupingWeights(gap_seconds=settings.newsroom.gap_minutes * 60.0)


def worker_count(settings: Settings) -> int:
    return settings.newsroom.workers or os.cpu_count() or 1


def newsroom_for(settings: Settings, *, embeddings: bool = False) -> Newsroom:
    """The newsroom the settings ask for: offline, or LLM desks with offline fallbacks;
    with ``embeddings`` the desk also joins conversations on the same topic."""
    return build_newsroom(
        settings.llm,
        grouping_weights(settings),
        workers=worker_count(settings),
        embedder=topic_embedder(settings) if embeddings else None,
    )


def topic_embedder(settings: Settings) -> Embedder:
    """The configured embedder, for the desk's same-topic pass (loads torch lazily)."""
    from snitch.memory.wiring import build_embedder_from

    return build_embedder_from(settings)


EmbeddingsOption = Annotated[
    bool,
    typer.Option(
        "--embeddings",
        help="Also join conversations on the same topic using sentence embeddings: "
        "better stories, but about a minute per 3,000 messages on a CPU.",
    ),
]


def with_llm(
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


def fail(message: str) -> typer.Exit:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


@contextmanager
def batch_work() -> Iterator[None]:
    """Pause the cyclic garbage collector for one command's batch work.

    Reading an export allocates millions of objects that hold no reference cycles, so the
    collector frees nothing, yet it rescans them again and again: at 100,000 messages that
    was a sixth of the run. Reference counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    # At exit the interpreter runs one last collection over everything still alive (the
    # imports alone are several hundred thousand objects), all about to be freed anyway:
    # frozen, they are skipped. Registered once, whatever the number of batches.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def user_errors() -> Iterator[None]:
    """Problems the user can fix become one line on stderr and exit code 1, no traceback."""
    try:
        yield
    except SnitchError as exc:
        fail(str(exc))


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


def parse_duration(text: str, option: str = "--last") -> timedelta:
    """``90m``, ``24h``, ``7d`` or ``2w``."""
    match = DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise typer.BadParameter(
            f"{text!r} is not a duration like 90m, 24h, 7d or 2w", param_hint=option
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
def progress_bar(total: int, verb: str, *, counting_bytes: bool) -> Iterator[ProgressCallback]:
    """A progress bar on stderr, shown only on a terminal; advance it by the callback."""
    amount = DownloadColumn() if counting_bytes else MofNCompleteColumn()
    with Progress(
        TextColumn(f"[bold]{verb}[/]"),
        BarColumn(),
        amount,
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    ) as progress:
        task = progress.add_task(verb, total=total)
        yield lambda size: progress.advance(task, size)


def byte_progress(paths: Sequence[Path], verb: str) -> AbstractContextManager[ProgressCallback]:
    """A byte-level progress bar over the exports."""
    total = sum(path.stat().st_size for path in expand_paths(paths))
    return progress_bar(total, verb, counting_bytes=True)


def load_chat(
    paths: Sequence[Path], since: datetime | None = None, until: datetime | None = None
) -> Chat:
    with byte_progress(paths, "Reading exports") as on_read:
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


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
