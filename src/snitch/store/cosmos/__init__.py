"""Azure Cosmos DB as the store (azure-cosmos, async), partitioned by guild.

Chosen when ``SNITCH_COSMOS__ENDPOINT`` is set; ``open_cosmos_store`` opens it.

Layout (one database, ``SNITCH_COSMOS__DATABASE``):

=============  ==============  ===========================================================
container      partition key   documents
=============  ==============  ===========================================================
directory      ``/scope``      one logical partition (``"guilds"``): a name document and
                               a settings-and-schedule document per guild
channels       ``/guild_id``   one per channel or thread, id = Discord id
authors        ``/guild_id``   one per author *per guild*, id = Discord id
messages       ``/guild_id``   one per message, id = Discord id, with its search terms
guild_state    ``/guild_id``   opt-outs, id = ``opt_out-<user id>``
tips           ``/guild_id``   one per tip, id = tip id
tombstones     ``/guild_id``   one per deleted message, id = Discord id; those of deletes
                               that named no guild and found no stored message in the
                               ``"guildless"`` partition
=============  ==============  ===========================================================

Every query is parameterised and names its partition, so each one reads one logical
partition. What crosses guilds (listing guilds, finding due editions) reads the
directory partition; ``messages_by_id`` and ``delete_messages``, whose ``Store``
signatures carry no guild, take an optional ``guild_id`` and otherwise ask each guild of
the directory in turn.

Atomicity: Cosmos DB transactions cover one logical partition at most, so a unit of
work is not a transaction. It is all-or-nothing against errors raised in the block
(writes are held in memory until it exits cleanly), it checks references before
writing, and every write is an idempotent upsert or delete by id, so a unit of work
that failed while writing converges when run again (see ``_writer``). The scheduler's
``claim`` and settings saves are compare-and-sets on ETags (see ``_guild_state``).

Deletes against late upserts, without transactions: a delete writes its tombstones
before it deletes the messages; an upsert skips ids with a tombstone, writes, then looks
for tombstones again and deletes what it wrote under one. Whichever order the single-
document operations of the two land in, the message ends up deleted (see ``_writer``).

Search: no full-text index. Each message stores the distinct stems of its words
(``terms``, a light suffix stemmer); a search is one query over that array and the
ranking (matched terms, rarity, length) is done in Python (see ``_search``).

The edition archive is not kept here: ``archive`` raises ``ConfigError``; use the Blob
(or file) archive with this store.

Checked against ``@vercel/cosmosdb-server`` in the tests: create, read, upsert, replace,
patch, delete, ETag preconditions, parameterised single-partition queries with
``ARRAY_CONTAINS``, ``EXISTS`` and ``ARRAY`` subqueries, ``COUNT``/``MIN``/``MAX``, and
``TOP`` with a two-property ``ORDER BY`` (it even insists on the composite index, as
Cosmos DB does). Not checked there, hence avoided or only assumed:

* transactional batch (the server answers the SDK's batch request with an error), so
  nothing here uses it; on real Cosmos DB it could make each guild's part of a unit of
  work atomic, and cut round trips a hundredfold;
* ``OFFSET LIMIT``, ``DISTINCT`` and ``GROUP BY`` (the server's parser refuses them):
  not used; ``channel_spans`` runs one ``MIN``/``MAX`` query per channel instead;
* cross-partition queries with ``ORDER BY`` or aggregates, the change feed, request-unit
  charges and 429 throttling (the server charges 1 RU and never throttles; the SDK's
  own retry on 429 is relied on), consistency levels and multi-region behaviour;
* Entra ID sign-in (DefaultAzureCredential), where the database and containers must be
  provisioned beforehand;
* indexing policies beyond the composite index: the excluded paths of the message
  container only save request units on real Cosmos DB.
"""

from snitch.store.cosmos._guild_state import CosmosGuildState
from snitch.store.cosmos._store import CosmosStore, open_cosmos_store
from snitch.store.cosmos._tips import CosmosTipStore
from snitch.store.cosmos._writer import CosmosWriter

__all__ = [
    "CosmosGuildState",
    "CosmosStore",
    "CosmosTipStore",
    "CosmosWriter",
    "open_cosmos_store",
]
