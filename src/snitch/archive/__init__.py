"""Where published editions are kept, as JSON (to read back) and HTML (to read).

``open_archive`` picks the backend from ``SNITCH_ARCHIVE__KIND``: files under the data
directory (the default, nothing to run), an Azure Blob container (for hosts without a
persistent disk), or the database the store already uses. All three keep the
``snitch.store.archive.EditionArchive`` protocol and refuse the same bad input.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from snitch.archive._format import CheckedArchive
from snitch.archive.files import FileEditionArchive
from snitch.config import Settings
from snitch.errors import ConfigError
from snitch.store.archive import ArchivedEdition, EditionArchive

__all__ = [
    "ArchivedEdition",
    "EditionArchive",
    "FileEditionArchive",
    "HasArchive",
    "open_archive",
]


class HasArchive(Protocol):
    """A store that can keep editions itself (``SqlStore``)."""

    @property
    def archive(self) -> EditionArchive:
        """The store's own edition archive."""
        ...


@asynccontextmanager
async def open_archive(settings: Settings, store: HasArchive) -> AsyncIterator[EditionArchive]:
    """The configured archive, open for the duration of the ``async with``.

    Blob needs its HTTP session (and credential) closed on the way out, so this is a
    context manager whatever the backend; the SDK is imported only when Blob is chosen.
    """
    config = settings.archive
    if config.kind == "database":
        yield CheckedArchive(store.archive)
        return
    if config.kind == "files":
        yield FileEditionArchive(settings.data_dir / "editions")
        return
    from snitch.archive.blob import BlobEditionArchive

    secret = config.blob_connection_string
    if secret is not None and secret.get_secret_value().strip():
        blob = BlobEditionArchive.from_connection_string(
            secret.get_secret_value(), config.container
        )
    elif config.blob_account_url:
        blob = BlobEditionArchive.from_account_url(config.blob_account_url, config.container)
    else:  # ArchiveSettings refuses this, unless it was built without validation.
        raise ConfigError(
            "SNITCH_ARCHIVE__KIND=blob needs SNITCH_ARCHIVE__BLOB_CONNECTION_STRING "
            "or SNITCH_ARCHIVE__BLOB_ACCOUNT_URL"
        )
    async with blob:
        yield blob
