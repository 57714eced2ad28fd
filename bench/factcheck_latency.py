"""How long one fact-check retrieval takes over 100,000 stored messages, claim embedding included.

The corpus is a generated server's chat, stored in SQLite (with its FTS5 index) and embedded
and indexed in the embedded Chroma store by the real importer (``import_exports``), exactly as
``snitch import`` fills them. It is built once and cached under ``bench/.cache/``, keyed by the
server spec, the generator's source, the model and the Chroma version.

Building embeds every *distinct* text once and gives its duplicates (the generator repeats
chit-chat like "lol") the same vector: those are exactly the vectors the model returns for
them, so the corpus is the one a full import makes, for a fraction of the embedding time.

Then every claim goes through ``HybridRetriever.retrieve``: embed the claim with the local
model, query Chroma and SQLite's full-text index concurrently, fuse the two rankings, read the
messages. The baseline, measured in the same run beside it, on the same claims, is the bare
vector half: embedding the claim, plus one Chroma query with its vector already computed.
Their ratio is what keywords, fusion and reading the messages add to a plain vector search.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import chromadb
import numpy as np
import numpy.typing as npt
from chromadb.config import Settings as ChromaSettings

from _shared import (
    DEFAULT_CACHE,
    ServerSpec,
    add_server_options,
    fail,
    per_channel_exports,
    require_positive,
    server_spec,
    verdict,
)
from snitch.config import DatabaseSettings, MemorySettings, Settings
from snitch.errors import SnitchError
from snitch.factcheck import Evidence, HybridRetriever, OfflineJudge
from snitch.factcheck.retrieval import CANDIDATES_PER_HALF, claim_terms
from snitch.factcheck.service import DEFAULT_EVIDENCE, validate_claim
from snitch.importer import Memory, import_exports
from snitch.log import configure_logging
from snitch.memory.embeddings import LOCAL_MODEL_NAME, LocalEmbedder
from snitch.memory.vectors import DEFAULT_COLLECTION, VectorStore
from snitch.sources.synthetic import SyntheticServer
from snitch.store import SqlStore, open_store

MAX_P95_MS: Final = 100.0
CORPUS_VERSION: Final = 1  # bump when what the cache directory holds changes
PRIME_CHUNK: Final = 4096  # distinct texts per model call while building
MIN_WORDS: Final = 4  # a quoted message shorter than this is no claim

# Two paraphrases of each planted story's first message, by the generator's topic label:
# different words for the same fact, so only meaning (or a few shared names) can find it.
PARAPHRASES: Final[dict[str, tuple[str, ...]]] = {
    "the pineapple pizza feud": (
        "someone insisted pineapple belongs on pizza and said they would defend it to the death",
        "a member claimed hawaiian pizza is genuinely the best kind",
    ),
    "the griefed minecraft base": (
        "somebody destroyed their minecraft base and forty diamonds were lost from a chest",
        "they said someone blew up their house with 40 diamonds inside",
    ),
    "the snack tier list war": (
        "someone shared a ranking of snacks and dared everyone to argue about it",
        "a person published their tier list of snacks and challenged people to fight",
    ),
    "the rigged game night vote": (
        "people said the game night vote had been fixed",
        "someone accused the poll for game night of being rigged",
    ),
    "the stolen sourdough recipe": (
        "someone accused another member of copying their sourdough recipe word for word",
        "a member said their original bread recipe had been stolen",
    ),
    "the finale spoiler incident": (
        "somebody spoiled the season finale in the main channel",
        "someone complained that the ending of the show was spoiled in general chat",
    ),
    "the surprise sequel trailer": (
        "the trailer for the sequel was released",
        "they finally dropped the first teaser for the new sequel",
    ),
    "the front-row concert tickets": (
        "someone got front row seats for the reunion tour",
        "a member scored the best possible concert tickets for the band's reunion",
    ),
    "the speedrun world record": (
        "the speedrun world record was broken live on stream",
        "someone watched the world record get beaten during a livestream",
    ),
    "the server's 1,000th member": (
        "the server is about to reach a thousand members",
        "we are very close to having 1000 people in this server",
    ),
    "the giveaway keyboard win": (
        "someone won the keyboard in the giveaway",
        "a member won the raffle for a mechanical keyboard",
    ),
    "the vanishing pinned message": (
        "the pinned message with the server rules disappeared",
        "someone asked where the pinned rules post went",
    ),
    "who renamed the bot": (
        "the music bot got renamed to Sir Beeps-a-Lot",
        "somebody changed the music bot's nickname to something silly",
    ),
    "the 3am voice channel noises": (
        "people heard strange noises in the voice channel at 3am",
        "there were weird sounds in voice chat in the middle of the night",
    ),
    "the anonymous poem": (
        "an unsigned poem was left in the suggestions box",
        "someone anonymously posted a poem among the suggestions",
    ),
    "the missing custom emoji": (
        "the pepeheart emoji was removed from the server",
        "the :pepeheart: emote is gone and nobody knows why",
    ),
    "the winter game night tournament": (
        "the winter game night tournament begins on saturday and you can sign up now",
        "sign-ups opened for a game night tournament this weekend",
    ),
    "the new custom emoji pack": (
        "a new pack of 30 custom emotes was released",
        "the server just added thirty new emojis",
    ),
    "the summer meetup": (
        "the server is organising an in-person meetup this summer",
        "there is going to be a real-life get-together in the summer",
    ),
    "the community minecraft server launch": (
        "the community minecraft server opened and the whitelist form is available",
        "you can now apply to the whitelist of the new minecraft server",
    ),
    "the art contest": (
        "there is an art contest with the theme cozy winter and two weeks to submit",
        "the art competition's deadline is in two weeks",
    ),
}
# Claims about things nobody in the generated chat ever said.
NOTHING_SUBJECTS: Final = (
    "the mods",
    "someone",
    "the admin",
    "a new member",
    "everyone in voice",
    "the server owner",
    "my roommate",
    "the weekend crew",
)
NOTHING_PREDICATES: Final = (
    "banned every cat picture from the server",
    "moved the whole community to a different platform",
    "promised to pay for everyone's dinner on friday",
    "said the earth is flat and meant it",
    "won the national lottery last night",
    "sold their car to buy cryptocurrency",
    "announced a charity marathon for next spring",
    "adopted three rescue dogs in one week",
    "started learning the violin at midnight",
    "quit their job to become a professional chef",
    "renamed the general channel to the swamp",
    "claimed the wifi password was stolen by aliens",
)


# ---------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class PlantedInfo:
    """One planted story, as the quality check and the claims need it."""

    topic: str
    opener_id: str
    opener: str
    sentences: list[str]


@dataclass(frozen=True)
class Manifest:
    """What a built corpus holds and how long it took; stored beside it as JSON."""

    guild_id: str
    messages: int
    indexed: int
    distinct_texts: int
    embedded: int
    generate_seconds: float
    embed_seconds: float
    import_seconds: float
    built_at: str
    planted: list[PlantedInfo]
    background: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        planted = [PlantedInfo(**item) for item in raw.pop("planted")]
        return cls(planted=planted, **raw)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")


class DedupEmbedder:
    """The local model, embedding each distinct text once; duplicates get the same vector.

    ``prime`` embeds a whole corpus's distinct texts up front, in large length-sorted calls;
    ``aembed`` (what the importer calls) embeds only what it has not seen.
    """

    def __init__(self, model: LocalEmbedder) -> None:
        self._model = model
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}
        self.embedded = 0

    def _add(self, texts: Sequence[str]) -> None:
        rows = np.asarray(self._model.embed(texts), dtype=np.float32)
        for text, row in zip(texts, rows, strict=True):
            self._vectors[text] = row
        self.embedded += len(texts)

    def prime(self, texts: Sequence[str]) -> None:
        """Embed every distinct text in ``texts`` (by length, so batches pad little)."""
        todo = sorted({t for t in texts if t not in self._vectors}, key=lambda t: (len(t), t))
        for start in range(0, len(todo), PRIME_CHUNK):
            self._add(todo[start : start + PRIME_CHUNK])

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text; texts not seen before are embedded now."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            await asyncio.to_thread(self._add, missing)
        rows: list[list[float]] = [self._vectors[t].tolist() for t in texts]
        return rows


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch on ``count`` threads for a while (building only; timing keeps the default)."""
    torch: Any = importlib.import_module("torch")  # Any: mypy need not analyse torch
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def corpus_key(spec: ServerSpec) -> str:
    """The cache directory's name: spec, generator, model and Chroma version."""
    return (
        f"factcheck-{spec.key()}-{LOCAL_MODEL_NAME}-chroma{chromadb.__version__}-v{CORPUS_VERSION}"
    )


def bench_settings(data_dir: Path) -> Settings:
    """Settings for a data dir of ours: no .env, no SNITCH_* database or Chroma server."""
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database=DatabaseSettings(),
        memory=MemorySettings(),
    )


def _words(text: str) -> int:
    return len(text.split())


def describe(server: SyntheticServer, seed: int) -> tuple[list[PlantedInfo], list[str]]:
    """The planted stories' openers and sentences, and a sample of ordinary messages."""
    by_id = {message.id: message for message in server.messages}
    planted: list[PlantedInfo] = []
    in_stories: set[str] = set()
    for story in server.planted:
        in_stories.update(story.message_ids)
        opener = by_id[story.message_ids[0]]
        sentences = [
            by_id[ident].content
            for ident in story.message_ids[1:]
            if _words(by_id[ident].content) >= MIN_WORDS
        ]
        planted.append(PlantedInfo(story.topic, opener.id, opener.content, sentences))
    ordinary = [
        m.content
        for m in server.messages
        if m.id not in in_stories and _words(m.content) >= MIN_WORDS
    ]
    background = random.Random(seed).sample(ordinary, min(400, len(ordinary)))
    return planted, background


async def fill(data_dir: Path, exports: Path, embedder: DedupEmbedder) -> tuple[int, int]:
    """Import the exports into a fresh store and Chroma store; (stored, indexed)."""
    settings = bench_settings(data_dir)
    store = await open_store(settings)
    vectors = VectorStore.persistent(settings.vectors_dir)
    try:
        summary = await import_exports(
            store, [exports], memory=Memory(embedder=embedder, index=vectors)
        )
        guild_ids = [guild.id for guild in await store.guilds()]
        if len(guild_ids) != 1:
            fail(f"the corpus holds {len(guild_ids)} guilds, expected 1")
        stored = await store.count_messages(guild_ids[0])
        if stored != summary.messages:
            fail(f"the store holds {stored} messages, the import wrote {summary.messages}")
        indexed = await asyncio.to_thread(vectors.count, guild_ids[0])
    finally:
        vectors.close()
        await store.close()
    return stored, indexed


def build_corpus(spec: ServerSpec, cache: Path, target: Path, threads: int) -> Manifest:
    """Generate, export, embed and import the server into ``target`` (renamed in at the end)."""
    started = time.perf_counter()
    server = spec.generate()
    exports, _ = per_channel_exports(spec, cache)
    generate_seconds = time.perf_counter() - started
    planted, background = describe(server, spec.seed)
    texts = [m.content for m in server.messages if m.content.strip()]
    distinct = len(set(texts))
    print(
        f"  building: {spec.messages:,} messages, {len(texts):,} with text, {distinct:,} "
        f"distinct; embedding the distinct ones with {LOCAL_MODEL_NAME} ...",
        flush=True,
    )
    embedder = DedupEmbedder(LocalEmbedder())
    started = time.perf_counter()
    try:
        with torch_threads(threads):
            embedder.prime(texts)
    except SnitchError as exc:
        fail(str(exc))
    embed_seconds = time.perf_counter() - started
    print(f"  embedded in {embed_seconds:.0f} s; importing ...", flush=True)
    scratch = Path(tempfile.mkdtemp(dir=cache, prefix=".tmp-factcheck-"))
    try:
        started = time.perf_counter()
        stored, indexed = asyncio.run(fill(scratch, exports, embedder))
        import_seconds = time.perf_counter() - started
        if stored != spec.messages:
            fail(f"the store holds {stored} messages, expected {spec.messages}")
        if indexed != len(texts):
            fail(f"the vector store holds {indexed} vectors, expected {len(texts)}")
        manifest = Manifest(
            guild_id=server.guild.id,
            messages=stored,
            indexed=indexed,
            distinct_texts=distinct,
            embedded=embedder.embedded,
            generate_seconds=round(generate_seconds, 2),
            embed_seconds=round(embed_seconds, 2),
            import_seconds=round(import_seconds, 2),
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            planted=planted,
            background=background,
        )
        manifest.save(scratch / "manifest.json")
        scratch.replace(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for stale in cache.glob(f"factcheck-{spec.stem()}-*"):
        if stale != target and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    return manifest


def corpus(
    spec: ServerSpec, cache: Path, rebuild: bool, threads: int
) -> tuple[Path, Manifest, float | None]:
    """The cached corpus, built if missing; (directory, manifest, build seconds or None)."""
    target = cache / corpus_key(spec)
    if rebuild and target.is_dir():
        shutil.rmtree(target)
    if (target / "manifest.json").is_file():
        return target, Manifest.load(target / "manifest.json"), None
    cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    manifest = build_corpus(spec, cache, target, threads)
    return target, manifest, time.perf_counter() - started


# ---------------------------------------------------------------------------- the claims


@dataclass(frozen=True)
class Claim:
    """One claim to check; ``expected`` is the planted message a paraphrase restates."""

    text: str
    kind: str  # paraphrase, story, chat, nothing
    expected: str | None = None


def make_claims(manifest: Manifest, count: int, seed: int) -> list[Claim]:
    """About 30 % claims about nothing, every paraphrase there is, the rest quoted messages
    (half from planted stories, half ordinary chat)."""
    rng = random.Random(seed)
    claims = [
        Claim(text, "paraphrase", story.opener_id)
        for story in manifest.planted
        for text in PARAPHRASES.get(story.topic, ())
    ][:count]
    nothing = [f"{s} {p}" for s in NOTHING_SUBJECTS for p in NOTHING_PREDICATES]
    rng.shuffle(nothing)
    claims += [
        Claim(text, "nothing")
        for text in nothing[: max(0, min(count - len(claims), round(count * 0.3)))]
    ]
    story_sentences = sorted({s for story in manifest.planted for s in story.sentences})
    rng.shuffle(story_sentences)
    quoted = (count - len(claims)) // 2
    claims += [Claim(text, "story") for text in story_sentences[:quoted]]
    claims += [Claim(text, "chat") for text in manifest.background[: count - len(claims)]]
    rng.shuffle(claims)
    return [Claim(validate_claim(c.text), c.kind, c.expected) for c in claims]


# ---------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Prepared:
    """One claim worked out before any timing: what the component timings take as input,
    and what the retrieval found (for the quality check)."""

    vector: list[float]
    terms: list[str]
    read_ids: list[str]
    evidence: list[Evidence]
    vector_ids: list[str]
    keyword_ids: list[str]

    @property
    def embeddings(self) -> list[Sequence[float] | Sequence[int]]:
        """The vector as chromadb's own ``query`` takes it."""
        return [self.vector]


def percentile(samples: Sequence[float], q: int) -> float:
    """The ``q``-th percentile (inclusive method: p100 is the maximum)."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def row(name: str, samples: Sequence[float]) -> str:
    """One line of the latency table, in milliseconds."""
    ms = [s * 1000 for s in samples]
    return (
        f"{name:38} {percentile(ms, 50):8.1f} {percentile(ms, 95):8.1f} "
        f"{percentile(ms, 99):8.1f} {max(ms):8.1f}"
    )


def quality(claims: Sequence[Claim], prepared: Sequence[Prepared], limit: int) -> str:
    """Paraphrases: is the planted message first? Quotes: is a message with that text first?"""
    hybrid1 = vector1 = keyword1 = hybrid_top = paraphrases = quotes = exact = 0
    for claim, prep in zip(claims, prepared, strict=True):
        if claim.kind in ("story", "chat"):
            if not prep.evidence:
                fail(f"nothing retrieved for a message quoted verbatim: {claim.text!r}")
            quotes += 1
            exact += prep.evidence[0].message.content.strip() == claim.text
        if claim.expected is None:
            continue
        paraphrases += 1
        ids = [item.message.id for item in prep.evidence]
        hybrid1 += ids[:1] == [claim.expected]
        hybrid_top += claim.expected in ids
        vector1 += prep.vector_ids[:1] == [claim.expected]
        keyword1 += prep.keyword_ids[:1] == [claim.expected]
    return (
        f"quality: paraphrases of a planted message with it at rank 1: hybrid "
        f"{hybrid1}/{paraphrases} (in the top {limit}: {hybrid_top}), vectors alone "
        f"{vector1}/{paraphrases}, keywords alone {keyword1}/{paraphrases}; quoted messages "
        f"with a message of that very text at rank 1: {exact}/{quotes}"
    )


async def measure(args: argparse.Namespace, directory: Path, manifest: Manifest) -> int:
    """Open the corpus, warm up, time every claim; print the table and the verdict."""
    settings = bench_settings(directory)
    started = time.perf_counter()
    store: SqlStore = await open_store(settings)
    vectors = VectorStore.persistent(settings.vectors_dir)
    opened = time.perf_counter() - started
    embedder = LocalEmbedder()
    retriever = HybridRetriever(store, vectors, embedder)
    judge = OfflineJudge()
    # The same collection through chromadb itself, for one diagnostic: the query without
    # VectorStore's guild filter (the corpus holds one guild, so it finds the same messages).
    raw = chromadb.PersistentClient(
        path=str(settings.vectors_dir), settings=ChromaSettings(anonymized_telemetry=False)
    ).get_collection(DEFAULT_COLLECTION, embedding_function=None)
    guild = manifest.guild_id
    limit: int = args.limit
    candidates = CANDIDATES_PER_HALF
    claims = make_claims(manifest, args.claims, args.seed)
    try:
        started = time.perf_counter()
        await embedder.aembed(["warm-up"])
        model_load = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.to_thread(vectors.query, guild, (await embedder.aembed(["x"]))[0], 1)
        first_query = time.perf_counter() - started
        print(
            f"opened the stores in {opened:.2f} s; model loaded in {model_load:.2f} s; "
            f"first Chroma query (loads the index) {first_query:.2f} s"
        )

        # Untimed, once per claim (this pass is also the warm-up): the retrieval's answer
        # for the quality check, the claim's vector for the bare query, and the ids the
        # retrieval reads, for the component figures.
        started = time.perf_counter()
        prepared: list[Prepared] = []
        for claim in claims:
            evidence = await retriever.retrieve(guild, claim.text, limit)
            (vector,) = await embedder.aembed([claim.text])
            terms = claim_terms(claim.text)
            keyword_ids = await store.search(guild, terms, candidates)
            hits = await asyncio.to_thread(vectors.query, guild, vector, candidates)
            vector_ids = [hit.message_id for hit in hits]
            read_ids = list(dict.fromkeys([*keyword_ids, *vector_ids]))
            prepared.append(Prepared(vector, terms, read_ids, evidence, vector_ids, keyword_ids))
        print(f"  warm-up: every claim once, {time.perf_counter() - started:.0f} s", flush=True)

        def operations(
            claim: Claim, prep: Prepared
        ) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
            return [
                ("retrieve", lambda: retriever.retrieve(guild, claim.text, limit)),
                ("embed", lambda: embedder.aembed([claim.text])),
                (
                    "query",
                    lambda: asyncio.to_thread(vectors.query, guild, prep.vector, candidates),
                ),
                (
                    "unfiltered",
                    lambda: asyncio.to_thread(
                        raw.query,
                        query_embeddings=prep.embeddings,
                        n_results=candidates,
                        include=["metadatas", "documents", "distances"],
                    ),
                ),
                ("search", lambda: store.search(guild, prep.terms, candidates)),
                ("read", lambda: store.messages_by_id(prep.read_ids)),
                ("judge", lambda: judge.judge(claim.text, prep.evidence)),
            ]

        samples: dict[str, list[float]] = {}
        for round_ in range(1, args.repeat + 1):
            started = time.perf_counter()
            for i, (claim, prep) in enumerate(zip(claims, prepared, strict=True)):
                ops = operations(claim, prep)
                shift = (i + round_) % len(ops)  # rotate the order, so drift hits all alike
                for name, op in ops[shift:] + ops[:shift]:
                    began = time.perf_counter()
                    await op()
                    samples.setdefault(name, []).append(time.perf_counter() - began)
            this_round = samples["retrieve"][-len(claims) :]
            print(
                f"  round {round_}/{args.repeat}: retrieve p50 "
                f"{percentile(this_round, 50) * 1000:.1f} ms, p95 "
                f"{percentile(this_round, 95) * 1000:.1f} ms "
                f"({time.perf_counter() - started:.0f} s for all operations)",
                flush=True,
            )
    finally:
        vectors.close()
        await store.close()

    # The baseline, per claim and round: the bare vector half, embed + query.
    baseline = [e + q for e, q in zip(samples["embed"], samples["query"], strict=True)]
    retrieve = samples["retrieve"]
    kinds = Counter(claim.kind for claim in claims)
    print()
    print(
        f"claims: {len(claims)} ({', '.join(f'{n} {k}' for k, n in kinds.items())}), "
        f"{args.repeat} timed round(s) after one warm-up round; evidence limit {limit}, "
        f"{candidates} candidates per half"
    )
    print()
    print(f"{'latency (ms)':38} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}")
    print(row("retrieve (embed + hybrid + read)", retrieve))
    print(row("baseline: embed + Chroma query", baseline))
    print(row("  embed the claim (aembed)", samples["embed"]))
    print(row("  Chroma query, vector given", samples["query"]))
    print(row("  the same without the guild filter", samples["unfiltered"]))
    print(row("  FTS5 search (store.search)", samples["search"]))
    print(row("  messages_by_id (the fused ids)", samples["read"]))
    print(row("offline judge (fact_check's rest)", samples["judge"]))
    p50 = percentile(retrieve, 50)
    p95 = percentile(retrieve, 95)
    ratio50 = p50 / percentile(baseline, 50)
    ratio95 = p95 / percentile(baseline, 95)
    print(f"{'ratio retrieve/baseline':38} {ratio50:7.2f}x {ratio95:7.2f}x")
    print()
    print(quality(claims, prepared, limit))
    print()
    verdict(p95 * 1000 < MAX_P95_MS, f"retrieval p95 < {MAX_P95_MS:g} ms", f"{p95 * 1000:.1f} ms")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Sizes are options, so the same script can be run small while iterating."""
    parser = argparse.ArgumentParser(
        description="Time fact-check retrieval over a stored, embedded server.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_server_options(
        parser, ServerSpec(seed=7, channels=10, messages=100_000, days=7.0, planted=12)
    )
    parser.add_argument("--claims", type=int, default=200, help="claims per round")
    parser.add_argument("--repeat", type=int, default=2, help="timed rounds over the claims")
    parser.add_argument("--limit", type=int, default=DEFAULT_EVIDENCE, help="evidence asked for")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="corpus cache")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached corpus")
    parser.add_argument(
        "--build-threads",
        type=int,
        default=1,
        help="torch threads while embedding the corpus (two spin against a busy machine)",
    )
    args = parser.parse_args(argv)
    require_positive(parser, args, "claims", "repeat", "limit", "build_threads")
    return args


def main(argv: list[str] | None = None) -> int:
    """Build (or reuse) the corpus, then time the retrieval against its baseline."""
    args = parse_args(argv)
    configure_logging("WARNING", "json")
    spec = server_spec(args)
    directory, manifest, built = corpus(spec, args.cache_dir, args.rebuild, args.build_threads)
    how = f"built in {built:.0f} s" if built is not None else f"reused (built {manifest.built_at})"
    print(f"corpus: {directory} ({how})")
    print(
        f"  {manifest.messages:,} messages in SQLite (FTS5), {manifest.indexed:,} vectors in "
        f"the embedded Chroma store; when built: generating {manifest.generate_seconds:.0f} s, "
        f"embedding {manifest.embed_seconds:.0f} s, importing {manifest.import_seconds:.0f} s"
    )
    print(
        f"  each of the {manifest.distinct_texts:,} distinct texts was embedded once by "
        f"{LOCAL_MODEL_NAME} and its vector reused for the "
        f"{manifest.indexed - manifest.distinct_texts:,} duplicates (the vectors are the "
        "model's own; only repeated work was skipped)"
    )
    return asyncio.run(measure(args, directory, manifest))


if __name__ == "__main__":
    raise SystemExit(main())
