"""Text handling the desks share: tokens, newsroom cues, mention rendering and defanging.

Defanging is the one guarantee every desk relies on: nothing the newsroom writes may ping,
whatever the chat contained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from snitch.models import Message

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
USER_TOKEN = re.compile(r"<@!?(\d+)>")
ROLE_TOKEN = re.compile(r"<@&(\d+)>")
CHANNEL_TOKEN = re.compile(r"<#(\d+)>")
MASS_PING = re.compile(r"@(everyone|here)", re.IGNORECASE)
# What must never reach a quote: any of these in Discord-bound text can ping or leak ids.
PING_HAZARD = re.compile(r"@(?:everyone|here)|<@[!&]?\d+>|<#\d+>", re.IGNORECASE)
ZERO_WIDTH_SPACE = "\u200b"

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because
    been before being below between both but by can can't cannot could couldn't did
    didn't do does doesn't doing don't down during each few for from further get got had
    hadn't has hasn't have haven't having he he'd he'll he's her here here's hers
    herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's
    its itself just let's like me more most mustn't my myself no nor not now of off on
    once only or other ought our ours ourselves out over own really same shan't she
    she'd she'll she's should shouldn't so some such than that that's the their theirs
    them themselves then there there's these they they'd they'll they're they've this
    those through to too under until up very was wasn't we we'd we'll we're we've were
    weren't what what's when when's where where's which while who who's whom why why's
    will with won't would wouldn't you you'd you'll you're you've your yours yourself
    yourselves yeah yes yep ok okay lol lmao haha hahaha oh ah um uh hmm gonna wanna
    gotta yea nah u ur im dont cant wont thats its idk tbh imo btw rn pls thanks thank
    one two think know see go going make made want need say said thing things much many
    still even well back way good right time today tomorrow yesterday now omg wtf ngl fr
    lowkey highkey bro guys tho literally actually honestly basically kinda sorta""".split()
)

CONFLICT_CUES = frozenset(
    """wrong liar lie lies lying disagree ridiculous stupid hate unfair blame blamed fault
    nonsense rude argue arguing fight fighting furious angry mad outrageous absurd
    betrayal betrayed cheated cheating cheat toxic petty jealous hypocrite delusional
    clown trash worst insulting offended awful terrible disgusting unbelievable excuse""".split()
)
CONFLICT_PHRASES = (
    "you're wrong",
    "that's a lie",
    "how dare",
    "shut up",
    "not true",
    "take that back",
    "excuse me",
    "are you serious",
    "you always",
    "you never",
    "says who",
)
EXCITEMENT_CUES = frozenset(
    """omg wow insane hype hyped amazing incredible awesome legendary congrats
    congratulations finally yay woo woohoo epic huge unreal goat clutch win won winner
    champion champions victory massive wild pog poggers lesgo letsgo""".split()
)
EXCITEMENT_PHRASES = ("let's go", "lets go", "no way", "can't believe", "big news", "so good")
MYSTERY_CUES = frozenset(
    """who whodunit mystery mysterious suspicious sus secret secretly rumor rumour rumours
    rumors deleted vanished disappeared missing hidden clue clues strange weird odd
    conspiracy leak leaked anonymous culprit evidence""".split()
)
MYSTERY_PHRASES = ("what happened", "who did", "someone deleted", "where did", "who deleted")
EXCITED_EMOJI = frozenset("🔥🎉😱🤯🚀💯🏆😍🥳👏")


def words(content: str) -> list[str]:
    """Lower-cased words, in order."""
    return WORD.findall(content.lower())


NOT_TOPICAL = re.compile(r"https?://\S+|<[^>\s]*>|:[\w~-]+:")


def topic_terms(content: str) -> frozenset[str]:
    """Words that say what a message is about: no links, emoji names, stopwords or numbers."""
    return analyse_text(content)[0]


@dataclass(frozen=True, slots=True)
class Cues:
    """How much a text reads like a row, like hype, or like a mystery."""

    conflict: int = 0
    excitement: int = 0
    mystery: int = 0

    @property
    def total(self) -> int:
        """All cues together: how much punch a line has."""
        return self.conflict + self.excitement + self.mystery


NO_CUES = Cues()

CueKind = str  # "conflict", "excitement" or "mystery"


def _phrase_table() -> dict[tuple[str, str], list[tuple[tuple[str, ...], CueKind]]]:
    """Cue phrases keyed by their first two words, so a message's word pairs find them."""
    table: dict[tuple[str, str], list[tuple[tuple[str, ...], CueKind]]] = {}
    for kind, phrases in (
        ("conflict", CONFLICT_PHRASES),
        ("excitement", EXCITEMENT_PHRASES),
        ("mystery", MYSTERY_PHRASES),
    ):
        for phrase in phrases:
            phrase_words = tuple(WORD.findall(phrase))
            table.setdefault((phrase_words[0], phrase_words[1]), []).append((phrase_words, kind))
    return table


PHRASE_TABLE = _phrase_table()
PHRASE_STARTS = frozenset(PHRASE_TABLE)
PHRASE_FIRST_WORDS = frozenset(first for first, _second in PHRASE_TABLE)
ANY_CUE = CONFLICT_CUES | EXCITEMENT_CUES | MYSTERY_CUES
SHOUTING = re.compile(r"(?<![\w'])[A-Z]{4,}(?![\w'])")


EXCITED_EMOJI_CHARS = re.compile("[" + "".join(sorted(EXCITED_EMOJI)) + "]")


def cues(text: str, tokens: list[str] | None = None, words: frozenset[str] | None = None) -> Cues:
    """Count the newsroom's cues; pass the lower-cased ``tokens`` (and their set, ``words``)
    when already at hand.

    Every message of every edition passes through here, so the work is set operations,
    ``str.count`` and single regex scans (C loops), with Python only for the rare hits;
    most lines hold no cue word and no cue phrase, and are told so by one set test each.
    """
    if tokens is None:
        tokens = WORD.findall(text.lower())
    if words is None:
        words = frozenset(tokens)
    conflict = excitement = mystery = 0
    if not words.isdisjoint(ANY_CUE):
        conflict = len(words & CONFLICT_CUES)
        excitement = len(words & EXCITEMENT_CUES)
        mystery = len(words & MYSTERY_CUES)
    if not text.islower():  # shouting needs capitals
        conflict += len(SHOUTING.findall(text))
    excitement += text.count("!!")
    mystery += min(text.count("?"), 2)
    if not text.isascii():
        excitement += len(EXCITED_EMOJI_CHARS.findall(text))
    if not words.isdisjoint(PHRASE_FIRST_WORDS) and not PHRASE_STARTS.isdisjoint(pairwise(tokens)):
        found = {"conflict": 0, "excitement": 0, "mystery": 0}
        for index, pair in enumerate(pairwise(tokens)):
            for phrase_words, kind in PHRASE_TABLE.get(pair, ()):
                if tuple(tokens[index : index + len(phrase_words)]) == phrase_words:
                    found[kind] += 1
        conflict += found["conflict"]
        excitement += found["excitement"]
        mystery += found["mystery"]
    if conflict or excitement or mystery:
        return Cues(conflict, excitement, mystery)
    return NO_CUES


def analyse_text(content: str) -> tuple[frozenset[str], Cues]:
    """Topic words and cues of one message from a single tokenisation."""
    # Links, emoji names and raw tokens carry neither topic nor cue words: drop them first.
    if "://" in content or "<" in content or ":" in content:
        content = NOT_TOPICAL.sub(" ", content)
    tokens = WORD.findall(content.lower())
    words = frozenset(tokens)
    terms = frozenset(word for word in words - STOPWORDS if len(word) > 2 and not word.isdigit())
    return terms, cues(content, tokens, words)


def safe_name(name: str) -> str:
    """A display name that cannot turn into a mass ping when written after an ``@``."""
    cleaned = " ".join(name.replace("@", "").split())
    if cleaned.lower() in {"everyone", "here"}:
        return cleaned[0] + ZERO_WIDTH_SPACE + cleaned[1:]
    return cleaned or "someone"


def display_content(message: Message) -> str:
    """A message's text as readers see it: user mention tokens shown as ``@name``.

    Quotes are verbatim substrings of this text, so it is the single definition both the
    reporter and every quote check use.
    """
    content = message.content
    if "<@" not in content:
        return content
    names = {author.id: safe_name(author.display_name) for author in message.mentions}

    def user(match: re.Match[str]) -> str:
        return "@" + names.get(match.group(1), "unknown-user")

    return USER_TOKEN.sub(user, content)


def defang(text: str) -> str:
    """Make text safe to post: no mass pings, no raw user, role or channel tokens."""
    text = MASS_PING.sub(lambda match: "@" + ZERO_WIDTH_SPACE + match.group(1), text)
    text = ROLE_TOKEN.sub("@role", text)
    text = USER_TOKEN.sub("@user", text)
    return CHANNEL_TOKEN.sub("#channel", text)


def is_pingless(text: str) -> bool:
    """True when text holds nothing that Discord would turn into a ping or a raw mention."""
    return PING_HAZARD.search(text) is None
