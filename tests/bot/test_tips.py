"""``/tip``: acknowledged only to the tipster, refused in plain words, and never logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import structlog

from snitch.config import Settings
from snitch.memory.embeddings import LocalEmbedder
from snitch.tips import TipStatus, generate_key
from tests.bot import payloads
from tests.bot.conftest import Harness, running_bot
from tests.bot.fake_discord import Sent


def answer_of(sent: list[Sent]) -> str:
    """The one ephemeral, pingless, direct answer to the command."""
    assert len(sent) == 1, sent
    assert sent[0].ephemeral
    assert sent[0].via == "interaction"
    assert sent[0].body["allowed_mentions"] == {"parse": []}
    return str(sent[0].body["content"])


async def pending(harness: Harness) -> list[str]:
    return [tip.text for tip in await harness.services.tips.waiting(payloads.GUILD_ID, 100)]


@contextmanager
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Every structlog event and standard-library record (discord.py's too, at DEBUG)."""
    lines: list[str] = []
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:
        yield lines
    lines += [repr(event) for event in events]
    lines += [f"{record.getMessage()} {record.__dict__!r}" for record in caplog.records]


async def test_a_tip_is_acknowledged_privately_and_kept_sealed(harness: Harness) -> None:
    sent = await harness.command("tip", {"text": "  the mayor ate the last donut  "})
    answer = answer_of(sent)
    assert answer.startswith("Thanks, tip received.")
    assert "unverified reader tip" in answer
    assert "donut" not in answer
    assert [body["type"] for _, body in harness.discord.callbacks] == [4]
    # Nothing public anywhere.
    assert all(s.ephemeral for s in harness.discord.sent)
    tips = await harness.services.tips.waiting(payloads.GUILD_ID)
    assert [(t.text, t.status) for t in tips] == [
        ("the mayor ate the last donut", TipStatus.pending)
    ]
    rows = await harness.services.store.tips.with_status(payloads.GUILD_ID, "pending", 10)
    assert b"donut" not in rows[0].sealed
    assert payloads.ALICE.id not in rows[0].tipster


async def test_an_empty_tip_is_refused(harness: Harness) -> None:
    answer = answer_of(await harness.command("tip", {"text": "   "}))
    assert answer == "Your tip is empty. Tell us what you saw!"
    assert await pending(harness) == []


async def test_a_too_long_tip_is_refused_without_echoing_it(harness: Harness) -> None:
    limit = harness.services.settings.tips.max_chars
    text = "secret " + "z" * limit
    answer = answer_of(await harness.command("tip", {"text": text}))
    assert f"keep it under {limit}" in answer
    assert "secret" not in answer
    assert await pending(harness) == []


async def test_a_member_may_send_only_so_many_tips_an_hour(harness: Harness) -> None:
    per_hour = harness.services.settings.tips.per_user_per_hour
    for number in range(per_hour):
        assert "Thanks" in answer_of(await harness.command("tip", {"text": f"tip {number}"}))
        harness.now += timedelta(minutes=1)
    refused = answer_of(await harness.command("tip", {"text": "one too many"}))
    assert f"You have sent {per_hour} tips in the last hour" in refused
    # Someone else still can, and so can the same member an hour later.
    assert "Thanks" in answer_of(await harness.command("tip", {"text": "x"}, user=payloads.BOB))
    harness.now += timedelta(hours=1)
    assert "Thanks" in answer_of(await harness.command("tip", {"text": "back again"}))
    assert "one too many" not in await pending(harness)


async def test_the_tip_line_has_a_guild_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_embedder: LocalEmbedder
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", tips={"key": generate_key(), "per_guild_per_hour": 2}
    )
    async with running_bot(monkeypatch, settings, shared_embedder) as harness:
        for user in (payloads.ALICE, payloads.BOB):
            assert "Thanks" in answer_of(await harness.command("tip", {"text": "hi"}, user=user))
        refused = answer_of(await harness.command("tip", {"text": "hi"}, user=payloads.CAROL))
        assert refused == "The tip line is swamped right now. Try again in an hour."
        assert len(await pending(harness)) == 2


async def test_a_tip_from_a_dm_is_refused(harness: Harness) -> None:
    answer = answer_of(await harness.command("tip", {"text": "hello"}, guild=False))
    assert "only works in a server" in answer
    assert await pending(harness) == []


async def test_the_log_never_holds_the_tip_or_the_tipster(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    tipster = payloads.CAROL
    secret = "the treasurer hides cash in the piano"
    with everything_logged(caplog) as lines:
        for _ in range(harness.services.settings.tips.per_user_per_hour + 1):  # last refused
            await harness.command("tip", {"text": secret}, user=tipster)
        await harness.command("tip", {"text": "  "}, user=tipster)
        await harness.command("tip", {"text": secret * 100}, user=tipster)
    assert any("tip received" in line for line in lines)  # the capture works
    assert any("tip refused" in line for line in lines)
    for line in lines:
        assert "treasurer" not in line
        assert tipster.id not in line


async def test_a_failure_is_answered_without_logging_the_tipster(
    harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire while storing 'the treasurer hides cash'")

    monkeypatch.setattr(harness.services.tips, "submit", broken)
    with everything_logged(caplog) as lines:
        answer = answer_of(
            await harness.command("tip", {"text": "the treasurer"}, user=payloads.CAROL)
        )
    assert answer.startswith("Something went wrong on our side and your tip was not saved")
    reference = answer.split("`")[1]
    assert any(reference in line and "tip failed" in line for line in lines)
    for line in lines:
        assert "treasurer" not in line
        assert payloads.CAROL.id not in line
