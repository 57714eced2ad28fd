"""Signing requests as Discord does, with a test key."""

from __future__ import annotations

import json
import time
from typing import Any

from nacl.signing import SigningKey

TEST_KEY = SigningKey(bytes(range(32)))
PUBLIC_KEY_HEX = TEST_KEY.verify_key.encode().hex()


def signed(
    body: bytes | dict[str, Any],
    *,
    key: SigningKey = TEST_KEY,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The raw body and the headers Discord would send with it."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(stamp.encode() + raw).signature.hex()
    return raw, {
        "X-Signature-Ed25519": signature,
        "X-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }
