"""The edition archive as files: the default, next to the embedded store in the data directory.

``<directory>/<guild_id>/<stamp>_<id>.json`` and ``.html`` beside it (see ``_format``). Each
file is written to a temporary name in the same folder, flushed to disk and renamed into
place (``os.replace`` is atomic on one file system), page first and record last: a crash
leaves at worst a stray temporary file or a page without its record, neither of which
``latest`` reads. Files are created readable by their owner only (they quote chat).

``forget_author`` rewrites an edition the same way, page first: a crash between the two
leaves the record unredacted, so running it again finishes the job. It holds a lock for the
whole read-redact-write, so two members forgotten at once in one process both stay
forgotten (the file archive is one process's data directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from snitch.archive._format import (
    check_forget,
    check_guild_id,
    check_limit,
    decode,
    encode,
    json_name,
    new_edition,
    newest_first,
)
from snitch.archive.redact import forgotten_names, redact
from snitch.errors import StoreError
from snitch.models import Newsletter
from snitch.render import render_html
from snitch.store.archive import ArchivedEdition

__all__ = ["FileEditionArchive"]

_PRIVATE_DIR = 0o700
# Forgetting reads, redacts and rewrites editions: one at a time, whatever the archive object.
_FORGETTING = threading.Lock()


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

    async def forget_author(
        self, guild_id: str, author_id: str, *, names: Sequence[str] = ()
    ) -> int:
        """See ``EditionArchive.forget_author``."""
        listed = check_forget(guild_id, author_id, names)
        return await asyncio.to_thread(self._forget, guild_id, author_id, listed)

    def _write(self, edition: ArchivedEdition, record: Path | None = None) -> None:
        """The page, then the record: at the edition's own names, or over ``record`` (and
        the page beside it) when rewriting one that was read."""
        folder = self.directory / edition.guild_id if record is None else record.parent
        record = folder / json_name(edition) if record is None else record
        try:
            folder.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
            page = render_html(edition.newsletter).encode("utf-8")
            _write_atomically(record.with_name(record.name.removesuffix(".json") + ".html"), page)
            _write_atomically(record, encode(edition))
            _sync_directory(folder)
        except OSError as exc:
            raise StoreError(
                f"edition archive: cannot write edition {edition.id} of guild "
                f"{edition.guild_id} in {folder}: {exc}"
            ) from exc

    def _read_latest(self, guild_id: str, limit: int) -> list[ArchivedEdition]:
        return [edition for _, edition in self._read(guild_id, limit)]

    def _read(self, guild_id: str, limit: int | None) -> list[tuple[Path, ArchivedEdition]]:
        """The newest ``limit`` records of the guild (all when None), with their paths."""
        folder = self.directory / guild_id
        try:
            with os.scandir(folder) as entries:
                names = [entry.name for entry in entries if entry.is_file()]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"edition archive: cannot list {folder}: {exc}") from exc
        editions = []
        for name in newest_first(names, len(names) if limit is None else limit):
            path = folder / name
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise StoreError(f"edition archive: cannot read {path}: {exc}") from exc
            editions.append((path, decode(data, str(path))))
        return editions

    def _forget(self, guild_id: str, author_id: str, names: Sequence[str]) -> int:
        with _FORGETTING:
            editions = self._read(guild_id, None)
            everyone = forgotten_names(author_id, names, (e.newsletter for _, e in editions))
            changed = 0
            for path, edition in editions:
                redacted = redact(edition.newsletter, author_id, everyone)
                if redacted is not None:
                    self._write(replace(edition, newsletter=redacted), path)
                    changed += 1
            return changed


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
