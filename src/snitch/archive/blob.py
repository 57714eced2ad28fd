"""The edition archive on Azure Blob storage, for deployments without a persistent disk.

Same names as the file archive (``<guild_id>/<stamp>_<id>.json`` and ``.html``, see
``_format``), in one container that is created on the first write. A single-request upload
is atomic, and the page goes up before the record, so ``latest`` never sees half an edition.
The page is served as ``text/html`` and the record as ``application/json``, so either can be
shared straight from the storage account (behind a SAS or a CDN).

``forget_author`` rewrites an edition the same way, page first; the record goes up only if
it is still the one that was redacted (its ETag), else it is read again and redacted again,
so two members forgotten at once, from any number of processes, both stay forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Final, Self

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobServiceClient

from snitch.archive._format import (
    check_forget,
    check_guild_id,
    check_limit,
    decode,
    encode,
    html_name,
    json_name,
    new_edition,
    newest_first,
)
from snitch.archive.redact import forgotten_names, redact
from snitch.closing import AsyncClosing
from snitch.errors import StoreError
from snitch.models import Newsletter
from snitch.render import render_html
from snitch.store.archive import ArchivedEdition

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

__all__ = ["BlobEditionArchive"]

JSON_CONTENT = ContentSettings(content_type="application/json")
HTML_CONTENT = ContentSettings(content_type="text/html; charset=utf-8")
# Downloads in flight at once when forgetting reads a guild's whole archive.
_PARALLEL_DOWNLOADS: Final = 8
# How often a record that keeps changing under ``forget_author`` is read and redacted again.
_FORGET_ATTEMPTS: Final = 5


def _describe(exc: AzureError) -> str:
    """The service's one-line reason, without the request dump that follows it."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class BlobEditionArchive(AsyncClosing):
    """``EditionArchive`` in one Blob container; close it (or use ``async with``)."""

    def __init__(
        self,
        service: BlobServiceClient,
        container: str,
        *,
        credential: AsyncTokenCredential | None = None,
    ) -> None:
        self._service = service
        self._container = service.get_container_client(container)
        self._credential = credential
        self._container_ready = False
        self.container = container

    @classmethod
    def from_connection_string(cls, connection_string: str, container: str) -> Self:
        """An archive on the account the connection string names (Azurite in tests)."""
        try:
            service = BlobServiceClient.from_connection_string(connection_string)
        except ValueError as exc:
            # The SDK's message never echoes the string, which holds the account key.
            raise StoreError(f"edition archive: invalid Blob connection string: {exc}") from exc
        return cls(service, container)

    @classmethod
    def from_account_url(cls, account_url: str, container: str) -> Self:
        """An archive signed in with ``DefaultAzureCredential`` (managed identity in Azure)."""
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential()
        service = BlobServiceClient(account_url, credential=credential)
        return cls(service, container, credential=credential)

    @property
    def account_url(self) -> str:
        """The Blob endpoint in use (no key in it), for logs and health checks."""
        return str(self._service.url)

    async def close(self) -> None:
        """Close the HTTP session (and the credential, when this archive made it)."""
        try:
            await self._service.close()
        finally:
            if self._credential is not None:
                await self._credential.close()

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
        page = render_html(edition.newsletter).encode("utf-8")
        prefix = f"{edition.guild_id}/"
        try:
            await self._ensure_container()
            await self._container.upload_blob(
                prefix + html_name(edition), page, overwrite=True, content_settings=HTML_CONTENT
            )
            await self._container.upload_blob(
                prefix + json_name(edition),
                encode(edition),
                overwrite=True,
                content_settings=JSON_CONTENT,
            )
        except AzureError as exc:
            raise StoreError(
                f"edition archive: cannot write edition {edition.id} of guild {edition.guild_id} "
                f"to Blob container {self.container!r}: {_describe(exc)}"
            ) from exc
        return edition

    async def latest(self, guild_id: str, limit: int = 1) -> list[ArchivedEdition]:
        """See ``EditionArchive.latest``."""
        check_guild_id(guild_id)
        check_limit(limit)
        if limit == 0:
            return []
        try:
            chosen = await self._records_newest_first(guild_id, limit)
            blobs = await asyncio.gather(*(self._download(name) for name in chosen))
        except AzureError as exc:
            raise StoreError(
                f"edition archive: cannot read the editions of guild {guild_id} from Blob "
                f"container {self.container!r}: {_describe(exc)}"
            ) from exc
        return [
            decode(data, f"blob {self.container}/{name}")
            for name, data in zip(chosen, blobs, strict=True)
            if data is not None
        ]

    async def forget_author(
        self, guild_id: str, author_id: str, *, names: Sequence[str] = ()
    ) -> int:
        """See ``EditionArchive.forget_author``."""
        listed = check_forget(guild_id, author_id, names)
        try:
            chosen = await self._records_newest_first(guild_id)
            limit = asyncio.Semaphore(_PARALLEL_DOWNLOADS)

            async def read(name: str) -> tuple[bytes, str] | None:
                async with limit:
                    return await self._download_with_etag(name)

            blobs = await asyncio.gather(*(read(name) for name in chosen))
            editions = [
                (name, decode(blob[0], f"blob {self.container}/{name}"), blob[1])
                for name, blob in zip(chosen, blobs, strict=True)
                if blob is not None
            ]
            everyone = forgotten_names(author_id, listed, (e.newsletter for _, e, _ in editions))
            changed = 0
            for name, edition, etag in editions:
                changed += await self._forget_in(name, edition, etag, author_id, everyone)
        except AzureError as exc:
            raise StoreError(
                f"edition archive: cannot forget author {author_id} in the editions of guild "
                f"{guild_id} in Blob container {self.container!r}: {_describe(exc)}"
            ) from exc
        return changed

    async def _records_newest_first(self, guild_id: str, limit: int | None = None) -> list[str]:
        """The blob names of a guild's edition records, newest first (``limit`` of them, or
        all); none while the container does not exist, since nothing was ever archived."""
        prefix = f"{guild_id}/"
        try:
            names = [
                name.removeprefix(prefix)
                async for name in self._container.list_blob_names(name_starts_with=prefix)
            ]
        except ResourceNotFoundError:
            return []
        chosen = newest_first(names, len(names) if limit is None else limit)
        return [prefix + name for name in chosen]

    async def _forget_in(
        self,
        name: str,
        edition: ArchivedEdition,
        etag: str,
        author_id: str,
        names: Sequence[str],
    ) -> bool:
        """Redact one edition; True when this call changed it."""
        page_written = False
        for _ in range(_FORGET_ATTEMPTS):
            redacted = redact(edition.newsletter, author_id, names)
            if redacted is not None:
                edition = replace(edition, newsletter=redacted)
            elif not page_written:
                return False
            # Else someone redacted the record meanwhile, after this call rewrote the page
            # from an older one: the page follows the record again.
            page_written = True
            await self._container.upload_blob(
                name.removesuffix(".json") + ".html",
                render_html(edition.newsletter).encode("utf-8"),
                overwrite=True,
                content_settings=HTML_CONTENT,
            )
            if redacted is None:
                return False
            try:
                await self._container.upload_blob(
                    name,
                    encode(edition),
                    overwrite=True,
                    content_settings=JSON_CONTENT,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                blob = await self._download_with_etag(name)
                if blob is None:  # deleted meanwhile: nothing left to redact
                    return False
                edition, etag = decode(blob[0], f"blob {self.container}/{name}"), blob[1]
                continue
            return True
        raise StoreError(
            f"edition archive: blob {self.container}/{name} kept changing while author "
            f"{author_id} was being forgotten; try again"
        )

    async def _download(self, name: str) -> bytes | None:
        """The blob's bytes; None when it went away after it was listed."""
        blob = await self._download_with_etag(name)
        return None if blob is None else blob[0]

    async def _download_with_etag(self, name: str) -> tuple[bytes, str] | None:
        """The blob's bytes and ETag; None when it went away after it was listed."""
        try:
            downloader = await self._container.download_blob(name)
            return await downloader.readall(), str(downloader.properties.etag)
        except ResourceNotFoundError:
            return None

    async def _ensure_container(self) -> None:
        """Create the container once per process; an existing one is fine."""
        if self._container_ready:
            return
        with contextlib.suppress(ResourceExistsError):
            await self._container.create_container()
        self._container_ready = True
