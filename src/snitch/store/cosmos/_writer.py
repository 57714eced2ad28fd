"""The Cosmos DB unit of work: writes collected in memory, then applied at the end.

Cosmos DB transactions span one logical partition only (transactional batch, which the
local test server does not implement), and a unit of work may touch several guilds, so
there is no commit in the SQL sense. What the writer gives instead:

* Nothing is written until the block exits cleanly: an error raised inside the block
  (a corrupt export, a crash in the caller) leaves the store exactly as it was, and
  readers never see half a unit of work while it is being built.
* Reads inside the unit see its own pending writes (``forget_author`` twice counts once).
* References are checked before anything is written: a message whose guild or channel is
  neither stored nor pending refuses the whole unit, like the SQL foreign keys.
* Every write is idempotent: an upsert or delete by id (a missing document counts as
  deleted), and a read-modify-write (the mention scrub) is a replace guarded by the ETag
  it read, re-read and re-applied on conflict. If the final writes fail part-way, a
  ``StoreError`` says so and running the same unit of work again converges to the state
  it describes. Writes go out parents first (guilds, channels, authors, then messages;
  deletes of messages before their authors), so a partial write never leaves a message
  whose guild or channel was not written.
* A delete cannot be undone by an upsert running elsewhere. The delete writes its
  tombstones (phase 2) before deleting the messages (phase 4); the upsert skips ids with a
  tombstone when it is asked, writes (phase 3), then reads the tombstones of what it wrote
  once more and deletes those messages again. If that second read finds no tombstone, it
  ran before the tombstone was written, so the message write came before the delete's,
  which removes it; if it finds one, the upsert removes it itself. (A delete that named
  no guild and found the message nowhere cannot say which partition to delete from: it
  looks in every guild again once its tombstone is written.) Either way the message
  ends deleted; it may be readable for the moment in between. This holds when a read
  sees every write acknowledged before it (Strong consistency, or any level within one
  session); under Session consistency across instances, only for an upsert that arrives
  later than replication lags, which is the redelivery case, not a true race.
* An opt-out is not undone by an upsert running elsewhere either, by the same argument.
  The upsert skips the messages of authors opted out in their guild (read from the guild
  state container's partition of the guild), writes, then reads those authors' opt-outs
  once more and deletes what it wrote of any who opted out meanwhile (and their author
  document there, once no message of theirs is left). ``forget-me`` writes the opt-out,
  lets what was queued land, then forgets: if the upsert's second read finds no opt-out,
  its writes came before the opt-out and so before the forget, which finds and removes
  them; if it finds one, the upsert removes them itself. A message of theirs that was
  stored before and rewritten in that moment goes with it, rather than being restored.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from azure.core import MatchConditions
from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosResourceNotFoundError,
)

from snitch.errors import StoreError
from snitch.models import Channel, Guild, Message, is_snowflake
from snitch.store.cosmos._base import (
    AUTHORS,
    CHANNELS,
    DIRECTORY,
    DIRECTORY_SCOPE,
    GUILD_STATE,
    GUILDLESS,
    MESSAGES,
    TOMBSTONES,
    WRITE_CONCURRENCY,
    CosmosAccount,
    chunks,
    cosmos_errors,
    delete_if_present,
    query,
    read_or_none,
    to_text,
    without_system,
)
from snitch.store.cosmos._docs import (
    GUILD_TYPE,
    OPT_OUT_TYPE,
    author_doc,
    channel_doc,
    guild_doc,
    guild_doc_id,
    message_doc,
    require_snowflake,
    scrubbed,
    tombstone_doc,
)
from snitch.store.protocol import GUILDLESS_TOMBSTONE_MARGIN

# How often a guarded replace re-reads after losing to a concurrent write, before
# reporting the document as too busy to change.
MAX_CONFLICTS: Final = 10
WRITE = "writing to the Cosmos DB store"

Doc = dict[str, Any]
# (container, partition key value) -> document id -> the document to upsert, or None to
# delete it.
Pending = defaultdict[tuple[str, str], dict[str, Doc | None]]
Keep = Callable[[Doc], bool]


async def run_bounded(operations: Sequence[Callable[[], Awaitable[None]]]) -> None:
    """Run ``operations`` with at most ``WRITE_CONCURRENCY`` in flight; the first failure
    stops the rest (cancelled, not left running) and propagates as itself."""
    if not operations:
        return
    queue = iter(operations)

    async def worker() -> None:
        for operation in queue:  # one shared iterator: each operation runs once
            await operation()

    tasks = [
        asyncio.ensure_future(worker()) for _ in range(min(WRITE_CONCURRENCY, len(operations)))
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class CosmosWriter:
    """``StoreWriter`` for Cosmos DB; see the module docstring for what it guarantees."""

    def __init__(self, account: CosmosAccount) -> None:
        self._account = account
        self._pending: Pending = defaultdict(dict)
        # Read-modify-write documents: replaced only while unchanged since read.
        self._etags: dict[tuple[str, str, str], str] = {}
        # guild -> authors whose names leave mention snapshots there.
        self._forgotten: defaultdict[str, set[str]] = defaultdict(set)
        # (partition, message id) -> whether a tombstone was stored when first asked.
        self._stored_tombstones: dict[tuple[str, str], bool] = {}
        # (guild, author) -> whether an opt-out was stored when first asked.
        self._stored_opt_outs: dict[tuple[str, str], bool] = {}
        # Deleted ids whose guild is unknown: looked for in every guild again at commit.
        self._guildless_deletes: set[str] = set()

    def _put(self, container: str, partition: str, doc: Doc) -> None:
        self._pending[container, partition][doc["id"]] = doc
        self._etags.pop((container, partition, doc["id"]), None)

    def _drop(self, container: str, partition: str, doc_id: str) -> None:
        self._pending[container, partition][doc_id] = None
        self._etags.pop((container, partition, doc_id), None)

    async def upsert_guild(self, guild: Guild) -> None:
        """Insert or update a guild by id (its directory entry)."""
        self._put(DIRECTORY, DIRECTORY_SCOPE, guild_doc(guild))

    async def upsert_channels(self, channels: Iterable[Channel]) -> None:
        """Insert or update channels (and threads) by id, in their guild's partition."""
        docs = [channel_doc(channel) for channel in channels]
        for doc in docs:
            self._put(CHANNELS, doc["guild_id"], doc)

    async def upsert_messages(self, messages: Sequence[Message]) -> int:
        """Insert or update messages and their authors by id, except those the store
        refuses (tombstoned, or by an author opted out in the guild); returns how many
        distinct messages were written. The last copy of a repeated id wins."""
        for message in messages:
            require_snowflake(message)
        checked = [(message, message_doc(message)) for message in messages]
        refused = await self.refused_among(messages)
        alive = [(message, doc) for message, doc in checked if message.id not in refused]
        docs = [doc for _, doc in alive]
        authors = [author_doc(message.author, message.guild_id) for message, _ in alive]
        for author in authors:
            self._put(AUTHORS, author["guild_id"], author)
        unique: dict[str, Doc] = {}
        for doc in docs:
            unique[doc["id"]] = doc
        for doc in unique.values():
            self._put(MESSAGES, doc["guild_id"], doc)
        return len(unique)

    async def refused_among(self, messages: Sequence[Message]) -> set[str]:
        """The ids of ``messages`` with a tombstone in their guild's partition or the
        guildless one, stored or written by this unit, or whose author opted out in the
        message's guild (as first read by this unit)."""
        by_guild: defaultdict[str, list[Message]] = defaultdict(list)
        for message in messages:
            by_guild[message.guild_id].append(message)
        refused: set[str] = set()
        for guild_id, theirs in by_guild.items():
            refused |= await self._tombstoned(guild_id, [m.id for m in theirs])
            opted_out = await self._opted_out(guild_id, [m.author.id for m in theirs])
            refused.update(m.id for m in theirs if m.author.id in opted_out)
        return refused

    async def delete_messages(
        self,
        message_ids: Sequence[str],
        *,
        guild_id: str | None = None,
        deleted_at: datetime | None = None,
    ) -> int:
        """Remove messages deleted on Discord and leave a tombstone for each; returns how
        many were stored.

        With ``guild_id`` this reads one partition; without it, one single-partition
        query per known guild, and each tombstone goes to the partition of the guild its
        message was found in, or to the guildless one (which every upsert consults too)
        when it was found nowhere: its creation has not arrived yet.
        """
        wanted = list(dict.fromkeys(message_ids))
        if not wanted:
            return 0
        when = deleted_at if deleted_at is not None else datetime.now(UTC)
        asked = set(wanted)
        guilds = [guild_id] if guild_id is not None else await self._guild_ids()
        removed = 0
        found_in: dict[str, str] = {}
        for guild in guilds:
            stored: list[str] = []
            with cosmos_errors(f"finding messages to delete in guild {guild}"):
                for chunk in chunks(wanted):
                    stored += await self._ids(guild, "ARRAY_CONTAINS(@ids, c.id)", {"ids": chunk})
            for doc_id in self._live(guild, stored, lambda doc: doc["id"] in asked):
                self._drop(MESSAGES, guild, doc_id)
                found_in.setdefault(doc_id, guild)
                removed += 1
        # An id that is not a snowflake can never be stored: it needs no tombstone. The
        # others are deleted in their guild whether found or not: an upsert running
        # elsewhere may write one after the query above (see the module docstring).
        for message_id in filter(is_snowflake, wanted):
            partition = guild_id if guild_id is not None else found_in.get(message_id, GUILDLESS)
            self._put(TOMBSTONES, partition, tombstone_doc(message_id, partition, when))
            if partition == GUILDLESS:
                self._guildless_deletes.add(message_id)
            else:
                self._drop(MESSAGES, partition, message_id)
        return removed

    async def forget_author(self, guild_id: str, author_id: str) -> int:
        """Remove everything one author wrote in a guild, their author document there, and
        their name from the mention snapshots of others' messages there."""
        action = f"forgetting author {author_id} in guild {guild_id}"
        with cosmos_errors(action):
            stored = await self._ids(guild_id, "c.author_id = @author", {"author": author_id})
            theirs = self._live(guild_id, stored, lambda doc: doc["author_id"] == author_id)
            for doc_id in theirs:
                self._drop(MESSAGES, guild_id, doc_id)
            await self._scrub_mentions_of(guild_id, author_id)
        self._drop(AUTHORS, guild_id, author_id)
        return len(theirs)

    async def expire_messages(self, guild_id: str, before: datetime) -> int:
        """Retention: remove a guild's messages sent before ``before``, and the author
        documents of those left with no message there."""
        cutoff = to_text(before)
        with cosmos_errors(f"expiring messages of guild {guild_id}"):
            rows = await query(
                self._account.container(MESSAGES),
                "SELECT c.id, c.author_id FROM c WHERE c.guild_id = @guild "
                "AND c.timestamp < @before",
                guild_id,
                guild=guild_id,
                before=cutoff,
            )
            author_of = {row["id"]: row["author_id"] for row in rows}
            pending = self._pending[MESSAGES, guild_id]
            expired = self._live(guild_id, author_of, lambda doc: doc["timestamp"] < cutoff)
            affected: set[str] = set()
            for doc_id in expired:
                doc = pending.get(doc_id)
                affected.add(doc["author_id"] if doc is not None else author_of[doc_id])
                self._drop(MESSAGES, guild_id, doc_id)
            for author_id in sorted(affected):
                if not await self._still_writing(guild_id, author_id):
                    self._drop(AUTHORS, guild_id, author_id)
            await self._expire_tombstones(guild_id, cutoff)
            await self._expire_tombstones(GUILDLESS, to_text(before - GUILDLESS_TOMBSTONE_MARGIN))
        return len(expired)

    async def _expire_tombstones(self, partition: str, cutoff: str) -> None:
        """Drop a partition's tombstones of deletions before ``cutoff``."""
        rows = await query(
            self._account.container(TOMBSTONES),
            "SELECT VALUE c.id FROM c WHERE c.guild_id = @guild AND c.deleted_at < @before",
            partition,
            guild=partition,
            before=cutoff,
        )
        pending = self._pending.get((TOMBSTONES, partition), {})
        expired = {str(row) for row in rows if row not in pending}
        expired.update(
            doc_id
            for doc_id, doc in pending.items()
            if doc is not None and doc["deleted_at"] < cutoff
        )
        for doc_id in expired:
            self._drop(TOMBSTONES, partition, doc_id)

    async def _tombstoned(self, guild_id: str, message_ids: Sequence[str]) -> set[str]:
        """Which of a guild's ``message_ids`` have a tombstone (the guild's or a
        guildless one), as this unit of work sees them."""
        wanted = list(dict.fromkeys(message_ids))
        found: set[str] = set()
        for partition in dict.fromkeys((guild_id, GUILDLESS)):
            unchecked = [i for i in wanted if (partition, i) not in self._stored_tombstones]
            with cosmos_errors(f"reading message tombstones of {partition}"):
                for chunk in chunks(unchecked):
                    stored = set(await self._tombstone_ids(partition, chunk))
                    self._stored_tombstones.update(((partition, i), i in stored) for i in chunk)
            pending = self._pending.get((TOMBSTONES, partition), {})
            for message_id in wanted:
                if message_id in pending:
                    if pending[message_id] is not None:
                        found.add(message_id)
                elif self._stored_tombstones[partition, message_id]:
                    found.add(message_id)
        return found

    async def _opted_out(self, guild_id: str, author_ids: Sequence[str]) -> set[str]:
        """Which of ``author_ids`` opted out in a guild, as first read by this unit."""
        wanted = list(dict.fromkeys(author_ids))
        unchecked = [a for a in wanted if (guild_id, a) not in self._stored_opt_outs]
        with cosmos_errors(f"reading opt-outs of guild {guild_id}"):
            for chunk in chunks(unchecked):
                stored = set(await self._opted_out_ids(guild_id, chunk))
                self._stored_opt_outs.update(((guild_id, a), a in stored) for a in chunk)
        return {a for a in wanted if self._stored_opt_outs[guild_id, a]}

    async def _opted_out_ids(self, guild_id: str, author_ids: Sequence[str]) -> list[str]:
        """The stored opt-outs of a guild among ``author_ids``, read afresh."""
        rows = await query(
            self._account.container(GUILD_STATE),
            "SELECT VALUE c.user_id FROM c WHERE c.guild_id = @guild AND c.type = @type "
            "AND ARRAY_CONTAINS(@ids, c.user_id)",
            guild_id,
            guild=guild_id,
            type=OPT_OUT_TYPE,
            ids=list(author_ids),
        )
        return [str(row) for row in rows]

    async def _tombstone_ids(self, partition: str, message_ids: Sequence[str]) -> list[str]:
        """The stored tombstones of one partition among ``message_ids``."""
        rows = await query(
            self._account.container(TOMBSTONES),
            "SELECT VALUE c.id FROM c WHERE c.guild_id = @guild AND ARRAY_CONTAINS(@ids, c.id)",
            partition,
            guild=partition,
            ids=list(message_ids),
        )
        return [str(row) for row in rows]

    async def _ids(self, guild_id: str, condition: str, parameters: Mapping[str, Any]) -> list[str]:
        """Ids of the stored messages of a guild matching ``condition``."""
        rows = await query(
            self._account.container(MESSAGES),
            f"SELECT VALUE c.id FROM c WHERE c.guild_id = @guild AND {condition}",
            guild_id,
            guild=guild_id,
            **parameters,
        )
        return [str(row) for row in rows]

    def _live(self, guild_id: str, stored: Iterable[str], keep: Keep) -> set[str]:
        """Message ids as this unit of work sees them: the stored ones it has not
        rewritten or deleted, plus its own pending messages that ``keep`` accepts."""
        pending = self._pending[MESSAGES, guild_id]
        live = {doc_id for doc_id in stored if doc_id not in pending}
        live.update(doc_id for doc_id, doc in pending.items() if doc is not None and keep(doc))
        return live

    async def _still_writing(self, guild_id: str, author_id: str) -> bool:
        stored = await self._ids(guild_id, "c.author_id = @author", {"author": author_id})
        return bool(self._live(guild_id, stored, lambda doc: doc["author_id"] == author_id))

    async def _scrub_mentions_of(self, guild_id: str, author_id: str) -> None:
        """Replace the author's name in others' mention snapshots: stored ones are
        rewritten at the end under the ETag read here, pending ones in place."""
        self._forgotten[guild_id].add(author_id)
        forgotten = self._forgotten[guild_id]
        mentioning = await query(
            self._account.container(MESSAGES),
            "SELECT * FROM c WHERE c.guild_id = @guild AND ARRAY_CONTAINS(c.mention_ids, @author)",
            guild_id,
            guild=guild_id,
            author=author_id,
        )
        pending = self._pending[MESSAGES, guild_id]
        for found in mentioning:
            if found["id"] in pending:
                continue  # this unit's own copy (or deletion) is what will be written
            pending[found["id"]] = scrubbed(without_system(found), forgotten)
            self._etags[MESSAGES, guild_id, found["id"]] = found["_etag"]
        for doc_id, doc in pending.items():
            if doc is not None and author_id in doc["mention_ids"]:
                pending[doc_id] = scrubbed(doc, forgotten)

    async def _guild_ids(self) -> list[str]:
        """Every guild in the directory, and those this unit is writing messages to."""
        with cosmos_errors("listing guilds"):
            rows = await query(
                self._account.container(DIRECTORY),
                "SELECT VALUE c.guild_id FROM c WHERE c.scope = @scope AND c.type = @type",
                DIRECTORY_SCOPE,
                scope=DIRECTORY_SCOPE,
                type=GUILD_TYPE,
            )
        known = dict.fromkeys(str(row) for row in rows)
        known.update(dict.fromkeys(p for c, p in self._pending if c == MESSAGES))
        return list(known)

    async def commit(self) -> None:
        """Check references, then write everything (see the module docstring)."""
        await self._check_references()
        upserts: dict[str, list[Callable[[], Awaitable[None]]]] = defaultdict(list)
        deletes: dict[str, list[Callable[[], Awaitable[None]]]] = defaultdict(list)
        for (name, partition), docs in self._pending.items():
            container = self._account.container(name)
            for doc_id, doc in docs.items():
                if doc is None:
                    deletes[name].append(self._deleter(container, doc_id, partition))
                    continue
                etag = self._etags.get((name, partition, doc_id))
                if etag is None:
                    upserts[name].append(self._upserter(container, doc))
                else:
                    forgotten = set(self._forgotten[partition])
                    upserts[name].append(self._replacer(container, partition, doc, etag, forgotten))
        writes = [
            [*upserts.pop(DIRECTORY, []), *upserts.pop(CHANNELS, []), *upserts.pop(AUTHORS, [])],
            upserts.pop(TOMBSTONES, []),
            [op for ops in upserts.values() for op in ops],
        ]
        for phase in writes:
            await run_bounded(phase)
        await self._delete_again_if_refused_meanwhile()
        await self._find_guildless_deletes_again()
        for phase in [deletes.pop(MESSAGES, []), [op for ops in deletes.values() for op in ops]]:
            await run_bounded(phase)

    async def _delete_again_if_refused_meanwhile(self) -> None:
        """After the message upserts: delete those whose tombstone was written since they
        were checked, by a delete running elsewhere, and those whose author opted out
        meanwhile, with that author's document once no message of theirs is left there
        (see the module docstring). Reads the containers afresh, never the unit's cache."""
        undo: list[Callable[[], Awaitable[None]]] = []
        opted_out: list[tuple[str, str]] = []
        container = self._account.container(MESSAGES)
        for (name, guild_id), docs in list(self._pending.items()):
            if name != MESSAGES:
                continue
            written = {
                doc_id: doc["author_id"]
                for doc_id, doc in docs.items()
                if doc is not None and (MESSAGES, guild_id, doc_id) not in self._etags
            }
            if not written:
                continue
            refused: set[str] = set()
            with cosmos_errors(f"{WRITE} (checking tombstones in guild {guild_id})"):
                for partition in dict.fromkeys((guild_id, GUILDLESS)):
                    # A tombstone this unit expires no longer counts.
                    expiring = self._pending.get((TOMBSTONES, partition), {})
                    for chunk in chunks(list(written)):
                        found = await self._tombstone_ids(partition, chunk)
                        refused.update(i for i in found if expiring.get(i, True) is not None)
            with cosmos_errors(f"{WRITE} (checking opt-outs in guild {guild_id})"):
                for chunk in chunks(sorted(set(written.values()))):
                    for author_id in await self._opted_out_ids(guild_id, chunk):
                        opted_out.append((guild_id, author_id))
                        refused.update(i for i, a in written.items() if a == author_id)
            undo += [self._deleter(container, doc_id, guild_id) for doc_id in sorted(refused)]
        await run_bounded(undo)
        await self._drop_authors_left_without_messages(opted_out)

    async def _drop_authors_left_without_messages(self, authors: Sequence[tuple[str, str]]) -> None:
        """Delete the author document of each (guild, author) with no message stored there."""
        container = self._account.container(AUTHORS)
        undo: list[Callable[[], Awaitable[None]]] = []
        for guild_id, author_id in authors:
            with cosmos_errors(f"{WRITE} (checking messages of author {author_id})"):
                left = await self._ids(guild_id, "c.author_id = @author", {"author": author_id})
            if not left:
                undo.append(self._deleter(container, author_id, guild_id))
        await run_bounded(undo)

    @staticmethod
    def _upserter(container: ContainerProxy, doc: Doc) -> Callable[[], Awaitable[None]]:
        async def upsert() -> None:
            with cosmos_errors(f"{WRITE} ({container.id} {doc['id']})"):
                await container.upsert_item(doc)

        return upsert

    @staticmethod
    def _deleter(
        container: ContainerProxy, doc_id: str, partition: str
    ) -> Callable[[], Awaitable[None]]:
        async def delete() -> None:
            with cosmos_errors(f"{WRITE} (deleting {container.id} {doc_id})"):
                await delete_if_present(container, doc_id, partition)

        return delete

    @staticmethod
    def _replacer(
        container: ContainerProxy, partition: str, doc: Doc, etag: str, forgotten: set[str]
    ) -> Callable[[], Awaitable[None]]:
        """A guarded replace of a scrubbed message: on a concurrent change (an edit landing
        meanwhile) the fresh copy is scrubbed again, so neither write is lost."""

        async def replace() -> None:
            current, tag = doc, etag
            with cosmos_errors(f"{WRITE} (scrubbing mentions in {doc['id']})"):
                for _ in range(MAX_CONFLICTS):
                    try:
                        await container.replace_item(
                            current["id"],
                            current,
                            etag=tag,
                            match_condition=MatchConditions.IfNotModified,
                        )
                        return
                    except CosmosAccessConditionFailedError:
                        pass
                    except CosmosResourceNotFoundError:
                        return  # deleted meanwhile: no snapshot left to scrub
                    fresh = await read_or_none(container, current["id"], partition)
                    if fresh is None:
                        return
                    current, tag = scrubbed(without_system(fresh), forgotten), fresh["_etag"]
            raise StoreError(
                f"{WRITE} failed: message {doc['id']} kept changing while its mentions were "
                f"being scrubbed ({MAX_CONFLICTS} attempts); run the forget again"
            )

        return replace

    async def _find_guildless_deletes_again(self) -> None:
        """After the guildless tombstones are written: delete the messages of those ids
        that an upsert elsewhere wrote in any guild since ``delete_messages`` looked."""
        wanted = sorted(self._guildless_deletes)
        if not wanted:
            return
        container = self._account.container(MESSAGES)
        undo: list[Callable[[], Awaitable[None]]] = []
        for guild_id in await self._guild_ids():
            with cosmos_errors(f"{WRITE} (finding deleted messages in guild {guild_id})"):
                for chunk in chunks(wanted):
                    found = await self._ids(guild_id, "ARRAY_CONTAINS(@ids, c.id)", {"ids": chunk})
                    undo += [self._deleter(container, doc_id, guild_id) for doc_id in found]
        await run_bounded(undo)

    async def _check_references(self) -> None:
        """Refuse the unit when a message's guild or channel, or a channel's guild, is
        neither stored nor written by it (what the SQL foreign keys refuse)."""
        directory = self._pending[DIRECTORY, DIRECTORY_SCOPE]
        needed: defaultdict[str, set[str]] = defaultdict(set)
        for (name, partition), docs in list(self._pending.items()):
            if name == MESSAGES:
                for doc in docs.values():
                    if doc is not None:
                        needed[partition].add(doc["channel_id"])
            elif name == CHANNELS and any(doc is not None for doc in docs.values()):
                needed.setdefault(partition, set())  # a channel's guild must exist too
        for guild_id, channel_ids in needed.items():
            missing = await self._missing(guild_id, channel_ids, directory)
            if missing:
                raise StoreError(
                    f"{WRITE} failed: {missing} is not stored (store a message's guild and "
                    "channel before, or in the same unit of work as, the message)"
                )

    async def _missing(
        self, guild_id: str, channel_ids: set[str], directory: Mapping[str, Doc | None]
    ) -> str | None:
        """What is missing of a guild and some of its channels, or None."""
        key = guild_doc_id(guild_id)
        with cosmos_errors(f"checking guild {guild_id} and its channels"):
            guild_there = (
                directory[key] is not None
                if key in directory
                else await read_or_none(self._account.container(DIRECTORY), key, DIRECTORY_SCOPE)
                is not None
            )
            if not guild_there:
                return f"guild {guild_id}"
            pending = self._pending[CHANNELS, guild_id]
            unknown = sorted(c for c in channel_ids if pending.get(c) is None)
            stored: set[str] = set()
            for chunk in chunks(unknown):
                rows = await query(
                    self._account.container(CHANNELS),
                    "SELECT VALUE c.id FROM c WHERE c.guild_id = @guild "
                    "AND ARRAY_CONTAINS(@ids, c.id)",
                    guild_id,
                    guild=guild_id,
                    ids=chunk,
                )
                stored.update(str(row) for row in rows)
        absent = [c for c in unknown if c not in stored or c in pending]
        return f"channel {absent[0]} of guild {guild_id}" if absent else None
