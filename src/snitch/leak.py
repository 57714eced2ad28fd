"""``/leak``: a teaser of the story most likely to lead the next edition.

It runs the offline News Desk and Editor over what the next edition will cover (everything
since the last one), on exactly the messages the bot may use: no opted-out member, no
excluded channel, no bot. The teaser names nobody at all, only the channel, the size of the
crowd and the words that set the story apart, so a member who opted out cannot be named
through it even when others talk about them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from snitch.editions import readable
from snitch.guilds.settings import GuildSettings
from snitch.models import Chat, Guild, Message
from snitch.newsroom.desk import OfflineNewsDesk
from snitch.newsroom.editor import OfflineEditor
from snitch.newsroom.personas import get_persona
from snitch.newsroom.text import defang, words
from snitch.store.protocol import Store

DEFAULT_WINDOW: Final = timedelta(hours=24)


@dataclass(frozen=True)
class Leak:
    """What the teaser says, and the facts behind it."""

    guild_id: str
    channel_id: str
    channel_name: str
    people: int
    messages: int
    keywords: tuple[str, ...]
    teaser: str
    message_ids: tuple[str, ...]  # for the newsroom's records, never shown


async def leak(
    store: Store,
    settings: GuildSettings,
    opted_out: frozenset[str],
    now: datetime,
    *,
    since: datetime | None = None,
) -> Leak | None:
    """The next edition's likely headline as a nameless teaser; None if nothing is brewing."""
    start = since or now - DEFAULT_WINDOW
    channels = {channel.id: channel for channel in await store.channels(settings.guild_id)}
    parents = {channel.id: channel.parent_id for channel in channels.values()}
    usable: list[Message] = []
    hidden_names: set[str] = set()
    for message in await store.messages(settings.guild_id, since=start, until=now):
        for person in message.mentions:
            if person.id in opted_out:
                hidden_names.update(words(f"{person.name} {person.nickname or ''}"))
        if message.author.id in opted_out or not readable(message, settings, parents):
            continue
        usable.append(message)  # as written: the teaser hides the names it would show
    if not usable:
        return None
    chat = Chat(guild=Guild(id=settings.guild_id, name=""), channels=channels, messages=usable)
    stories = OfflineNewsDesk().find_stories_now(chat)
    if not stories:
        return None
    plan = await OfflineEditor().plan(stories, get_persona(settings.persona))
    lead = next(story for story in stories if story.id == plan.headline_story_id)
    terms = tuple(term for term in lead.keywords if term not in hidden_names)
    channel_name = chat.channel_name(lead.channel_id)
    crowd = f"{len(lead.participants)} people" if len(lead.participants) != 1 else "one person"
    talk = f", and talk of {' and '.join(terms[:2])}" if terms else ""
    teaser = (
        f"Psst. Something is brewing in #{channel_name}: {crowd}, "
        f"{len(lead.message_ids)} messages{talk}. The full story is in the next edition."
    )
    return Leak(
        guild_id=settings.guild_id,
        channel_id=lead.channel_id,
        channel_name=channel_name,
        people=len(lead.participants),
        messages=len(lead.message_ids),
        keywords=terms,
        teaser=defang(teaser),
        message_ids=lead.message_ids,
    )
