"""Is this request from Discord? Ed25519 over timestamp + raw body, or nothing happens.

Discord signs every interaction it sends to an endpoint URL and probes the endpoint with
bad signatures; an endpoint that accepts one is removed. So verification fails closed: a
missing, malformed or wrong header, a tampered body or a stale timestamp are all the same
"no", and nothing past this check runs for them.
"""

from __future__ import annotations

import binascii
import time
from collections.abc import Mapping
from typing import Final

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from snitch.errors import ConfigError

SIGNATURE_HEADER: Final = "x-signature-ed25519"
TIMESTAMP_HEADER: Final = "x-signature-timestamp"
# Replays of a captured request are refused after this long (Discord's clock is good).
MAX_AGE_SECONDS: Final = 300


def load_public_key(hex_key: str) -> VerifyKey:
    """The application's public key from the developer portal (64 hex characters)."""
    try:
        raw = bytes.fromhex(hex_key.strip())
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            "SNITCH_DISCORD__PUBLIC_KEY must be the 64 hex characters of the application's "
            "public key (developer portal, General Information)"
        )
    return VerifyKey(raw)


def verified(
    key: VerifyKey,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
) -> bool:
    """Whether ``body`` carries a valid, fresh Discord signature (header names lower-case)."""
    signature = headers.get(SIGNATURE_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if len(signature) != 128 or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    try:
        key.verify(timestamp.encode("ascii") + body, binascii.unhexlify(signature))
    except (BadSignatureError, binascii.Error, ValueError):
        return False
    return True
