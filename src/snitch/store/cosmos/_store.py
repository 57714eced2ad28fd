"""``CosmosStore``: the ``Store`` protocol on Cosmos DB, and ``open_cosmos_store``."""

from __future__ import annotations

import binascii
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Any

from azure.cosmos.aio import CosmosClient

from snitch.closing import AsyncClosing
from snitch.config import Settings
from snitch.errors import ConfigError
from snitch.models import Author, Channel, Guild, Message
from snitch.store.archive import EditionArchive
from snitch.store.cosmos._base import (
    AUTHORS,
    CHANNELS,
    DIRECTORY,
    DIRECTORY_SCOPE,
    MESSAGES,
    CosmosAccount,
    chunks,
    cosmos_errors,
    from_text,
    provision,
    query,
    to_text,
)
from snitch.store.cosmos._docs import (
    GUILD_TYPE,
    MESSAGE_FIELDS,
    author_from_doc,
    channel_from_doc,
    message_from_doc,
)
from snitch.store.cosmos._guild_state import CosmosGuildState
from snitch.store.cosmos._search import Hit, query_terms, rank
from snitch.store.cosmos._tips import CosmosTipStore
from snitch.store.cosmos._writer import CosmosWriter, run_bounded

_SEARCH = (
    "SELECT c.id, ARRAY_LENGTH(c.terms) AS length, "
    "ARRAY(SELECT VALUE t FROM t IN c.terms WHERE ARRAY_CONTAINS(@wanted, t)) AS matched "
    "FROM c WHERE c.guild_id = @guild "
    "AND EXISTS(SELECT VALUE t FROM t IN c.terms WHERE ARRAY_CONTAINS(@wanted, t))"
)


class CosmosStore(AsyncClosing):
    """The ``Store`` on Cosmos DB, partitioned by guild; build it with ``open_cosmos_store``.

    Reads that span guilds (``guilds``, ``count_messages()`` of all guilds) go through the
    directory partition; everything else reads one guild's partition. Results are
    ordered here rather than with ``ORDER BY``: each read returns its whole result anyway,
    so sorting costs no request units, and the message container needs no composite index
    (which would make every write dearer).
    """

    def __init__(self, account: CosmosAccount) -> None:
        self._account = account

    @property
    def account(self) -> CosmosAccount:
        """The client and containers, for maintenance and tests."""
        return self._account

    @property
    def guild_state(self) -> CosmosGuildState:
        """Per-guild settings, schedule and opt-outs, in the same database."""
        return CosmosGuildState(self._account)

    @property
    def tips(self) -> CosmosTipStore:
        """Anonymous tips (sealed), in the same database."""
        return CosmosTipStore(self._account)

    @property
    def archive(self) -> EditionArchive:
        """Not kept in Cosmos DB: editions go to files or Blob storage."""
        raise ConfigError(
            "SNITCH_ARCHIVE__KIND=database keeps editions in the SQL store; with Cosmos DB "
            "use SNITCH_ARCHIVE__KIND=blob (or files)"
        )

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[CosmosWriter]:
        """Writes applied together when the block exits cleanly, none of them if it raises.

        Not a transaction: see ``snitch.store.cosmos._writer`` for what is guaranteed
        (all-or-nothing against errors in the block, idempotent and retryable writes).
        """
        writer = CosmosWriter(self._account)
        yield writer
        await writer.commit()

    async def guilds(self) -> list[Guild]:
        """Every stored guild, by name."""
        with cosmos_errors("reading guilds"):
            rows = await query(
                self._account.container(DIRECTORY),
                "SELECT c.guild_id, c.name FROM c WHERE c.scope = @scope AND c.type = @type",
                DIRECTORY_SCOPE,
                scope=DIRECTORY_SCOPE,
                type=GUILD_TYPE,
            )
        found = [Guild(id=row["guild_id"], name=row["name"]) for row in rows]
        return sorted(found, key=lambda guild: (guild.name, guild.id))

    async def channels(self, guild_id: str) -> list[Channel]:
        """The stored channels (and threads) of one guild, by name."""
        with cosmos_errors("reading channels"):
            rows = await query(
                self._account.container(CHANNELS),
                "SELECT * FROM c WHERE c.guild_id = @guild",
                guild_id,
                guild=guild_id,
            )
        found = [channel_from_doc(row) for row in rows]
        return sorted(found, key=lambda channel: (channel.name, channel.id))

    async def messages(
        self,
        guild_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        channel_ids: Sequence[str] | None = None,
    ) -> list[Message]:
        """Messages of a guild in ``[since, until)``, oldest first (ties by id), optionally
        in some channels. Naive bounds are taken as UTC."""
        if channel_ids is not None and not channel_ids:
            return []
        conditions = ["c.guild_id = @guild"]
        parameters: dict[str, Any] = {"guild": guild_id}
        if since is not None:
            conditions.append("c.timestamp >= @since")
            parameters["since"] = to_text(since)
        if until is not None:
            conditions.append("c.timestamp < @until")
            parameters["until"] = to_text(until)
        if channel_ids is not None:
            conditions.append("ARRAY_CONTAINS(@channels, c.channel_id)")
            parameters["channels"] = list(dict.fromkeys(channel_ids))
        text = f"SELECT {MESSAGE_FIELDS} FROM c WHERE {' AND '.join(conditions)}"
        with cosmos_errors("reading messages"):
            docs = await query(self._account.container(MESSAGES), text, guild_id, **parameters)
            authors = await self._authors(guild_id, (doc["author_id"] for doc in docs))
        docs.sort(key=lambda doc: (doc["timestamp"], doc["id"]))
        return [message_from_doc(doc, authors) for doc in docs]

    async def messages_by_id(
        self, message_ids: Sequence[str], *, guild_id: str | None = None
    ) -> list[Message]:
        """The stored messages among ``message_ids``, in the order asked; unknown ids are
        left out.

        Pass ``guild_id`` to read one partition; without it (the ``Store`` signature)
        every guild of the directory is asked, one single-partition query each.
        """
        wanted = list(dict.fromkeys(message_ids))
        if not wanted:
            return []
        guilds = [guild_id] if guild_id is not None else await self._guild_ids()
        found: dict[str, Message] = {}

        async def read_guild(guild: str) -> None:
            docs: list[dict[str, Any]] = []
            for chunk in chunks(wanted):
                docs += await query(
                    self._account.container(MESSAGES),
                    f"SELECT {MESSAGE_FIELDS} FROM c WHERE c.guild_id = @guild "
                    "AND ARRAY_CONTAINS(@ids, c.id)",
                    guild,
                    guild=guild,
                    ids=chunk,
                )
            authors = await self._authors(guild, (doc["author_id"] for doc in docs))
            for doc in docs:
                found[doc["id"]] = message_from_doc(doc, authors)

        with cosmos_errors("reading messages by id"):
            await run_bounded([partial(read_guild, guild) for guild in guilds])
        return [found[ident] for ident in wanted if ident in found]

    async def search(self, guild_id: str, terms: Sequence[str], limit: int = 50) -> list[str]:
        """Ids of a guild's messages holding any of ``terms`` (stemmed), most relevant
        first: see ``snitch.store.cosmos._search`` for the ranking."""
        if limit < 1:
            raise ValueError(f"search limit must be at least 1, got {limit}")
        wanted = query_terms(term for term in dict.fromkeys(terms) if term.strip())
        if not wanted:
            return []
        with cosmos_errors(f"searching guild {guild_id}"):
            rows = await query(
                self._account.container(MESSAGES), _SEARCH, guild_id, guild=guild_id, wanted=wanted
            )
        hits = [Hit(row["id"], frozenset(row["matched"]), int(row["length"])) for row in rows]
        return rank(hits, limit)

    async def channel_spans(self, guild_id: str) -> dict[str, tuple[datetime, datetime]]:
        """Each channel's oldest and newest stored message time: where a backfill resumes.

        One ``MIN``/``MAX`` query per stored channel (no ``GROUP BY`` on the local
        server), each answered from the index rather than by reading the messages.
        """
        spans: dict[str, tuple[datetime, datetime]] = {}
        container = self._account.container(MESSAGES)

        async def span(channel_id: str) -> None:
            rows = await query(
                container,
                "SELECT MIN(c.timestamp) AS oldest, MAX(c.timestamp) AS newest FROM c "
                "WHERE c.guild_id = @guild AND c.channel_id = @channel",
                guild_id,
                guild=guild_id,
                channel=channel_id,
            )
            if rows and rows[0].get("oldest") is not None:
                spans[channel_id] = (from_text(rows[0]["oldest"]), from_text(rows[0]["newest"]))

        with cosmos_errors(f"reading the stored span of guild {guild_id}"):
            channel_ids = await query(
                self._account.container(CHANNELS),
                "SELECT VALUE c.id FROM c WHERE c.guild_id = @guild",
                guild_id,
                guild=guild_id,
            )
            await run_bounded([partial(span, str(channel_id)) for channel_id in channel_ids])
        return spans

    async def count_messages(self, guild_id: str | None = None) -> int:
        """How many messages are stored, in one guild or (guild by guild) in all."""
        guilds = [guild_id] if guild_id is not None else await self._guild_ids()
        total = 0
        with cosmos_errors("counting messages"):
            for guild in guilds:
                rows = await query(
                    self._account.container(MESSAGES),
                    "SELECT VALUE COUNT(1) FROM c WHERE c.guild_id = @guild",
                    guild,
                    guild=guild,
                )
                total += int(rows[0]) if rows else 0
        return total

    async def close(self) -> None:
        """Close the client's HTTP session (and the credential the store opened)."""
        await self._account.close()

    async def _guild_ids(self) -> list[str]:
        return [guild.id for guild in await self.guilds()]

    async def _authors(self, guild_id: str, author_ids: Iterable[str]) -> dict[str, Author]:
        """The author documents of a guild among ``author_ids``."""
        wanted = sorted(set(author_ids))
        found: dict[str, Author] = {}
        for chunk in chunks(wanted):
            rows = await query(
                self._account.container(AUTHORS),
                "SELECT * FROM c WHERE c.guild_id = @guild AND ARRAY_CONTAINS(@ids, c.id)",
                guild_id,
                guild=guild_id,
                ids=chunk,
            )
            found.update((row["id"], author_from_doc(row)) for row in rows)
        return found


def _credential(settings: Settings) -> tuple[Any, Any]:
    """What the client signs in with (the key, else DefaultAzureCredential), and the
    credential object the store must close (None for a key)."""
    key = settings.cosmos.key
    if key is not None and key.get_secret_value().strip():
        return key.get_secret_value().strip(), None
    from azure.identity.aio import DefaultAzureCredential

    credential = DefaultAzureCredential()
    return credential, credential


async def open_cosmos_store(settings: Settings) -> CosmosStore:
    """Connect to ``SNITCH_COSMOS__ENDPOINT`` and open the store's database.

    With an account key the database and containers are created when missing; with
    DefaultAzureCredential (managed identity, ``az login``) they must exist already,
    because Entra ID data-plane roles cannot create them.
    """
    config = settings.cosmos
    if not config.endpoint:
        raise ConfigError("SNITCH_COSMOS__ENDPOINT is not set; it selects the Cosmos DB store")
    auth, owned = _credential(settings)
    try:
        client = CosmosClient(config.endpoint, credential=auth, connection_verify=config.verify_tls)
    except (ValueError, binascii.Error, TypeError) as exc:
        if owned is not None:
            await owned.close()
        raise ConfigError(
            f"SNITCH_COSMOS__ENDPOINT or SNITCH_COSMOS__KEY is invalid: {exc}"
        ) from exc
    try:
        try:
            with cosmos_errors(f"connecting to Cosmos DB at {config.endpoint}"):
                await client.__aenter__()
        except (ValueError, TypeError) as exc:  # the key is decoded to sign the first request
            raise ConfigError(f"SNITCH_COSMOS__KEY is not a valid account key: {exc}") from exc
        database, containers = await provision(client, config.database, create=owned is None)
    except BaseException:
        await client.close()
        if owned is not None:
            await owned.close()
        raise
    return CosmosStore(CosmosAccount(client, database, containers, owned))
