"""Only requests Discord signed get past the endpoint's front door."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from snitch.errors import ConfigError
from snitch.interactions.handler import HttpReply, InteractionHandler
from snitch.interactions.signature import load_public_key
from tests.interactions.signing import PUBLIC_KEY_HEX, signed


class RecordingRunner:
    """Counts what got past verification."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def initial(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(payload)
        return {"type": 4, "data": {"content": "ok", "flags": 64}}


def handler() -> tuple[InteractionHandler, RecordingRunner]:
    runner = RecordingRunner()
    return InteractionHandler(load_public_key(PUBLIC_KEY_HEX), runner), runner


COMMAND = {"id": "1", "type": 2, "token": "t", "application_id": "2", "data": {"name": "tip"}}


async def test_a_signed_ping_gets_a_pong() -> None:
    endpoint, runner = handler()
    reply = await endpoint.handle(*signed({"type": 1}))
    assert (reply.status, reply.body) == (200, b'{"type":1}')
    assert runner.seen == []


async def test_a_signed_command_reaches_the_runner() -> None:
    endpoint, runner = handler()
    reply = await endpoint.handle(*signed(COMMAND))
    assert reply.status == 200
    assert runner.seen == [COMMAND]


def tampered_body() -> tuple[bytes, dict[str, str]]:
    body, headers = signed(COMMAND)
    return body.replace(b'"tip"', b'"top"'), headers


def wrong_key() -> tuple[bytes, dict[str, str]]:
    return signed(COMMAND, key=SigningKey(bytes(32)))


def without(header: str) -> tuple[bytes, dict[str, str]]:
    body, headers = signed(COMMAND)
    return body, {name: value for name, value in headers.items() if name != header}


def with_header(header: str, value: str) -> tuple[bytes, dict[str, str]]:
    body, headers = signed(COMMAND)
    return body, {**headers, header: value}


def stale() -> tuple[bytes, dict[str, str]]:
    return signed(COMMAND, timestamp=int(time.time()) - 3600)


@pytest.mark.parametrize(
    "request_",
    [
        tampered_body(),
        wrong_key(),
        without("X-Signature-Ed25519"),
        without("X-Signature-Timestamp"),
        with_header("X-Signature-Ed25519", "zz" * 64),
        with_header("X-Signature-Ed25519", "00" * 63),
        with_header("X-Signature-Ed25519", "00" * 64),
        with_header("X-Signature-Timestamp", "yesterday"),
        with_header("X-Signature-Timestamp", "-1"),
        stale(),
    ],
    ids=[
        "tampered-body",
        "wrong-key",
        "no-signature",
        "no-timestamp",
        "signature-not-hex",
        "signature-too-short",
        "signature-zeros",
        "timestamp-not-a-number",
        "timestamp-negative",
        "replayed-an-hour-later",
    ],
)
async def test_anything_unsigned_gets_401_and_touches_nothing(
    request_: tuple[bytes, dict[str, str]],
) -> None:
    endpoint, runner = handler()
    reply = await endpoint.handle(*request_)
    assert reply.status == 401
    assert runner.seen == []


async def test_signed_nonsense_is_a_400_not_a_crash() -> None:
    endpoint, runner = handler()
    for body in (b"not json", b"[1, 2]", b'{"type": 99}', b'{"type": 2}'):
        reply = await endpoint.handle(*signed(body))
        assert reply.status == 400, body
    assert runner.seen == []


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=512),
    headers=st.dictionaries(
        st.sampled_from(
            ["X-Signature-Ed25519", "X-Signature-Timestamp", "x-signature-ed25519", "Host"]
        )
        | st.text(max_size=20),
        st.text(max_size=200),
        max_size=5,
    ),
)
async def test_random_requests_never_get_past_verification_nor_a_5xx(
    body: bytes, headers: dict[str, str]
) -> None:
    endpoint, runner = handler()
    reply: HttpReply = await endpoint.handle(body, headers)
    assert reply.status == 401
    assert runner.seen == []


def test_a_malformed_public_key_is_a_setting_error() -> None:
    with pytest.raises(ConfigError, match="SNITCH_DISCORD__PUBLIC_KEY"):
        load_public_key("not hex")
