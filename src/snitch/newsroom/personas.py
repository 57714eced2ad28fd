"""The personas and their voices, in one place: what each one values and how each one talks.

The Editor-in-Chief reads ``Persona.weights``; the offline Star Reporter reads ``VOICES``.
Templates are filled with facts from the chat only (names, channel, counts, topic words), so
they can never invent a quote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from snitch.errors import UnknownPersonaError
from snitch.models import Persona

Angle = Literal["feud", "hype", "mystery", "announcement", "chatter"]


@dataclass(frozen=True)
class Voice:
    """How a persona writes: headlines per story angle, leads, quote intros and a sign-off."""

    headlines: dict[Angle, tuple[str, ...]]
    leads: tuple[str, ...]
    supporting: tuple[str, ...]
    quote_intros: tuple[str, ...]
    sign_off: str
    empty_news: str


PERSONAS: dict[str, Persona] = {
    persona.name: persona
    for persona in (
        Persona(
            name="gossip",
            display_name="The Gossip Columnist",
            masthead="THE SNITCH",
            description="Breathless celebrity-column gossip: feuds, alliances and who said what.",
            weights={"conflict": 1.4, "participants": 0.6, "reactions": 0.6, "replies": 0.4},
        ),
        Persona(
            name="noir",
            display_name="The Noir Detective",
            masthead="THE SNITCH: NIGHT EDITION",
            description="A hard-boiled private eye narrating the server's mysteries in the rain.",
            weights={"mystery": 1.5, "edits": 0.8, "conflict": 0.5, "replies": 0.3},
        ),
        Persona(
            name="sports",
            display_name="The Sports Commentator",
            masthead="THE SNITCH SPORTS DESK",
            description="Play-by-play commentary: momentum, bursts of action and crowd reactions.",
            weights={"burst": 1.2, "excitement": 1.2, "participants": 0.5, "reactions": 0.5},
        ),
        Persona(
            name="herald",
            display_name="The Royal Herald",
            masthead="THE ROYAL SNITCH GAZETTE",
            description="A court herald proclaiming the realm's news with pomp and ceremony.",
            weights={"pinned": 1.5, "reactions": 0.9, "participants": 0.7, "excitement": 0.4},
        ),
    )
}

VOICES: dict[str, Voice] = {
    "gossip": Voice(
        headlines={
            "feud": (
                "SHOCK FEUD ROCKS #{channel} OVER {TOPIC}!",
                "CLAWS OUT: {star} SPARKS {TOPIC} SHOWDOWN",
                "{TOPIC} WAR: FRIENDSHIPS END IN #{channel}",
            ),
            "hype": (
                "#{channel} GOES WILD FOR {TOPIC}!",
                "EVERYONE'S TALKING: THE {TOPIC} FRENZY",
                "{star} STARTS A {TOPIC} STAMPEDE",
            ),
            "mystery": (
                "WHO KNEW WHAT? THE {TOPIC} RIDDLE OF #{channel}",
                "SECRETS AND {TOPIC}: #{channel} WANTS ANSWERS",
            ),
            "announcement": (
                "BOMBSHELL IN #{channel}: {TOPIC}!",
                "IT'S OFFICIAL: {star} DROPS {TOPIC} NEWS",
            ),
            "chatter": (
                "OVERHEARD IN #{channel}: ALL ABOUT {TOPIC}",
                "{star} AND FRIENDS DISH ON {TOPIC}",
            ),
        },
        leads=(
            "Darlings, you will not believe what went down in #{channel}. {names} spent {count} "
            "on {topic}, and {reactions} later the dust has still not settled.",
            "Stop scrolling, sweeties: {star} set #{channel} alight over {topic}. {people} "
            "people piled in across {count} while the rest of us grabbed popcorn.",
            "Our spies in #{channel} report {count} of pure {topic} drama, starring "
            "{names}, and a crowd that left {reactions} behind.",
        ),
        supporting=(
            "Meanwhile in #{channel}, {names} could not stop talking about {topic}.",
            "Also spotted: {star} holding court in #{channel} over {topic} ({count}).",
            "Don't miss #{channel}, where {people} insiders traded {count} on {topic}.",
            "Word from #{channel}: {names} are simply obsessed with {topic}.",
            "Blind item: which #{channel} regular started {count} of {topic} talk? ({star}.)",
        ),
        quote_intros=("Overheard:", "The receipts:", "Straight from the source:"),
        sign_off="Kisses, and remember: The Snitch sees all.",
        empty_news="A quiet day, darlings. Even the gossip needs a nap.",
    ),
    "noir": Voice(
        headlines={
            "feud": (
                "Bad Blood in #{channel}: The {Topic} Affair",
                "Knives Out Over {Topic} in #{channel}",
                "{star} Picked a Fight Over {Topic}. It Didn't End Well",
            ),
            "hype": (
                "The Night #{channel} Lost Its Head Over {Topic}",
                "Too Much Noise About {Topic}, and Not Enough Answers",
                "Everybody Wanted a Piece of the {Topic}",
            ),
            "mystery": (
                "The Case of the {Topic} in #{channel}",
                "Who Killed the {Topic}? A #{channel} Whodunit",
            ),
            "announcement": (
                "A Notice Pinned in #{channel}, and a City Holding Its Breath",
                "The {Topic} Papers: What #{channel} Was Told",
            ),
            "chatter": (
                "Smoke and Whispers: {Topic} in #{channel}",
                "Another Night, Another {Topic} Story in #{channel}",
            ),
        },
        leads=(
            "The rain hadn't stopped in #{channel} when the talk turned to {topic}. {names} "
            "traded {count}. Nobody walked away clean.",
            "It was a slow night until {star} walked into #{channel} with {topic} on the mind. "
            "{people} people, {count}, and more questions than answers.",
            "They say #{channel} never sleeps. That night it talked about {topic}: {count}, "
            "{reactions}, and {names} in the frame.",
        ),
        supporting=(
            "Across town in #{channel}, {names} were whispering about {topic}.",
            "In #{channel}, {star} was asking about {topic}. I made a note of it.",
            "#{channel} had its own trouble: {count} on {topic}, and {people} suspects.",
            "Down in #{channel} the talk was {topic}. {names}. I kept my hat low and listened.",
            "A tip came in from #{channel}: {topic}, {count}, {star} in the middle of it.",
        ),
        quote_intros=("On the record:", "The words that gave it away:", "I wrote it down:"),
        sign_off="The city keeps its secrets. I keep the receipts.",
        empty_news="Quiet night. Too quiet. Nobody said a thing worth writing down.",
    ),
    "sports": Voice(
        headlines={
            "feud": (
                "{TOPIC} DERBY TURNS FIERY IN #{channel}!",
                "{star} GOES STUDS-UP IN {TOPIC} CLASH",
                "RED CARDS FLY IN THE #{channel} {TOPIC} DERBY",
            ),
            "hype": (
                "WHAT A SCENE! #{channel} ERUPTS OVER {TOPIC}",
                "{star} LEADS THE {TOPIC} CHARGE IN #{channel}",
                "LATE WINNER! {TOPIC} SENDS #{channel} INTO RAPTURES",
            ),
            "mystery": (
                "VAR CHECK: THE {TOPIC} CONTROVERSY IN #{channel}",
                "QUESTIONS AT FULL-TIME OVER {TOPIC}",
            ),
            "announcement": (
                "TRANSFER NEWS: {TOPIC} CONFIRMED IN #{channel}",
                "OFFICIAL: {star} ANNOUNCES {TOPIC}",
            ),
            "chatter": (
                "MATCH REPORT: {TOPIC} IN #{channel}",
                "{star} DICTATES THE TEMPO ON {TOPIC}",
            ),
        },
        leads=(
            "And they're off in #{channel}! {names} went end to end on {topic}: {count}, "
            "a peak of {burst} in five minutes, and {reactions} from the stands.",
            "What a performance from {star} in #{channel}! The {topic} fixture drew {people} "
            "players and {count}, with the crowd on its feet.",
            "Full-time in #{channel} and the stats tell the story: {count} on {topic}, "
            "{people} players on the pitch, {reactions} from the terraces.",
        ),
        supporting=(
            "Elsewhere on the card, #{channel} saw {names} trade {count} on {topic}.",
            "In #{channel}, {star} controlled possession on {topic}.",
            "Late kick-off in #{channel}: {people} players, {count}, all about {topic}.",
            "Quick highlights from #{channel}: {names} on {topic}, {reactions} from the stands.",
            "Substitute appearance in #{channel}: {star} came on and talked {topic}.",
        ),
        quote_intros=("Post-match interview:", "Heard from the touchline:", "On the mic:"),
        sign_off="That's full-time from the Sports Desk. Same time next edition!",
        empty_news="The pitch is empty today, folks. Rain stopped play.",
    ),
    "herald": Voice(
        headlines={
            "feud": (
                "Hear Ye! A Great Dispute Over {Topic} Doth Rage in #{channel}",
                "Discord in the Realm: {star} and the {Topic} Quarrel",
                "The Court Is Divided Upon the Matter of {Topic}",
            ),
            "hype": (
                "Rejoice! #{channel} Celebrateth {Topic}",
                "Great Jubilation in #{channel} Over {Topic}",
                "Let Trumpets Sound: {star} Heraldeth {Topic}",
            ),
            "mystery": (
                "A Riddle Vexeth the Court: The {Topic} Question",
                "Mysterious Doings in #{channel} Concerning {Topic}",
            ),
            "announcement": (
                "By Royal Decree: {Topic}, Proclaimed in #{channel}",
                "Let It Be Known: {star} Proclaimeth {Topic}",
            ),
            "chatter": (
                "From the Court of #{channel}: On {Topic}",
                "The Realm Discourseth on {Topic}",
            ),
        },
        leads=(
            "Hear ye, hear ye! In the hall of #{channel}, {names} did speak at length upon "
            "{topic}: {count}, and {reactions} from the court.",
            "Let it be proclaimed throughout the realm that {star} raised the matter of {topic} "
            "in #{channel}, and {people} subjects answered in {count}.",
            "By order of the Crown, the herald reporteth {count} on {topic} in "
            "#{channel}, with {names} foremost among the speakers.",
        ),
        supporting=(
            "Furthermore, in #{channel}, {names} discoursed upon {topic}.",
            "The herald also noteth that {star} spake of {topic} in #{channel}.",
            "In #{channel}, {people} loyal subjects exchanged {count} on {topic}.",
            "Word reacheth the throne from #{channel}, where {names} debate {topic}.",
            "Let the scribes record that #{channel} spake of {topic}, led by {star}.",
        ),
        quote_intros=("Thus spake", "As was declared:", "Recorded for posterity:"),
        sign_off="God save the server. The herald hath spoken.",
        empty_news="The realm is at peace; the herald hath naught to proclaim.",
    ),
}


def get_persona(name: str) -> Persona:
    """The persona called ``name``; an error listing the known ones otherwise."""
    persona = PERSONAS.get(name.strip().lower())
    if persona is None:
        known = ", ".join(sorted(PERSONAS))
        raise UnknownPersonaError(f"unknown persona {name!r}; choose one of: {known}")
    return persona


def voice_of(persona: Persona) -> Voice:
    """The offline reporter's voice for a persona (the gossip voice for unknown ones)."""
    return VOICES.get(persona.name, VOICES["gossip"])
