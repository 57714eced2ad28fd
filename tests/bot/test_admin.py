"""``/snitch``: config, status, optout/optin, forget-me, tips review and backfill, driven
through the real CommandTree against the fake Discord."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
import httpx

from snitch.guilds import GuildSettings
from snitch.interactions.asgi import InteractionsApp
from snitch.interactions.endpoint import LocalJobs
from snitch.interactions.handler import InteractionHandler
from snitch.interactions.runner import TreeRunner
from snitch.interactions.signature import load_public_key
from snitch.models import Newsletter, TimeWindow
from snitch.tips import TipStatus
from tests.bot import payloads
from tests.bot.conftest import Harness
from tests.bot.fake_discord import Sent
from tests.interactions.signing import PUBLIC_KEY_HEX, signed

MOD: dict[str, Any] = {"user": payloads.BOB, "permissions": payloads.MANAGE_GUILD}
DAVE = payloads.User(str(payloads.BASE_ID + 105), "dave")
REFUSED = "Only members with Manage Server can do that."


def text_of(sent: Sent) -> str:
    """Everything a reader sees in one message: content, embed titles and descriptions."""
    parts = [sent.body.get("content") or ""]
    for embed in sent.body.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
    return "\n".join(parts)


def only_answer(sent: list[Sent]) -> Sent:
    """The one ephemeral, pingless answer a command gave."""
    assert len(sent) == 1, sent
    answer = sent[0]
    assert answer.ephemeral
    assert answer.body["allowed_mentions"] == {"parse": []}
    return answer


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


async def autocomplete(
    harness: Harness,
    command: str,
    options: dict[str, Any],
    focused: str,
    **how: Any,
) -> list[dict[str, Any]]:
    """Choices the bot offers while a member types ``focused`` (an autocomplete interaction)."""
    payload = payloads.interaction(command, options, **how)
    payload["type"] = 4
    data = payload["data"]
    typed = data["options"][0]["options"] if " " in command else data["options"]
    for option in typed:
        if option["name"] == focused:
            option["focused"] = True
    harness.discord.expect_interaction(payload["token"], payload["channel_id"])
    before = len(harness.discord.callbacks)
    interaction: discord.Interaction[Any] = discord.Interaction(
        data=payload,  # type: ignore[arg-type]
        state=harness.bot._connection,
    )
    await harness.bot.tree._call(interaction)
    await harness.settle()
    answers = harness.discord.callbacks[before:]
    assert [body["type"] for _, body in answers] == [8]
    choices: list[dict[str, Any]] = answers[0][1]["data"]["choices"]
    return choices


async def settings(harness: Harness) -> GuildSettings:
    return await harness.services.state.settings(payloads.GUILD_ID)


async def tip(harness: Harness, text: str, user: payloads.User = payloads.CAROL) -> str:
    """A member tips; returns the stored tip's id."""
    sent = await harness.command("tip", {"text": text}, user=user)
    assert "Thanks" in text_of(only_answer(sent))
    waiting = await harness.services.tips.waiting(payloads.GUILD_ID, limit=100)
    return next(t.id for t in waiting if t.text == text)


# --- config ---------------------------------------------------------------------------


async def test_config_saves_and_answers_with_the_next_edition(harness: Harness) -> None:
    sent = await harness.command(
        "snitch config",
        {
            "channel": payloads.ChannelOption(payloads.NEWS_ID, "news"),
            "schedule": "Weekly Friday at 17:30",
            "timezone": "Europe/Paris",
            "persona": "noir",
            "retention_days": 14,
            "llm": False,
        },
        **MOD,
    )
    answer = text_of(only_answer(sent))
    saved = await settings(harness)
    assert saved.edition_channel_id == payloads.NEWS_ID
    assert saved.schedule == "weekly fri 17:30"
    assert saved.timezone == "Europe/Paris"
    assert saved.persona == "noir"
    assert saved.retention_days == 14
    assert not saved.llm_enabled
    # START is Friday 2026-11-20 12:00 UTC: 17:30 in Paris (UTC+1) is 16:30 UTC that day.
    expected = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)
    assert f"<t:{unix(expected)}:F>" in answer
    assert "Saved: channel, schedule, timezone, persona, retention_days, llm." in answer
    assert f"<#{payloads.NEWS_ID}>" in answer
    assert "The Noir Detective" in answer
    assert "offline engine only" in answer
    assert "I can't post" not in answer  # the bot's role may post in #news
    assert harness.discord.callbacks[-1][1]["type"] == 4
    assert not harness.discord.messages_in(payloads.NEWS_ID)


async def test_config_warns_when_the_bot_cannot_post_in_the_edition_channel(
    harness: Harness,
) -> None:
    sent = await harness.command(
        "snitch config", {"channel": payloads.ChannelOption(payloads.LOCKED_ID, "locked")}, **MOD
    )
    answer = text_of(only_answer(sent))
    assert (await settings(harness)).edition_channel_id == payloads.LOCKED_ID
    assert "I need Embed Links" in answer


async def test_config_admin_channel_is_saved_and_shown_to_moderators_only(
    harness: Harness,
) -> None:
    before = text_of(only_answer(await harness.command("snitch config", **MOD)))
    assert "**Admin channel:** not set" in before

    sent = await harness.command(
        "snitch config",
        {"admin_channel": payloads.ChannelOption(payloads.LOCKED_ID, "locked")},
        **MOD,
    )

    answer = text_of(only_answer(sent))
    assert (await settings(harness)).admin_channel_id == payloads.LOCKED_ID
    assert "Saved: admin_channel." in answer
    assert f"**Admin channel:** <#{payloads.LOCKED_ID}>" in answer
    assert "I can't post" not in answer  # warnings are plain text: no Embed Links needed
    status = text_of(only_answer(await harness.command("snitch status")))
    assert "Admin channel" not in status


async def test_config_without_options_shows_the_settings(harness: Harness) -> None:
    answer = text_of(only_answer(await harness.command("snitch config", **MOD)))
    assert "daily 18:00 (UTC)" in answer
    assert "not set yet" in answer
    assert "none until an edition channel is set" in answer
    assert "every channel I can see" in answer
    assert "30 days" in answer


async def test_config_with_unchanged_values_changes_nothing(harness: Harness) -> None:
    answer = text_of(
        only_answer(await harness.command("snitch config", {"persona": "gossip"}, **MOD))
    )
    assert "Nothing changed" in answer


async def test_config_schedule_off_has_no_next_edition(harness: Harness) -> None:
    await harness.command(
        "snitch config", {"channel": payloads.ChannelOption(payloads.NEWS_ID)}, **MOD
    )
    answer = text_of(
        only_answer(await harness.command("snitch config", {"schedule": "off"}, **MOD))
    )
    assert "**Schedule:** off" in answer
    assert "none (the schedule is off)" in answer
    assert "<t:" not in answer
    assert not await harness.services.state.due(harness.now + timedelta(days=30))


async def test_config_channel_filters(harness: Harness) -> None:
    general = payloads.ChannelOption(payloads.GENERAL_ID)
    secret = payloads.ChannelOption(payloads.SECRET_ID, "secret")
    random = payloads.ChannelOption(payloads.RANDOM_ID, "random")

    answer = text_of(
        only_answer(await harness.command("snitch config", {"exclude": secret}, **MOD))
    )
    assert (await settings(harness)).excluded_channel_ids == (payloads.SECRET_ID,)
    assert f"every channel I can see, except <#{payloads.SECRET_ID}>" in answer
    assert "left out of editions" in answer

    await harness.command("snitch config", {"include": general}, **MOD)
    await harness.command("snitch config", {"include": random}, **MOD)
    current = await settings(harness)
    assert current.included_channel_ids == (payloads.GENERAL_ID, payloads.RANDOM_ID)
    assert current.excluded_channel_ids == (payloads.SECRET_ID,)

    # Naming a channel on one side takes it off the other.
    await harness.command("snitch config", {"exclude": random}, **MOD)
    current = await settings(harness)
    assert current.included_channel_ids == (payloads.GENERAL_ID,)
    assert current.excluded_channel_ids == (payloads.SECRET_ID, payloads.RANDOM_ID)

    # Clearing happens first, so this reads "only #random from now on".
    answer = text_of(
        only_answer(
            await harness.command(
                "snitch config", {"clear_filters": True, "include": random}, **MOD
            )
        )
    )
    current = await settings(harness)
    assert current.included_channel_ids == (payloads.RANDOM_ID,)
    assert current.excluded_channel_ids == ()
    assert f"only <#{payloads.RANDOM_ID}>" in answer


async def test_config_refuses_one_channel_both_included_and_excluded(harness: Harness) -> None:
    same = payloads.ChannelOption(payloads.RANDOM_ID)
    sent = await harness.command("snitch config", {"include": same, "exclude": same}, **MOD)
    assert "include, exclude" in text_of(only_answer(sent))
    assert await settings(harness) == GuildSettings.defaults(payloads.GUILD_ID)


async def test_config_bad_schedule_names_the_field(harness: Harness) -> None:
    sent = await harness.command("snitch config", {"schedule": "every full moon"}, **MOD)
    answer = text_of(only_answer(sent))
    assert answer.startswith("schedule:")
    assert "daily 18:00" in answer  # the valid forms
    assert await settings(harness) == GuildSettings.defaults(payloads.GUILD_ID)


async def test_config_bad_timezone_names_the_field(harness: Harness) -> None:
    sent = await harness.command(
        "snitch config", {"timezone": "Mars/Olympus_Mons", "schedule": "daily 09:00"}, **MOD
    )
    answer = text_of(only_answer(sent))
    assert answer.startswith("timezone:")
    assert "IANA" in answer
    # Nothing at all was applied, not even the valid schedule.
    assert await settings(harness) == GuildSettings.defaults(payloads.GUILD_ID)


async def test_config_retention_outside_the_range_names_the_field(harness: Harness) -> None:
    sent = await harness.command("snitch config", {"retention_days": 0}, **MOD)
    assert text_of(only_answer(sent)).startswith("retention_days:")
    assert (await settings(harness)).retention_days == 30


async def test_config_needs_manage_server(harness: Harness) -> None:
    sent = await harness.command("snitch config", {"schedule": "daily 09:00"}, user=payloads.ALICE)
    assert text_of(only_answer(sent)) == REFUSED
    assert await settings(harness) == GuildSettings.defaults(payloads.GUILD_ID)


async def test_config_in_a_dm_is_refused(harness: Harness) -> None:
    sent = await harness.command("snitch config", {"schedule": "off"}, guild=False, **MOD)
    assert "only works in a server" in text_of(only_answer(sent))


async def test_timezone_autocomplete(harness: Harness) -> None:
    choices = await autocomplete(harness, "snitch config", {"timezone": "paris"}, "timezone", **MOD)
    assert choices[0] == {"name": "Europe/Paris", "value": "Europe/Paris"}
    common = await autocomplete(harness, "snitch config", {"timezone": ""}, "timezone", **MOD)
    assert len(common) == 25
    assert common[0]["value"] == "UTC"
    new_york = await autocomplete(
        harness, "snitch config", {"timezone": "new york"}, "timezone", **MOD
    )
    assert new_york[0]["value"] == "America/New_York"


async def test_schedule_autocomplete(harness: Harness) -> None:
    choices = await autocomplete(
        harness, "snitch config", {"schedule": "Weekly Friday 9:15"}, "schedule", **MOD
    )
    assert choices[0]["value"] == "weekly fri 09:15"
    started = await autocomplete(
        harness, "snitch config", {"schedule": "weekly"}, "schedule", **MOD
    )
    assert {c["value"] for c in started} >= {"weekly fri 17:30", "weekly mon 09:00"}


# --- status ---------------------------------------------------------------------------


async def test_status_for_a_member(harness: Harness) -> None:
    await harness.command(
        "snitch config",
        {"channel": payloads.ChannelOption(payloads.NEWS_ID), "schedule": "daily 18:00"},
        **MOD,
    )
    await harness.say(payloads.ALICE, "the cake is a lie")
    await harness.say(payloads.BOB, "no it is not")
    newsletter = Newsletter(
        persona="gossip",
        persona_display_name="The Gossip Columnist",
        masthead="THE SNITCH",
        engine="offline",
        guild_name="Test Server",
        headline="CAKE *SCANDAL* ROCKS #general",
        window=TimeWindow(since=harness.now - timedelta(days=1), until=harness.now),
        stories=(),
        body_markdown="...",
    )
    await harness.services.editions.archive.keep(
        newsletter,
        guild_id=payloads.GUILD_ID,
        published_at=harness.now - timedelta(hours=2),
        channel_id=payloads.NEWS_ID,
        discord_message_ids=["555000000000000001", "555000000000000002"],
    )
    await tip(harness, "the baker did it")

    answer = text_of(only_answer(await harness.command("snitch status", user=payloads.ALICE)))
    assert "The Snitch in Test Server" in answer
    assert "daily 18:00 (UTC)" in answer
    assert r"CAKE \*SCANDAL\* ROCKS #general" in answer  # markdown escaped
    link = f"https://discord.com/channels/{payloads.GUILD_ID}/{payloads.NEWS_ID}/555000000000000001"
    assert link in answer
    assert f"<t:{unix(harness.now - timedelta(hours=2))}:F>" in answer
    assert f"<t:{unix(datetime(2026, 11, 20, 18, 0, tzinfo=UTC))}:F>" in answer
    assert "**Stored:** 2 messages" in answer
    assert "**You:** in" in answer
    assert "Tips waiting" not in answer  # members don't see the moderation queue

    moderator = text_of(only_answer(await harness.command("snitch status", **MOD)))
    assert "**Tips waiting for review:** 1" in moderator


async def test_status_before_any_edition(harness: Harness) -> None:
    answer = text_of(only_answer(await harness.command("snitch status")))
    assert "**Last edition:** none yet" in answer
    assert "**Stored:** 0 messages" in answer


# --- optout / optin -------------------------------------------------------------------


async def test_optout_then_optin(harness: Harness) -> None:
    state = harness.services.state
    answer = text_of(only_answer(await harness.command("snitch optout", user=payloads.ALICE)))
    assert answer.startswith("You're opted out.")
    assert "/snitch forget-me" in answer
    assert "30 days" in answer
    assert payloads.ALICE.id in await state.opted_out(payloads.GUILD_ID)

    again = text_of(only_answer(await harness.command("snitch optout", user=payloads.ALICE)))
    assert again.startswith("You were already opted out.")

    status = text_of(only_answer(await harness.command("snitch status", user=payloads.ALICE)))
    assert "**You:** opted out" in status

    back = text_of(only_answer(await harness.command("snitch optin", user=payloads.ALICE)))
    assert back.startswith("You're back in")
    assert payloads.ALICE.id not in await state.opted_out(payloads.GUILD_ID)

    noop = text_of(only_answer(await harness.command("snitch optin", user=payloads.ALICE)))
    assert "not opted out" in noop


async def test_optout_in_a_dm_is_refused(harness: Harness) -> None:
    sent = await harness.command("snitch optout", guild=False)
    assert "only works in a server" in text_of(only_answer(sent))


# --- forget-me ------------------------------------------------------------------------


async def test_forget_me_defers_then_reports_counts(harness: Harness) -> None:
    await harness.say(payloads.ALICE, "first of mine")
    await harness.say(payloads.ALICE, "second of mine")
    await harness.say(payloads.BOB, "bob's own words")
    await tip(harness, "psst, from alice", user=payloads.ALICE)
    callbacks = len(harness.discord.callbacks)

    sent = await harness.command("snitch forget-me", user=payloads.ALICE)

    deferred = harness.discord.callbacks[callbacks:]
    assert [body["type"] for _, body in deferred] == [5]
    assert deferred[0][1]["data"]["flags"] & 64  # the "thinking" is ephemeral too
    answer = only_answer(sent)
    assert answer.via == "followup"
    text = text_of(answer)
    assert "2 stored messages (2 search-index entries)" in text
    assert "1 tip you sent" in text
    assert "You stay opted out" in text
    assert await harness.services.store.count_messages(payloads.GUILD_ID) == 1


async def test_forget_me_has_a_cooldown(harness: Harness) -> None:
    await harness.command("snitch forget-me", user=payloads.ALICE)
    callbacks = len(harness.discord.callbacks)
    sent = await harness.command("snitch forget-me", user=payloads.ALICE)
    assert "try that again in" in text_of(only_answer(sent))
    assert [body["type"] for _, body in harness.discord.callbacks[callbacks:]] == [4]
    # Per member: someone else is not held up.
    other = await harness.command("snitch forget-me", user=payloads.BOB)
    assert "Done." in text_of(only_answer(other))


Post = Callable[[dict[str, Any]], Awaitable[httpx.Response]]


@asynccontextmanager
async def over_http(harness: Harness) -> AsyncIterator[tuple[Post, LocalJobs]]:
    """The signed HTTP endpoint and its worker in front of the harness's bot."""
    jobs = LocalJobs()
    runner = TreeRunner(harness.bot, harness.bot.tree, jobs.put, deadline=0.5)
    jobs.runner = runner
    jobs.start()
    app = InteractionsApp(InteractionHandler(load_public_key(PUBLIC_KEY_HEX), runner))

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://snitch.test"
    ) as client:

        async def post(payload: dict[str, Any]) -> httpx.Response:
            harness.discord.expect_interaction(payload["token"], payload["channel_id"])
            body, headers = signed(payload)
            return await client.post("/interactions", content=body, headers=headers)

        yield post, jobs
    await jobs.stop()


async def test_forget_me_over_http_counts_once_against_its_cooldown(harness: Harness) -> None:
    # forget-me always defers privately first, so over HTTP the endpoint answers that
    # deferral at once and the worker runs the command whole, checks included: its
    # cooldown counts once, and a refusal edits the private deferral.
    await harness.say(payloads.ALICE, "delete me please")
    async with over_http(harness) as (post, jobs):
        response = await post(payloads.interaction("snitch forget-me", user=payloads.ALICE))
        assert response.json() == {"type": 5, "data": {"flags": 64}}
        await jobs.drained()
        [answer] = harness.discord.replies()
        assert "1 stored message" in answer.body["content"]
        assert answer.body["allowed_mentions"] == {"parse": []}
        assert await harness.services.store.count_messages(payloads.GUILD_ID) == 0

        again = (await post(payloads.interaction("snitch forget-me", user=payloads.ALICE))).json()
        assert again == {"type": 5, "data": {"flags": 64}}
        await jobs.drained()
        refusal = harness.discord.replies()[-1]
        assert refusal.via == "original"
        assert "try that again in" in refusal.body["content"]


# --- tips -----------------------------------------------------------------------------


async def test_tips_list_when_empty(harness: Harness) -> None:
    sent = await harness.command("snitch tips", **MOD)
    assert text_of(only_answer(sent)) == "No tips waiting for review."


async def test_tips_list_shows_pending_tips_with_references(harness: Harness) -> None:
    first = await tip(harness, "the mayor eats pineapple pizza")
    harness.now += timedelta(minutes=1)
    second = await tip(harness, "the cat runs the server", user=payloads.ALICE)
    answer = only_answer(await harness.command("snitch tips", **MOD))
    embeds = answer.body["embeds"]
    assert [e["title"] for e in embeds] == [f"Tip {first[:8]}", f"Tip {second[:8]}"]
    assert [e["description"] for e in embeds] == [
        "the mayor eats pineapple pizza",
        "the cat runs the server",
    ]
    assert "2 tips waiting for review, oldest first." in text_of(answer)
    # Nothing about who sent them.
    assert payloads.CAROL.id not in str(answer.body)
    assert "carol" not in str(answer.body).lower()


async def test_tips_list_splits_long_tips_across_messages(harness: Harness) -> None:
    for number in range(8):
        await tip(harness, f"{number} " + "x" * 990, user=payloads.User(str(900 + number), "t"))
    sent = await harness.command("snitch tips", **MOD)
    assert [s.via for s in sent] == ["interaction", "followup"]
    assert all(s.ephemeral and s.body["allowed_mentions"] == {"parse": []} for s in sent)
    for message in sent:
        embeds = message.body["embeds"]
        assert sum(len(e["title"]) + len(e["description"]) for e in embeds) <= 6000
    assert sum(len(s.body["embeds"]) for s in sent) == 8


async def test_tips_approve_and_reject_by_reference_prefix(harness: Harness) -> None:
    keep = await tip(harness, "the vending machine is haunted")
    drop = await tip(harness, "bob is a robot", user=payloads.ALICE)

    approved = text_of(
        only_answer(
            await harness.command("snitch tips", {"action": "approve", "tip": keep[:6]}, **MOD)
        )
    )
    assert f"Approved tip `{keep[:8]}`" in approved
    assert "unverified reader tip" in approved
    assert "1 tip still waiting." in approved

    rejected = text_of(
        only_answer(
            await harness.command(
                "snitch tips", {"action": "reject", "tip": f"`{drop[:8].upper()}`"}, **MOD
            )
        )
    )
    assert f"Rejected tip `{drop[:8]}`" in rejected
    assert "No tips left to review." in rejected

    tips = harness.services.tips
    assert [t.id for t in await tips.approved(payloads.GUILD_ID)] == [keep]
    assert await tips.waiting(payloads.GUILD_ID) == []
    rows = await harness.services.store.tips.with_status(payloads.GUILD_ID, TipStatus.rejected, 10)
    assert [row.id for row in rows] == [drop]


async def test_tips_show_one_tip(harness: Harness) -> None:
    tip_id = await tip(harness, "the plant in the lobby is plastic")
    answer = only_answer(await harness.command("snitch tips", {"tip": tip_id[:8]}, **MOD))
    assert answer.body["embeds"][0]["description"] == "the plant in the lobby is plastic"
    assert "waiting for review" in text_of(answer)
    assert len(await harness.services.tips.waiting(payloads.GUILD_ID)) == 1


async def test_tips_bad_references(harness: Harness) -> None:
    await tip(harness, "one")
    await tip(harness, "two", user=payloads.ALICE)
    pending = await harness.services.tips.waiting(payloads.GUILD_ID)

    unknown = "0" * 8 if not any(t.id.startswith("0" * 8) for t in pending) else "f" * 8
    sent = await harness.command("snitch tips", {"action": "approve", "tip": unknown}, **MOD)
    assert f"No pending tip has the reference `{unknown}`" in text_of(only_answer(sent))

    sent = await harness.command("snitch tips", {"action": "approve", "tip": "hello"}, **MOD)
    assert "not a tip reference" in text_of(only_answer(sent))

    sent = await harness.command("snitch tips", {"action": "reject"}, **MOD)
    assert "Say which tip to reject" in text_of(only_answer(sent))

    assert len(await harness.services.tips.waiting(payloads.GUILD_ID)) == 2


async def test_ambiguous_reference_is_refused(harness: Harness) -> None:
    # Tip ids are random: add tips until two share a first digit (certain by the 17th).
    pending: dict[str, str] = {}
    for number in range(17):
        tip_id = await tip(harness, f"tip {number}", user=payloads.User(str(800 + number), "t"))
        if tip_id[0] in pending:
            break
        pending[tip_id[0]] = tip_id
    sent = await harness.command("snitch tips", {"action": "approve", "tip": tip_id[0]}, **MOD)
    assert "matches 2 pending tips" in text_of(only_answer(sent))
    assert await harness.services.tips.approved(payloads.GUILD_ID) == []


async def test_tips_need_manage_server(harness: Harness) -> None:
    tip_id = await tip(harness, "the secret recipe is salt")
    for options in ({}, {"tip": tip_id[:8]}, {"action": "approve", "tip": tip_id[:8]}):
        sent = await harness.command("snitch tips", options, user=payloads.ALICE)
        answer = only_answer(sent)
        assert text_of(answer) == REFUSED
        assert "salt" not in str(answer.body)
    assert [t.id for t in await harness.services.tips.waiting(payloads.GUILD_ID)] == [tip_id]


async def test_tip_autocomplete_for_moderators_only(harness: Harness) -> None:
    tip_id = await tip(harness, "the\nsecret   recipe is salt " + "y" * 200)
    choices = await autocomplete(harness, "snitch tips", {"tip": ""}, "tip", **MOD)
    assert len(choices) == 1
    assert choices[0]["value"] == tip_id[:8]
    assert choices[0]["name"].startswith(f"{tip_id[:8]}: the secret recipe is salt y")
    assert len(choices[0]["name"]) == 100
    # Autocomplete skips command checks: a member must get nothing, not the tip's text.
    member = await autocomplete(harness, "snitch tips", {"tip": ""}, "tip", user=payloads.ALICE)
    assert member == []


# --- backfill -------------------------------------------------------------------------


def history_message(harness: Harness, author: payloads.User, text: str, hours_ago: int) -> str:
    message_id = harness.next_id(harness.now - timedelta(hours=hours_ago))
    harness.discord.history[payloads.RANDOM_ID].append(
        payloads.message(message_id, author, text, channel_id=payloads.RANDOM_ID)
    )
    return message_id


async def test_backfill_reads_history(harness: Harness) -> None:
    old = history_message(harness, payloads.ALICE, "from yesterday", 24)
    older = history_message(harness, payloads.BOB, "from three days ago", 72)
    sent = await harness.command("snitch backfill", **MOD)
    answer = text_of(only_answer(sent))
    assert "Reading the last 7 days of history" in answer
    stored = await harness.services.store.messages_by_id([old, older])
    assert [m.content for m in stored] == ["from yesterday", "from three days ago"]


async def test_backfill_when_one_is_already_running(harness: Harness) -> None:
    ingestion = harness.bot.get_cog("Ingestion")
    guild = harness.bot.get_guild(int(payloads.GUILD_ID))
    assert guild is not None
    gate = harness.discord.history_gate = asyncio.Event()  # the first read stays busy
    assert ingestion.start_backfill(guild)  # type: ignore[union-attr]
    harness.discord.answered.clear()
    command = asyncio.create_task(harness.command("snitch backfill", **MOD))
    async with asyncio.timeout(30):  # the answer comes while the first read is still busy
        await harness.discord.answered.wait()
    gate.set()
    sent = await command
    assert "already reading" in text_of(only_answer(sent))


async def test_backfill_needs_manage_server(harness: Harness) -> None:
    history_message(harness, payloads.ALICE, "from yesterday", 24)
    requests = len(harness.discord.history_requests)
    sent = await harness.command("snitch backfill", user=payloads.ALICE)
    assert text_of(only_answer(sent)) == REFUSED
    assert len(harness.discord.history_requests) == requests
    assert await harness.services.store.count_messages(payloads.GUILD_ID) == 0


async def test_backfill_cooldowns(harness: Harness) -> None:
    # Refusals for want of permission spend nobody's turn.
    for _ in range(3):
        await harness.command("snitch backfill", user=payloads.ALICE)
    first = await harness.command("snitch backfill", **MOD)
    assert "Reading the last" in text_of(only_answer(first))
    # Per member: Bob must wait...
    again = await harness.command("snitch backfill", **MOD)
    assert "try that again in" in text_of(only_answer(again))
    # ...and per server: three reads an hour, whoever asks.
    for moderator in (payloads.CAROL, payloads.ALICE):
        sent = await harness.command(
            "snitch backfill", user=moderator, permissions=payloads.MANAGE_GUILD
        )
        assert "Reading the last" in text_of(only_answer(sent))
    fourth = await harness.command("snitch backfill", user=DAVE, permissions=payloads.MANAGE_GUILD)
    assert "try that again in" in text_of(only_answer(fourth))
