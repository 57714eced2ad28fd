"""``/breaking-news`` and ``/leak`` through the real CommandTree, against the fake Discord.

Every assertion is on what Discord would have received: the interaction callbacks, the
follow-ups and the messages posted in channels, in the order they arrived.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
from aiohttp import web
from discord import app_commands

from snitch.guilds import GuildSettings
from snitch.memory.embeddings import LocalEmbedder
from snitch.newsroom.text import is_pingless
from tests.bot import payloads
from tests.bot.conftest import Harness, make_settings, running_bot
from tests.bot.fake_discord import FakeDiscord, Sent

NO_PINGS: dict[str, list[str]] = {"parse": []}
DAVE = payloads.User(str(payloads.BASE_ID + 105), "dave")  # a fourth member
HOSTILE = "@everyone <@&123456789012345678> <@456456456456456456> @here"
FEUD = (
    (payloads.ALICE, "who ate my pizza?? the whole pizza is gone"),
    (payloads.BOB, "not me, I hate pizza. ask around"),
    (payloads.ALICE, "liar! the pizza box is in your room"),
    (payloads.BOB, "fine. the pizza was amazing and I regret nothing"),
    (payloads.ALICE, "unbelievable, that was my birthday pizza"),
)


# ------------------------------------------------------------------------ helpers


class Recording(list[Any]):
    """A list that also notes, in one shared timeline, what was appended to it."""

    def __init__(self, kind: str, timeline: list[tuple[str, Any]], items: Iterable[Any]) -> None:
        super().__init__(items)
        self.kind = kind
        self.timeline = timeline

    def append(self, item: Any) -> None:
        self.timeline.append((self.kind, item))
        super().append(item)


def record_order(harness: Harness) -> list[tuple[str, Any]]:
    """From now on, callbacks and sent messages in the order Discord received them."""
    timeline: list[tuple[str, Any]] = []
    fake = harness.discord
    fake.callbacks = Recording("callback", timeline, fake.callbacks)
    fake.sent = Recording("sent", timeline, fake.sent)
    return timeline


async def invoke(harness: Harness, payload: dict[str, Any]) -> list[Sent]:
    """``harness.command`` for a payload a test has altered (permissions, resolved data)."""
    harness.discord.expect_interaction(payload["token"], payload["channel_id"])
    before = len(harness.discord.sent)
    interaction: discord.Interaction[Any] = discord.Interaction(
        data=payload,  # type: ignore[arg-type]
        state=harness.bot._connection,
    )
    try:
        await harness.bot.tree._call(interaction)
    except app_commands.AppCommandError as error:
        await harness.bot.tree.on_error(interaction, error)
    await harness.settle()
    return harness.discord.sent[before:]


def strings(value: Any) -> list[str]:
    """Every string in a JSON body (content, titles, descriptions, fields, footers...)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [
            text
            for key, item in value.items()
            if key != "allowed_mentions"
            for text in strings(item)
        ]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []


def text_of(sent: Iterable[Sent]) -> str:
    """All the text the bot sent, in one string."""
    return "\n".join(text for message in sent for text in strings(message.body))


def assert_never_pings(sent: Iterable[Sent]) -> None:
    """Mentions off on every message, and nothing in the text that would ping anyway."""
    for message in sent:
        assert message.body.get("allowed_mentions") == NO_PINGS, message.body
        for text in strings(message.body):
            assert is_pingless(text), text


def callback_types(harness: Harness) -> list[tuple[int, bool]]:
    """Each interaction callback's type, and whether it was ephemeral."""
    return [
        (body["type"], bool(int((body.get("data") or {}).get("flags", 0)) & 64))
        for _, body in harness.discord.callbacks
    ]


async def feud(
    harness: Harness,
    *,
    channel_id: str = payloads.GENERAL_ID,
    lines: tuple[tuple[payloads.User, str], ...] = FEUD,
    minutes_ago: int = 60,
    **more: Any,
) -> list[str]:
    """A reply chain between members, ending shortly before now; the message ids."""
    ids: list[str] = []
    for minute, (who, text) in enumerate(lines):
        ids.append(
            await harness.say(
                who,
                text,
                channel_id=channel_id,
                at=harness.now - timedelta(minutes=minutes_ago - minute),
                reply_to=ids[-1] if ids else None,
                **more,
            )
        )
    return ids


async def configure(harness: Harness, **changes: Any) -> GuildSettings:
    """Change the test server's settings, as ``/snitch config`` would."""
    state = harness.services.state
    settings = (await state.settings(payloads.GUILD_ID)).updated(**changes)
    await state.save_settings(settings, harness.now)
    harness.services.ingest.rules.forget(payloads.GUILD_ID)
    return settings


async def opt_out(harness: Harness, user: payloads.User) -> None:
    """What ``/snitch optout`` does to the guild state."""
    await harness.services.state.set_opted_out(payloads.GUILD_ID, user.id, True, harness.now)
    harness.services.ingest.rules.forget(payloads.GUILD_ID)


def json_error(status: int, message: str, code: int) -> web.Response:
    return web.Response(
        body=json.dumps({"message": message, "code": code}).encode(),
        status=status,
        headers={"Content-Type": "application/json"},
    )


@pytest.fixture
async def walled_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_embedder: LocalEmbedder
) -> AsyncIterator[Harness]:
    """A bot whose every channel message Discord refuses with 403 Missing Permissions."""

    async def forbidden(_self: FakeDiscord, _request: web.Request) -> web.Response:
        return json_error(403, "Missing Permissions", 50013)

    monkeypatch.setattr(FakeDiscord, "_create_message", forbidden)
    async with running_bot(monkeypatch, make_settings(tmp_path), shared_embedder) as harness:
        yield harness


# ------------------------------------------------------------------------ /breaking-news


async def test_breaking_news_defers_then_posts_the_edition_here(harness: Harness) -> None:
    await feud(harness)
    timeline = record_order(harness)

    sent = await harness.command("breaking-news", {"hours": 6}, channel_id=payloads.RANDOM_ID)

    # Deferred (ephemeral "thinking") before anything else reached Discord.
    assert timeline[0][0] == "callback"
    assert callback_types(harness) == [(5, True)]
    assert [kind for kind, _ in timeline[1:]] == ["sent"] * len(sent)
    *edition, confirmation = sent
    # The edition: public messages with embeds, in the channel where it was asked for.
    assert edition
    assert all(m.via == "channel" and m.channel_id == payloads.RANDOM_ID for m in edition)
    assert all(m.body["embeds"] for m in edition)
    assert edition[0].body["embeds"][0]["title"] == "THE SNITCH"
    assert "pizza" in text_of(edition).lower()
    # The answer to the command: ephemeral, with a jump link to the edition's first message.
    assert confirmation.via == "followup"
    assert confirmation.ephemeral
    link = f"https://discord.com/channels/{payloads.GUILD_ID}/{payloads.RANDOM_ID}/"
    assert link + edition[0].message_id in confirmation.body["content"]
    assert_never_pings(sent)


async def test_breaking_news_does_not_print_tips_nor_archive(harness: Harness) -> None:
    await feud(harness)
    tips = harness.services.tips
    tip = await tips.submit(
        payloads.GUILD_ID, payloads.CAROL.id, "bob has a pizza oven", harness.now
    )
    await tips.review(payloads.GUILD_ID, tip.id, approve=True, now=harness.now)

    sent = await harness.command("breaking-news")

    assert "pizza oven" not in text_of(sent)
    assert [t.id for t in await tips.approved(payloads.GUILD_ID)] == [tip.id]
    assert await harness.services.editions.archive.latest(payloads.GUILD_ID) == []


async def test_breaking_news_of_one_channel_in_a_chosen_voice(harness: Harness) -> None:
    await feud(harness)
    await feud(
        harness,
        channel_id=payloads.RANDOM_ID,
        lines=(
            (payloads.CAROL, "the karaoke night was legendary"),
            (payloads.BOB, "karaoke again on friday?"),
            (payloads.CAROL, "karaoke every friday forever"),
        ),
    )

    sent = await harness.command(
        "breaking-news",
        {"channel": payloads.ChannelOption(payloads.RANDOM_ID, "random"), "persona": "noir"},
    )

    edition = [m for m in sent if m.via == "channel"]
    assert edition[0].body["embeds"][0]["title"] == "THE SNITCH: NIGHT EDITION"
    text = text_of(edition).lower()
    assert "karaoke" in text
    assert "pizza" not in text


async def test_breaking_news_refuses_a_channel_the_member_cannot_read(harness: Harness) -> None:
    await feud(harness, channel_id=payloads.SECRET_ID)
    payload = payloads.interaction(
        "breaking-news", {"channel": payloads.ChannelOption(payloads.SECRET_ID, "secret")}
    )
    payload["data"]["resolved"]["channels"][payloads.SECRET_ID]["permissions"] = "0"

    sent = await invoke(harness, payload)

    assert [(m.via, m.ephemeral) for m in sent] == [("interaction", True)]
    assert "can't read #secret" in sent[0].body["content"]
    assert "pizza" not in text_of(sent)


async def test_nothing_to_report_is_said_privately(harness: Harness) -> None:
    sent = await harness.command("breaking-news", {"hours": 3})

    assert callback_types(harness) == [(5, True)]
    assert [(m.via, m.ephemeral) for m in sent] == [("followup", True)]
    assert "nothing was said in the last 3 hours" in sent[0].body["content"]
    assert harness.discord.messages_in(payloads.GENERAL_ID) == sent  # no edition posted


@pytest.mark.parametrize("hours", [0, -5, 169, 10_000])
async def test_hours_out_of_range_from_a_raw_request(harness: Harness, hours: int) -> None:
    """Discord's client enforces the range; discord.py does not (its Range transformer
    for integers passes any value through, no TransformerError), so the command does."""
    await feud(harness)

    sent = await harness.command("breaking-news", {"hours": hours})

    assert callback_types(harness) == [(4, True)]  # refused at once, nothing deferred
    assert sent[0].body["content"] == f"hours must be between 1 and 168, not {hours}"
    assert_never_pings(sent)


def test_the_range_is_registered_with_discord() -> None:
    """What the Discord client enforces: the option's bounds in the registered schema."""
    from snitch.bot.exts.editions._cog import Editions

    command = Editions.breaking_news
    hours = next(p for p in command.parameters if p.name == "hours")
    assert (hours.min_value, hours.max_value, hours.required) == (1, 168, False)
    persona = next(p for p in command.parameters if p.name == "persona")
    assert {choice.value for choice in persona.choices} == {"gossip", "noir", "sports", "herald"}
    assert all(p.description for p in command.parameters)


async def test_an_unknown_persona_from_a_raw_request(harness: Harness) -> None:
    sent = await harness.command("breaking-news", {"persona": "pirate"})

    assert callback_types(harness) == [(4, True)]
    assert "unknown persona 'pirate'" in sent[0].body["content"]


async def test_breaking_news_cooldowns_per_member_and_per_server(harness: Harness) -> None:
    await feud(harness)

    first = await harness.command("breaking-news")
    again = await harness.command("breaking-news")

    assert first[-1].body["content"].startswith("Hot off the press")
    assert callback_types(harness)[1] == (4, True)  # refused at once, nothing deferred
    assert [(m.via, m.ephemeral) for m in again] == [("interaction", True)]
    assert "try that again in 300 seconds" in again[0].body["content"]
    # Others may still ask, up to the server's limit of three in ten minutes.
    for member in (payloads.BOB, payloads.CAROL):
        sent = await harness.command("breaking-news", user=member)
        assert sent[-1].body["content"].startswith("Hot off the press")
    refused = await harness.command("breaking-news", user=DAVE)
    assert [(m.via, m.ephemeral) for m in refused] == [("interaction", True)]
    assert "try that again in 600 seconds" in refused[0].body["content"]
    assert len(harness.discord.replies()) == 5  # three editions confirmed, two refusals


async def test_a_refused_request_does_not_start_a_cooldown(harness: Harness) -> None:
    await feud(harness)
    payload = payloads.interaction("breaking-news")
    payload["app_permissions"] = str(payloads.BOT_PERMISSIONS & ~(1 << 11))  # no sending

    refused = await invoke(harness, payload)
    sent = await harness.command("breaking-news")

    assert refused[0].body["content"] == "I need Send Messages here to do that."
    assert sent[-1].body["content"].startswith("Hot off the press")


async def test_breaking_news_where_the_bot_may_not_post(harness: Harness) -> None:
    payload = payloads.interaction("breaking-news")
    payload["app_permissions"] = str(1 << 10)  # it can see the channel, nothing more

    sent = await invoke(harness, payload)

    assert callback_types(harness) == [(4, True)]
    assert sent[0].body["content"] == "I need Send Messages, Embed Links here to do that."


async def test_breaking_news_when_discord_refuses_the_post(walled_off: Harness) -> None:
    await feud(walled_off)

    sent = await walled_off.command("breaking-news")

    assert callback_types(walled_off) == [(5, True)]
    assert [(m.via, m.ephemeral) for m in sent] == [("followup", True)]
    assert "Discord wouldn't let me post the edition in this channel" in sent[0].body["content"]


@pytest.mark.parametrize("command", ["breaking-news", "leak"])
async def test_server_commands_are_refused_in_direct_messages(
    harness: Harness, command: str
) -> None:
    await feud(harness)

    sent = await harness.command(command, guild=False)

    assert callback_types(harness) == [(4, True)]
    assert sent[0].body["content"] == "That only works in a server, not in direct messages."


async def test_a_hostile_message_never_pings_from_an_edition(harness: Harness) -> None:
    await feud(harness, lines=tuple((who, f"{text} {HOSTILE}") for who, text in FEUD))

    sent = await harness.command("breaking-news", {"persona": "sports"})

    edition = [m for m in sent if m.via == "channel"]
    assert "everyone" in text_of(edition)  # the hostile messages are quoted...
    assert_never_pings(sent)  # ...without a single ping


async def test_opted_out_members_and_excluded_channels_stay_out(harness: Harness) -> None:
    # Stored first, then the member opts out and the channel is excluded: the edition
    # itself must leave them out, not only ingestion.
    carol = payloads.CAROL
    ids = await feud(
        harness, lines=((carol, "my secret saffron pizza recipe stays with me"), *FEUD)
    )
    await harness.say(
        payloads.ALICE,
        f"and <@{carol.id}> knows who did it",
        at=harness.now - timedelta(minutes=30),
        mentions=(carol,),
        reply_to=ids[-1],
    )
    await feud(harness, channel_id=payloads.SECRET_ID, lines=((payloads.BOB, "swordfish"),) * 3)
    await feud(harness, channel_id=payloads.THREAD_ID, lines=((payloads.BOB, "marlin"),) * 3)
    await opt_out(harness, payloads.CAROL)
    await configure(harness, excluded_channel_ids=(payloads.SECRET_ID,))

    sent = await harness.command("breaking-news", {"hours": 24})

    text = text_of(sent).lower()
    assert "pizza" in text
    for hidden in ("saffron", "carol", "swordfish", "marlin"):
        assert hidden not in text


# ------------------------------------------------------------------------ /leak


async def test_leak_teases_the_likely_headline_publicly(harness: Harness) -> None:
    await feud(harness)

    sent = await harness.command("leak")

    assert callback_types(harness) == [(4, False)]
    assert [(m.via, m.ephemeral) for m in sent] == [("interaction", False)]
    teaser = sent[0].body["content"]
    assert teaser.startswith("Psst. Something is brewing in #general")
    assert "alice" not in teaser.lower()
    assert_never_pings(sent)


async def test_leak_never_names_an_opted_out_member(harness: Harness) -> None:
    carol = payloads.CAROL
    await feud(
        harness,
        lines=(
            (payloads.ALICE, f"carol carol carol, the carol saga continues <@{carol.id}>"),
            (payloads.BOB, "carol again? carol is everywhere"),
            (carol, "carol here: leave carol alone"),
            (payloads.ALICE, "carol carol carol"),
        ),
        mentions=(carol,),
    )
    await opt_out(harness, carol)

    sent = await harness.command("leak", user=payloads.BOB)

    assert "carol" not in text_of(sent).lower()


async def test_leak_with_nothing_brewing_answers_privately(harness: Harness) -> None:
    sent = await harness.command("leak")

    assert [(m.via, m.ephemeral) for m in sent] == [("interaction", True)]
    assert sent[0].body["content"].startswith("Nothing is brewing yet")


async def test_leak_only_looks_past_the_last_edition(harness: Harness) -> None:
    await feud(harness, minutes_ago=90)
    settings = await configure(harness, edition_channel_id=payloads.NEWS_ID)
    written = await harness.services.editions.write(
        settings, since=harness.now - timedelta(days=1), until=harness.now
    )
    await harness.services.editions.archive_published(
        settings,
        written,
        now=harness.now,
        slot=None,
        channel_id=payloads.NEWS_ID,
        discord_message_ids=["1"],
    )
    harness.now += timedelta(minutes=10)

    sent = await harness.command("leak")

    assert sent[0].body["content"].startswith("Nothing is brewing yet")  # old news


async def test_leak_cooldown(harness: Harness) -> None:
    await feud(harness)

    first = await harness.command("leak")
    again = await harness.command("leak")
    other = await harness.command("leak", user=payloads.BOB)

    assert first[0].body["content"].startswith("Psst.")
    assert [(m.via, m.ephemeral) for m in again] == [("interaction", True)]
    assert "try that again in 120 seconds" in again[0].body["content"]
    assert other[0].body["content"].startswith("Psst.")  # a member's cooldown is theirs
