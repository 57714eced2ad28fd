from __future__ import annotations

from tests.bot import payloads
from tests.bot.conftest import Harness


async def test_a_message_is_stored(harness: Harness) -> None:
    message_id = await harness.say(payloads.ALICE, "hello there")
    stored = await harness.services.store.messages_by_id([message_id])
    assert [m.content for m in stored] == ["hello there"]
    assert harness.discord.commands[None] == []
