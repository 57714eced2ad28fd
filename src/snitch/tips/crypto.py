"""Encryption of tips at rest, and the keyed hash that stands in for the tipster.

One 32-byte master key (from settings, later Key Vault) is stretched with HKDF into two
independent keys: one for AES-256-GCM over the tip's text, one for HMAC-SHA256 over
(guild, user). The text is bound to its tip id and guild as associated data, so a
ciphertext copied onto another row does not decrypt. The hash lets the bot count a user's
tips (rate limits, abuse control, forget-me) without storing who they are; without the key
it cannot be reversed or recomputed, even by someone who knows every member's id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from snitch.errors import SnitchError

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
_ENCRYPTION_INFO: Final = b"snitch tips: text encryption v1"
_HASH_INFO: Final = b"snitch tips: tipster hash v1"


class TipKeyError(SnitchError):
    """A tip cannot be decrypted with this key (a different key, or a tampered row)."""


def generate_key() -> str:
    """A fresh master key, as the settings expect it (URL-safe base64)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(master)


class TipCipher:
    """Seals and opens tip texts, and hashes tipsters, under one master key."""

    def __init__(self, master_key: str) -> None:
        master = base64.urlsafe_b64decode(master_key.encode("ascii"))
        if len(master) != KEY_BYTES:
            raise TipKeyError("the tips key must be 32 bytes in URL-safe base64")
        self._aead = AESGCM(_derive(master, _ENCRYPTION_INFO))
        self._hash_key = _derive(master, _HASH_INFO)

    def seal(self, text: str, *, guild_id: str, tip_id: str) -> bytes:
        """Nonce and ciphertext of ``text``, bound to its guild and tip id."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, text.encode("utf-8"), _bound(guild_id, tip_id))

    def open(self, sealed: bytes, *, guild_id: str, tip_id: str) -> str:
        """The text sealed for this guild and tip id; ``TipKeyError`` if it does not open."""
        nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, ciphertext, _bound(guild_id, tip_id))
        except InvalidTag:
            raise TipKeyError(
                f"tip {tip_id} does not decrypt with this key (a different SNITCH_TIPS__KEY, "
                "or the row was altered)"
            ) from None
        return plain.decode("utf-8")

    def tipster(self, *, guild_id: str, user_id: str) -> str:
        """The keyed hash that stands in for a user in one guild's tips."""
        message = f"{guild_id}:{user_id}".encode()
        return hmac.new(self._hash_key, message, hashlib.sha256).hexdigest()


def _bound(guild_id: str, tip_id: str) -> bytes:
    return f"{guild_id}/{tip_id}".encode()
