"""Loading exports into the store: every file of one import lands together, or nothing does."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from snitch.log import get_logger
from snitch.models import Message
from snitch.sources.dce import ProgressCallback, expand_paths, read_header, read_messages
from snitch.store.protocol import Store

BATCH_SIZE = 2000
log = get_logger(__name__)


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote."""

    files: int
    messages: int
    guilds: tuple[str, ...]
    channels: int


async def import_exports(
    store: Store,
    paths: Iterable[Path],
    *,
    on_read: ProgressCallback | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportSummary:
    """Stream exports into the store in batches, inside one unit of work.

    A malformed message anywhere aborts the whole import and rolls it back, so the store
    never holds half an export. Re-importing the same export upserts the same rows.
    """
    files = expand_paths(paths)
    headers = [read_header(path) for path in files]
    written = 0
    async with store.unit_of_work() as writer:
        for guild in {header.guild.id: header.guild for header in headers}.values():
            await writer.upsert_guild(guild)
        await writer.upsert_channels(header.channel for header in headers)
        for header in headers:
            batch: list[Message] = []
            for message in read_messages(header, on_read):
                batch.append(message)
                if len(batch) >= batch_size:
                    written += await writer.upsert_messages(batch)
                    batch = []
            if batch:
                written += await writer.upsert_messages(batch)
            log.debug("export imported", path=str(header.path), channel=header.channel.name)
    guild_names = tuple(sorted({header.guild.name for header in headers}))
    log.info("import finished", files=len(files), messages=written, guilds=list(guild_names))
    return ImportSummary(
        files=len(files),
        messages=written,
        guilds=guild_names,
        channels=len({header.channel.id for header in headers}),
    )
