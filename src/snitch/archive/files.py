"""The edition archive as files: the default, next to the embedded store in the data directory.

``<directory>/<guild_id>/<stamp>_<id>.json`` and ``.html`` beside it (see ``_format``). Each
file is written to a temporary name in the same folder, flushed to disk and renamed into
place (``os.replace`` is atomic on one file system), page first and record last: a crash
leaves at worst a stray temporary file or a page without its record, neither of which
``latest`` reads. Files are created readable by their owner only (they quote chat).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from snitch.archive._format import (
    check_guild_id,
    check_limit,
    decode,
    encode,
    html_name,
    json_name,
    new_edition,
    newest_first,
)
from snitch.errors import StoreError
from snitch.models import Newsletter
from snitch.render import render_html
from snitch.store.archive import ArchivedEdition

__all__ = ["FileEditionArchive"]

_PRIVATE_DIR = 0o700


class FileEditionArchive:
    """``EditionArchive`` on the local file system, one folder per guild."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    async def keep(
        self,
        newsletter: Newsletter,
        *,
        guild_id: str,
        published_at: datetime,
        slot: datetime | None = None,
        channel_id: str | None = None,
        discord_message_ids: Sequence[str] = (),
    ) -> ArchivedEdition:
        """See ``EditionArchive.keep``."""
        edition = new_edition(
            newsletter,
            guild_id=guild_id,
            published_at=published_at,
            slot=slot,
            channel_id=channel_id,
            discord_message_ids=discord_message_ids,
        )
        await asyncio.to_thread(self._write, edition)
        return edition

    async def latest(self, guild_id: str, limit: int = 1) -> list[ArchivedEdition]:
        """See ``EditionArchive.latest``."""
        check_guild_id(guild_id)
        check_limit(limit)
        if limit == 0:
            return []
        return await asyncio.to_thread(self._read_latest, guild_id, limit)

    def _write(self, edition: ArchivedEdition) -> None:
        folder = self.directory / edition.guild_id
        try:
            folder.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
            page = render_html(edition.newsletter).encode("utf-8")
            _write_atomically(folder / html_name(edition), page)
            _write_atomically(folder / json_name(edition), encode(edition))
            _sync_directory(folder)
        except OSError as exc:
            raise StoreError(
                f"edition archive: cannot write edition {edition.id} of guild "
                f"{edition.guild_id} in {folder}: {exc}"
            ) from exc

    def _read_latest(self, guild_id: str, limit: int) -> list[ArchivedEdition]:
        folder = self.directory / guild_id
        try:
            with os.scandir(folder) as entries:
                names = [entry.name for entry in entries if entry.is_file()]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"edition archive: cannot list {folder}: {exc}") from exc
        editions = []
        for name in newest_first(names, limit):
            path = folder / name
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise StoreError(f"edition archive: cannot read {path}: {exc}") from exc
            editions.append(decode(data, str(path)))
        return editions


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the whole file or no file."""
    # Same folder, so the rename never crosses file systems; mkstemp makes it mode 0600.
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as output:
            output.write(data)
            output.flush()
            # Without this, a power cut soon after the rename can leave an empty file.
            os.fsync(output.fileno())
        temporary.replace(path)  # os.replace: atomic, and overwrites on Windows too
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def _sync_directory(folder: Path) -> None:
    """Make the renames durable too (POSIX only: Windows cannot open a directory)."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
