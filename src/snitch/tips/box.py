"""The tip box: anonymous tips in, moderated tips out.

A member's tip is checked (length, rate limits), sealed and stored as pending. Only a
moderator's approval lets it into an edition, where it is printed as an unverified reader
tip; a rejected tip never appears. The store only ever sees sealed text and the tipster's
keyed hash, so neither a database dump nor a curious admin can tell who sent what.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final

from snitch.config import Settings, TipsSettings
from snitch.errors import ConfigError, SnitchError
from snitch.newsroom.text import defang
from snitch.store.tip_store import TipRow, TipStore
from snitch.tips.crypto import TipCipher, generate_key

RATE_WINDOW: Final = timedelta(hours=1)
UNVERIFIED_LABEL: Final = "Unverified reader tip"
KEY_FILE: Final = "tips.key"


class TipRejected(SnitchError):
    """A tip the box will not take; the message is fit to show the member."""


class TipStatus(StrEnum):
    """Where a tip is in moderation."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    published = "published"


@dataclass(frozen=True)
class Tip:
    """A tip opened for the people allowed to read it (moderators, the edition)."""

    id: str
    guild_id: str
    text: str
    status: TipStatus
    created_at: datetime

    @property
    def printable(self) -> str:
        """The tip as an edition prints it: labelled, and unable to ping."""
        return f"{UNVERIFIED_LABEL}: {defang(self.text)}"


class TipBox:
    """Takes, moderates and hands out one deployment's tips."""

    def __init__(self, store: TipStore, cipher: TipCipher, limits: TipsSettings) -> None:
        self._store = store
        self._cipher = cipher
        self._limits = limits

    async def submit(self, guild_id: str, user_id: str, text: str, now: datetime) -> Tip:
        """Seal and store a tip as pending, or say in plain words why not."""
        cleaned = text.strip()
        if not cleaned:
            raise TipRejected("Your tip is empty. Tell us what you saw!")
        if len(cleaned) > self._limits.max_chars:
            raise TipRejected(
                f"Your tip is {len(cleaned)} characters long; keep it under "
                f"{self._limits.max_chars}."
            )
        tipster = self._cipher.tipster(guild_id=guild_id, user_id=user_id)
        since = now - RATE_WINDOW
        theirs = await self._store.count_since(since, guild_id=guild_id, tipster=tipster)
        everyone = await self._store.count_since(since, guild_id=guild_id)
        if theirs >= self._limits.per_user_per_hour:
            raise TipRejected(
                f"You have sent {self._limits.per_user_per_hour} tips in the last hour. "
                "Give the newsroom a moment, then try again."
            )
        if everyone >= self._limits.per_guild_per_hour:
            raise TipRejected("The tip line is swamped right now. Try again in an hour.")
        tip_id = uuid.uuid4().hex
        await self._store.add(
            TipRow(
                id=tip_id,
                guild_id=guild_id,
                tipster=tipster,
                sealed=self._cipher.seal(cleaned, guild_id=guild_id, tip_id=tip_id),
                status=TipStatus.pending,
                created_at=now,
            )
        )
        return Tip(tip_id, guild_id, cleaned, TipStatus.pending, now)

    async def waiting(self, guild_id: str, limit: int = 10) -> list[Tip]:
        """Pending tips for a moderator to review, oldest first."""
        return await self._opened(guild_id, TipStatus.pending, limit)

    async def approved(self, guild_id: str, limit: int = 3) -> list[Tip]:
        """Approved tips not yet printed, for the next edition."""
        return await self._opened(guild_id, TipStatus.approved, limit)

    async def review(self, guild_id: str, tip_id: str, *, approve: bool, now: datetime) -> bool:
        """Approve or reject a pending tip; False if there was no such pending tip."""
        pending = {tip.id for tip in await self.waiting(guild_id, limit=1000)}
        if tip_id not in pending:
            return False
        status = TipStatus.approved if approve else TipStatus.rejected
        return await self._store.set_status(guild_id, [tip_id], status, now) == 1

    async def mark_published(self, guild_id: str, tip_ids: Sequence[str], now: datetime) -> None:
        """The edition printed these: never print them again."""
        await self._store.set_status(guild_id, tip_ids, TipStatus.published, now)

    async def forget_tipster(self, guild_id: str, user_id: str) -> int:
        """Forget-me: delete every tip this member sent in the guild."""
        tipster = self._cipher.tipster(guild_id=guild_id, user_id=user_id)
        return await self._store.delete_by_tipster(guild_id, tipster)

    async def _opened(self, guild_id: str, status: TipStatus, limit: int) -> list[Tip]:
        rows = await self._store.with_status(guild_id, status, limit)
        return [
            Tip(
                row.id,
                row.guild_id,
                self._cipher.open(row.sealed, guild_id=row.guild_id, tip_id=row.id),
                TipStatus(row.status),
                row.created_at,
            )
            for row in rows
        ]


def tips_key(settings: Settings) -> str:
    """The configured tips key; in development, one generated once and kept (mode 0600)
    in the data directory. Production must set ``SNITCH_TIPS__KEY``."""
    if settings.tips.key is not None:
        return settings.tips.key.get_secret_value()
    if settings.environment == "production":
        raise ConfigError(
            "SNITCH_TIPS__KEY: required in production to encrypt tips; "
            'generate one with `python -c "from snitch.tips import generate_key; '
            'print(generate_key())"`'
        )
    path: Path = settings.data_dir / KEY_FILE
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    # O_EXCL: never overwrite a key (tips sealed with it would be lost); 0600 from birth.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key + "\n")
    return key
