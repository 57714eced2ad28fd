"""``/fact-check`` through the real CommandTree: a public embed with the receipts."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from snitch.bot.exts.factcheck import verdict_embed
from snitch.factcheck import FactCheck, Verdict
from snitch.factcheck.retrieval import MAX_CLAIM_CHARS
from snitch.factcheck.service import EvidenceItem
from snitch.models import Usage
from snitch.render.discord import (
    EMBED_DESCRIPTION_LIMIT,
    EMBED_FIELD_NAME_LIMIT,
    EMBED_FIELD_VALUE_LIMIT,
    MESSAGE_EMBED_TEXT_LIMIT,
)
from tests.bot import payloads
from tests.bot.conftest import START, Harness
from tests.bot.test_editions import (
    FEUD,
    HOSTILE,
    assert_never_pings,
    callback_types,
    feud,
    opt_out,
    record_order,
    text_of,
)

PROMISE = "I promise I will bring the lemon drizzle cake to the picnic on Friday"
CLAIM = "alice promised to bring the lemon drizzle cake to the picnic"
COLOURS = {"Supported": 0x2ECC71, "Contradicted": 0xE74C3C, "Not enough evidence": 0x979C9F}
BARE_ID = re.compile(r"(?<![/\d])\d{17,20}(?!\d)")  # a message id outside a link


async def cake_talk(harness: Harness) -> str:
    """Chat with one planted promise among the noise; the promise's id."""
    await feud(harness, minutes_ago=120)
    return await harness.say(payloads.ALICE, PROMISE, at=harness.now - timedelta(minutes=30))


def embed_of(sent: list[Any]) -> dict[str, Any]:
    (answer,) = sent
    (embed,) = answer.body["embeds"]
    assert isinstance(embed, dict)
    return embed


async def test_fact_check_answers_publicly_with_jump_links(harness: Harness) -> None:
    promise_id = await cake_talk(harness)
    timeline = record_order(harness)

    sent = await harness.command("fact-check", {"claim": CLAIM}, user=payloads.BOB)

    # Deferred publicly ("thinking"), then one public follow-up with the embed.
    assert [kind for kind, _ in timeline] == ["callback", "sent"]
    assert callback_types(harness) == [(5, False)]
    assert [(m.via, m.ephemeral) for m in sent] == [("followup", False)]
    embed = embed_of(sent)
    verdict = embed["title"].removeprefix("Fact-check: ")
    assert embed["color"] == COLOURS[verdict]
    assert CLAIM in embed["description"]
    first = embed["fields"][0]
    assert first["name"].startswith("1. Alice")
    assert "lemon drizzle cake" in first["value"]
    jump = f"https://discord.com/channels/{payloads.GUILD_ID}/{payloads.GENERAL_ID}/{promise_id}"
    assert f"[Jump to message]({jump})" in first["value"]
    assert len(embed["fields"]) <= 5
    assert_never_pings(sent)


async def test_the_offline_judge_reads_a_promise_back(harness: Harness) -> None:
    await cake_talk(harness)

    sent = await harness.command("fact-check", {"claim": CLAIM})

    embed = embed_of(sent)
    assert embed["title"] == "Fact-check: Supported"
    assert embed["color"] == COLOURS["Supported"]
    assert embed["fields"][0]["name"] == "1. Alice (cited)"


async def test_cited_message_ids_become_links_to_the_evidence(harness: Harness) -> None:
    await cake_talk(harness)

    sent = await harness.command("fact-check", {"claim": "bob baked a lemon cake for alice"})

    embed = embed_of(sent)
    description = embed["description"]
    assert BARE_ID.search(description) is None, description  # "the closest is <id>"...
    jump = re.search(r"\(([^()]+)\)$", embed["fields"][0]["value"])
    assert jump is not None
    assert f"the closest is [#1]({jump.group(1)}) by Alice" in description  # ...is a link


def test_the_verdict_embed_fits_discord_whatever_it_is_fed() -> None:
    """Escaping can double a text: the worst chat, claim and explanation still fit."""
    item = EvidenceItem(
        message_id="1" * 18,
        channel_id="2" * 18,
        author_id="3" * 18,
        author_name="*" * 300,
        timestamp=START,
        text="_" * 4000,
        jump_url="https://discord.com/channels/1/2/" + "1" * 18,
        score=1.0,
        similarity=None,
    )
    result = FactCheck(
        claim="[" * MAX_CLAIM_CHARS,
        guild_id="4" * 18,
        verdict=Verdict.contradicted,
        explanation=("`" * 1990) + "1" * 18,
        cited_ids=("1" * 18,),
        evidence=(item,) * 25,
        engine="openai:fake",
        semantic=True,
        usage=Usage(),
    )

    embed = verdict_embed(result).to_dict()

    assert len(embed["description"]) <= EMBED_DESCRIPTION_LIMIT
    assert 1 <= len(embed["fields"]) <= 5
    for field in embed["fields"]:
        assert len(field["name"]) <= EMBED_FIELD_NAME_LIMIT
        assert len(field["value"]) <= EMBED_FIELD_VALUE_LIMIT
    assert len(verdict_embed(result)) <= MESSAGE_EMBED_TEXT_LIMIT


async def test_no_evidence_at_all(harness: Harness) -> None:
    sent = await harness.command("fact-check", {"claim": "the moon is made of cheese"})

    embed = embed_of(sent)
    assert embed["title"] == "Fact-check: Not enough evidence"
    assert embed["fields"] == [
        {"name": "Evidence", "value": "No message here matches the claim.", "inline": True}
    ]


async def test_hostile_evidence_and_claims_never_ping(harness: Harness) -> None:
    await feud(harness, lines=tuple((who, f"{text} {HOSTILE}") for who, text in FEUD))

    sent = await harness.command("fact-check", {"claim": f"bob ate the pizza {HOSTILE}"})

    embed = embed_of(sent)
    assert "everyone" in embed["fields"][0]["value"]  # quoted, defanged
    assert "everyone" in embed["description"]  # the claim too
    assert_never_pings(sent)


async def test_markdown_in_chat_cannot_smuggle_a_link(harness: Harness) -> None:
    await harness.say(
        payloads.BOB,
        "free pizza for everyone: [claim your pizza](https://evil.example/steal) **now**",
        at=harness.now - timedelta(minutes=5),
    )

    sent = await harness.command("fact-check", {"claim": "bob offered free pizza"})

    value = embed_of(sent)["fields"][0]["value"]
    assert "](https://evil.example" not in value
    assert "\\[claim your pizza\\]\\(https://evil.example/steal\\)" in value
    assert "\\*\\*now\\*\\*" in value


@pytest.mark.parametrize(
    ("claim", "complaint"),
    [
        ("   ", "the claim is empty: say what you want checked"),
        ("x" * (MAX_CLAIM_CHARS + 1), f"keep it under {MAX_CLAIM_CHARS}"),
    ],
)
async def test_a_bad_claim_is_refused_privately_before_deferring(
    harness: Harness, claim: str, complaint: str
) -> None:
    """Discord's client enforces 1..500 characters; blank claims and raw requests get here."""
    sent = await harness.command("fact-check", {"claim": claim})

    assert callback_types(harness) == [(4, True)]
    assert [(m.via, m.ephemeral) for m in sent] == [("interaction", True)]
    assert complaint in sent[0].body["content"]


async def test_fact_check_cooldowns(harness: Harness) -> None:
    await cake_talk(harness)

    for _ in range(3):
        sent = await harness.command("fact-check", {"claim": CLAIM})
        assert sent[0].body["embeds"]
    refused = await harness.command("fact-check", {"claim": CLAIM})
    other = await harness.command("fact-check", {"claim": CLAIM}, user=payloads.BOB)

    assert [(m.via, m.ephemeral) for m in refused] == [("interaction", True)]
    waited = re.search(r"try that again in (\d+) seconds", refused[0].body["content"])
    assert waited is not None
    # The 120-second window, less however long the three checks took on a busy machine.
    assert 100 <= int(waited.group(1)) <= 120
    assert other[0].body["embeds"]  # a member's cooldown is theirs alone


async def test_fact_check_is_refused_in_direct_messages(harness: Harness) -> None:
    sent = await harness.command("fact-check", {"claim": CLAIM}, guild=False)

    assert callback_types(harness) == [(4, True)]
    assert sent[0].body["content"] == "That only works in a server, not in direct messages."


async def test_opted_out_members_are_never_evidence(harness: Harness) -> None:
    bob_said = await harness.say(
        payloads.BOB, PROMISE.replace("I", "bob"), at=harness.now - timedelta(minutes=10)
    )
    await cake_talk(harness)
    await opt_out(harness, payloads.BOB)

    sent = await harness.command("fact-check", {"claim": "bob promised a lemon drizzle cake"})

    text = text_of(sent)
    assert bob_said not in text
    assert "Bob" not in text
