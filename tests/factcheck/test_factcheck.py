"""Fact-check end to end: a real store, the real local model, a real Chroma store.

The planted message hides among a generated server's few thousand messages; it must come
back first, with its jump link, whether the claim quotes it or paraphrases it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from pydantic import SecretStr

from snitch.config import LLMSettings, load_settings
from snitch.factcheck import (
    FactCheckError,
    HybridRetriever,
    Verdict,
    build_judge,
    fact_check,
)
from snitch.factcheck.verdict import LLMJudge
from snitch.importer import ImportSummary, Memory, import_exports
from snitch.memory.embeddings import LocalEmbedder
from snitch.memory.vectors import VectorStore
from snitch.models import Author, Message
from snitch.newsroom.text import is_pingless
from snitch.privacy import forget_author
from snitch.sources.synthetic import generate_server, write_dce_exports
from snitch.store import SqlStore, open_store
from tests.fake_llm import Failure, FakeLLMServer, Reply

PRIYA = Author(id="4242424242424242", name="priya", nickname="Priya P")
PROMISE = "I promise I will bring the lemon drizzle cake to the picnic on Friday"
DENIAL = "I never said I would bring a cake, stop it"
HOSTILE = "@everyone <@&123456> the picnic cake is a lie <@987654321>"


@dataclass
class World:
    store: SqlStore
    vectors: VectorStore
    embedder: LocalEmbedder
    guild_id: str
    promise: Message
    denial: Message
    hostile: Message

    def retriever(self, *, semantic: bool = True) -> HybridRetriever:
        if not semantic:
            return HybridRetriever(self.store)
        return HybridRetriever(self.store, self.vectors, self.embedder)


def _planted(server_messages: tuple[Message, ...], index: int, content: str) -> Message:
    """A copy of a generated message, said by Priya with new words."""
    base = server_messages[index]
    return base.model_copy(update={"author": PRIYA, "content": content, "mentions": ()})


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@dataclass(frozen=True)
class Template:
    """A data directory imported once per module; each test works on a copy."""

    directory: Path
    guild_id: str
    promise: Message
    denial: Message
    hostile: Message


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, embedder: LocalEmbedder) -> Template:
    server = generate_server(seed=11, channels=4, messages=2500, days=2.0, planted=4)
    promise = _planted(server.messages, 1200, PROMISE)
    denial = _planted(server.messages, 2000, DENIAL)
    hostile = _planted(server.messages, 600, HOSTILE)
    replaced = {m.id: m for m in (promise, denial, hostile)}
    with_plants = replace(server, messages=tuple(replaced.get(m.id, m) for m in server.messages))
    root = tmp_path_factory.mktemp("factcheck")
    exports = write_dce_exports(with_plants, root / "exports")

    async def build() -> ImportSummary:
        store = await open_store(load_settings(data_dir=root / "data"))
        try:
            with VectorStore.persistent(root / "data" / "vectors") as vectors:
                return await import_exports(
                    store, exports, memory=Memory(embedder=embedder, index=vectors)
                )
        finally:
            await store.close()

    assert asyncio.run(build()).messages == 2500
    return Template(root / "data", server.guild.id, promise, denial, hostile)


@pytest.fixture
async def world(
    template: Template, tmp_path: Path, embedder: LocalEmbedder
) -> AsyncIterator[World]:
    data = tmp_path / "data"
    shutil.copytree(template.directory, data)
    store = await open_store(load_settings(data_dir=data))
    vectors = VectorStore.persistent(data / "vectors")
    try:
        yield World(
            store,
            vectors,
            embedder,
            template.guild_id,
            template.promise,
            template.denial,
            template.hostile,
        )
    finally:
        vectors.close()
        await store.close()


async def test_a_planted_message_comes_first_for_its_own_words(world: World) -> None:
    result = await fact_check(PROMISE, world.guild_id, retriever=world.retriever())

    top = result.evidence[0]
    assert top.message_id == world.promise.id
    assert top.author_id == PRIYA.id
    assert top.jump_url == (
        f"https://discord.com/channels/{world.guild_id}/{world.promise.channel_id}/"
        f"{world.promise.id}"
    )
    assert result.semantic
    assert result.engine == "offline"


async def test_a_paraphrase_finds_it_by_meaning(world: World) -> None:
    """Few shared words: the vector half has to carry it."""
    claim = "did Priya say she'd bake a lemon cake for Friday's picnic?"
    result = await fact_check(claim, world.guild_id, retriever=world.retriever())

    assert result.evidence[0].message_id == world.promise.id
    # Offline, a paraphrase is not proof: the judge shows the evidence and says so.
    assert result.verdict is Verdict.not_enough_evidence
    assert world.promise.id in result.explanation


async def test_keywords_alone_still_find_it_without_the_memory(world: World) -> None:
    result = await fact_check(
        "lemon drizzle cake picnic", world.guild_id, retriever=world.retriever(semantic=False)
    )

    assert result.evidence[0].message_id == world.promise.id
    assert not result.semantic
    assert all(item.similarity is None for item in result.evidence)


async def test_offline_verdicts_speak_only_when_one_message_settles_it(world: World) -> None:
    said = await fact_check(
        "Priya promised she will bring the lemon drizzle cake to the picnic on Friday",
        world.guild_id,
        retriever=world.retriever(),
    )
    assert said.verdict is Verdict.supported
    assert said.cited_ids == (world.promise.id,)

    nothing = await fact_check(
        "the moon landing was filmed in a basement", world.guild_id, retriever=world.retriever()
    )
    assert nothing.verdict is Verdict.not_enough_evidence


async def test_the_opposite_polarity_contradicts(world: World) -> None:
    result = await fact_check(
        "Priya said she would bring a cake", world.guild_id, retriever=world.retriever()
    )
    # Both the promise and the denial match: they disagree, so offline makes no call.
    assert result.verdict is Verdict.not_enough_evidence
    ids = {item.message_id for item in result.evidence}
    assert {world.promise.id, world.denial.id} <= ids


async def test_opted_out_and_forgotten_authors_never_come_back(world: World) -> None:
    retriever = world.retriever()
    hidden = await fact_check(
        PROMISE, world.guild_id, retriever=retriever, exclude_authors=[PRIYA.id]
    )
    assert PRIYA.id not in {item.author_id for item in hidden.evidence}

    vectors_before = world.vectors.count(world.guild_id)
    removed = await forget_author(world.store, world.vectors, world.guild_id, PRIYA.id)
    assert removed.messages == 3
    assert removed.vectors == 3
    gone = await fact_check(PROMISE, world.guild_id, retriever=retriever)
    assert PRIYA.id not in {item.author_id for item in gone.evidence}
    assert world.vectors.count(world.guild_id) == vectors_before - 3
    assert world.promise.id not in await world.store.search(world.guild_id, ["lemon", "picnic"])


async def test_a_message_deleted_from_the_store_is_not_evidence(world: World) -> None:
    """A vector left behind (deleted on Discord) must not resurrect the text."""
    async with world.store.unit_of_work() as writer:
        await writer.delete_messages([world.promise.id])

    result = await fact_check(PROMISE, world.guild_id, retriever=world.retriever())
    assert world.promise.id not in {item.message_id for item in result.evidence}


async def test_evidence_never_pings(world: World) -> None:
    result = await fact_check(
        "the picnic cake is a lie", world.guild_id, retriever=world.retriever()
    )
    assert world.hostile.id in {item.message_id for item in result.evidence}
    for item in result.evidence:
        assert is_pingless(item.text), item.text
    assert is_pingless(result.explanation)


@pytest.mark.parametrize(
    ("claim", "complaint"), [("", "empty"), ("   \n ", "empty"), ("x" * 501, "under 500")]
)
async def test_bad_claims_are_refused_clearly(world: World, claim: str, complaint: str) -> None:
    with pytest.raises(FactCheckError, match=complaint):
        await fact_check(claim, world.guild_id, retriever=world.retriever())


async def test_an_unknown_guild_has_no_evidence(world: World) -> None:
    result = await fact_check(PROMISE, "1", retriever=world.retriever())
    assert result.evidence == ()
    assert result.verdict is Verdict.not_enough_evidence


# ------------------------------------------------------------------------ the LLM judge


@pytest.fixture
def llm_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def llm_judge(server: FakeLLMServer) -> LLMJudge:
    judge = build_judge(
        LLMSettings(
            provider="openai",
            model="fake-model",
            api_key=SecretStr("test-key"),
            base_url=server.openai_base_url,
            timeout_seconds=10,
            max_retries=0,
        )
    )
    assert isinstance(judge, LLMJudge)
    return judge


async def test_the_llm_verdict_cites_message_ids(world: World, llm_server: FakeLLMServer) -> None:
    llm_server.push(
        Reply(
            json.dumps(
                {
                    "verdict": "supported",
                    "explanation": "Priya promised it in [e1]; @everyone knows.",
                    "cited": ["e1", "e99"],
                }
            )
        )
    )
    result = await fact_check(
        "Priya promised a lemon cake",
        world.guild_id,
        retriever=world.retriever(),
        judge=llm_judge(llm_server),
    )

    assert result.verdict is Verdict.supported
    assert result.cited_ids == (result.evidence[0].message_id,)
    assert f"[{result.evidence[0].message_id}]" in result.explanation
    assert is_pingless(result.explanation)
    assert result.engine == "openai:fake-model"
    assert result.usage.calls == 1
    prompt = llm_server.requests[0].body["messages"][1]["content"]
    assert "Priya promised a lemon cake" in prompt
    assert "[e1]" in prompt


async def test_an_uncited_llm_verdict_is_not_a_verdict(
    world: World, llm_server: FakeLLMServer
) -> None:
    llm_server.push(
        Reply(json.dumps({"verdict": "contradicted", "explanation": "Trust me.", "cited": []}))
    )
    result = await fact_check(
        PROMISE, world.guild_id, retriever=world.retriever(), judge=llm_judge(llm_server)
    )
    assert result.verdict is Verdict.not_enough_evidence


async def test_a_failing_llm_falls_back_to_the_offline_judge(
    world: World, llm_server: FakeLLMServer
) -> None:
    llm_server.push(Failure(500))
    result = await fact_check(
        PROMISE, world.guild_id, retriever=world.retriever(), judge=llm_judge(llm_server)
    )

    assert result.engine == "offline"
    assert result.evidence[0].message_id == world.promise.id


@pytest.mark.parametrize(
    ("one", "other"),
    [("cake", "cakes"), ("promise", "promised"), ("love", "loved"), ("bring", "brings")],
)
def test_the_offline_judge_matches_word_forms(one: str, other: str) -> None:
    from snitch.factcheck.verdict import _stem

    assert _stem(one) == _stem(other)
