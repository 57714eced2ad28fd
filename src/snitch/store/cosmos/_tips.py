"""``TipStore`` on Cosmos DB: one document per tip in its guild's partition.

The sealed bytes are stored as base64 (JSON has no bytes); nothing readable without the
tips key is ever written, as with the SQL store.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from azure.cosmos.exceptions import CosmosResourceExistsError, CosmosResourceNotFoundError

from snitch.errors import StoreError
from snitch.store.cosmos._base import (
    TIPS,
    CosmosAccount,
    check_id,
    chunks,
    cosmos_errors,
    delete_if_present,
    from_text,
    optional_text,
    optional_time,
    query,
    read_or_none,
    to_text,
    without_system,
)
from snitch.store.tip_store import TipRow


def _tip_doc(row: TipRow) -> dict[str, Any]:
    check_id("guild", row.guild_id)
    check_id("tip", row.id)
    return {
        "id": row.id,
        "guild_id": row.guild_id,
        "tipster": row.tipster,
        "sealed": base64.b64encode(row.sealed).decode("ascii"),
        "status": row.status,
        "created_at": to_text(row.created_at),
        "reviewed_at": optional_text(row.reviewed_at),
    }


def _tip_row(doc: Mapping[str, Any]) -> TipRow:
    return TipRow(
        id=doc["id"],
        guild_id=doc["guild_id"],
        tipster=doc["tipster"],
        sealed=base64.b64decode(doc["sealed"]),
        status=doc["status"],
        created_at=from_text(doc["created_at"]),
        reviewed_at=optional_time(doc.get("reviewed_at")),
    )


class CosmosTipStore:
    """``TipStore`` on the store's Cosmos DB account."""

    def __init__(self, account: CosmosAccount) -> None:
        self._tips = account.container(TIPS)

    async def add(self, row: TipRow) -> None:
        """See ``TipStore.add``. Adding the very same tip again (a retried request) is a
        no-op; a different tip under an existing id is refused."""
        doc = _tip_doc(row)
        with cosmos_errors("storing a tip"):
            try:
                await self._tips.create_item(doc)
                return
            except CosmosResourceExistsError:
                stored = await read_or_none(self._tips, row.id, row.guild_id)
        if stored is None or without_system(stored) != doc:
            raise StoreError(f"storing a tip failed: tip {row.id} already exists")

    async def count_since(
        self, since: datetime, *, guild_id: str, tipster: str | None = None
    ) -> int:
        """See ``TipStore.count_since``."""
        text = "SELECT VALUE COUNT(1) FROM c WHERE c.guild_id = @guild AND c.created_at >= @since"
        parameters: dict[str, Any] = {"guild": guild_id, "since": to_text(since)}
        if tipster is not None:
            text += " AND c.tipster = @tipster"
            parameters["tipster"] = tipster
        with cosmos_errors("counting tips"):
            rows = await query(self._tips, text, guild_id, **parameters)
        return int(rows[0]) if rows else 0

    async def with_status(self, guild_id: str, status: str, limit: int) -> list[TipRow]:
        """See ``TipStore.with_status``: ``TOP`` and ``ORDER BY`` on the server (the tips
        container has the composite index that ordering on two properties needs), since
        published tips pile up and only the oldest few are wanted."""
        with cosmos_errors("reading tips"):
            rows = await query(
                self._tips,
                "SELECT TOP @limit * FROM c WHERE c.guild_id = @guild AND c.status = @status "
                "ORDER BY c.created_at, c.id",
                guild_id,
                guild=guild_id,
                status=status,
                limit=limit,
            )
        return [_tip_row(row) for row in rows]

    async def set_status(
        self, guild_id: str, tip_ids: Sequence[str], status: str, now: datetime
    ) -> int:
        """See ``TipStore.set_status``: a partial update (patch) per tip, atomic per
        document, so no concurrent change to another field is overwritten."""
        wanted = list(dict.fromkeys(tip_ids))
        if not wanted:
            return 0
        changes = [
            {"op": "set", "path": "/status", "value": status},
            {"op": "set", "path": "/reviewed_at", "value": to_text(now)},
        ]
        changed = 0
        with cosmos_errors("reviewing tips"):
            for chunk in chunks(wanted):
                found = await query(
                    self._tips,
                    "SELECT VALUE c.id FROM c WHERE c.guild_id = @guild "
                    "AND ARRAY_CONTAINS(@ids, c.id)",
                    guild_id,
                    guild=guild_id,
                    ids=chunk,
                )
                for tip_id in found:
                    try:
                        await self._tips.patch_item(
                            str(tip_id), partition_key=guild_id, patch_operations=changes
                        )
                    except CosmosResourceNotFoundError:
                        continue  # deleted meanwhile
                    changed += 1
        return changed

    async def delete_by_tipster(self, guild_id: str, tipster: str) -> int:
        """See ``TipStore.delete_by_tipster``."""
        with cosmos_errors("forgetting a tipster"):
            ids = await query(
                self._tips,
                "SELECT VALUE c.id FROM c WHERE c.guild_id = @guild AND c.tipster = @tipster",
                guild_id,
                guild=guild_id,
                tipster=tipster,
            )
            removed = 0
            for tip_id in ids:
                removed += await delete_if_present(self._tips, str(tip_id), guild_id)
        return removed
