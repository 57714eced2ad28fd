"""The vector store, run against the embedded PersistentClient and a real Chroma server.

Vectors are small hand-made unit vectors (8 dimensions), so no embedding model is needed,
and their cosine distances are known exactly.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import chromadb
import pytest
from chromadb.api.client import Client
from chromadb.config import Settings as ChromaSettings

from snitch.errors import StoreError
from snitch.memory.vectors import VectorHit, VectorStore
from snitch.models import Author, Message
from tests import chroma_server
from tests.chroma_server import ChromaServer
from tests.pg_cluster import free_port

DIMENSIONS = 8
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def axis(index: int) -> list[float]:
    """The unit vector along one axis."""
    return [1.0 if position == index else 0.0 for position in range(DIMENSIONS)]


def toward(first: int, second: int, angle_degrees: float) -> list[float]:
    """The unit vector ``angle_degrees`` away from axis ``first``, turned toward ``second``.

    Its cosine distance from ``axis(first)`` is exactly ``1 - cos(angle)``.
    """
    radians = math.radians(angle_degrees)
    vector = [0.0] * DIMENSIONS
    vector[first] = math.cos(radians)
    vector[second] += math.sin(radians)
    return vector


def cosine_distance(angle_degrees: float) -> float:
    return 1.0 - math.cos(math.radians(angle_degrees))


def message(
    message_id: str,
    *,
    guild: str = "g1",
    channel: str = "c1",
    author: str = "alice",
    minutes: float = 0,
    content: str | None = None,
) -> Message:
    return Message(
        id=message_id,
        guild_id=guild,
        channel_id=channel,
        author=Author(id=author, name=author),
        content=content if content is not None else f"message {message_id}",
        timestamp=T0 + timedelta(minutes=minutes),
    )


def ids(hits: Sequence[VectorHit]) -> list[str]:
    return [hit.message_id for hit in hits]


@pytest.fixture(scope="module")
def server() -> Iterator[ChromaServer]:
    """One real ``chroma run`` for the module; each test uses its own collection on it."""
    with chroma_server.chroma_server() as running:
        yield running


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[VectorStore]:
    """An empty store on the parametrised backend."""
    if backend == "embedded":
        opened = VectorStore.persistent(tmp_path / "chroma")
    else:
        running: ChromaServer = request.getfixturevalue("server")
        collection = f"test-{uuid.uuid4().hex[:12]}"
        opened = VectorStore.remote(running.host, running.port, collection=collection)
    with opened:
        yield opened


def test_upsert_is_idempotent_and_replaces_by_message_id(store: VectorStore) -> None:
    messages = [message("m1"), message("m2"), message("m3")]
    vectors = [axis(0), axis(1), axis(2)]

    store.upsert(messages, vectors)
    store.upsert(messages, vectors)

    assert store.count() == 3
    assert store.count("g1") == 3

    # Upserting an edited m1 with a new vector replaces its position, adds nothing.
    store.upsert([message("m1", content="edited")], [axis(5)])
    assert store.count() == 3
    [nearest] = store.query("g1", axis(5), limit=1)
    assert nearest.message_id == "m1"
    assert nearest.distance == pytest.approx(0.0, abs=1e-5)


def test_a_message_given_twice_in_one_call_keeps_its_last_version(store: VectorStore) -> None:
    store.upsert(
        [message("m1", content="first"), message("m1", content="second")], [axis(0), axis(1)]
    )

    assert store.count() == 1
    [hit] = store.query("g1", axis(1), limit=5)  # the second vector won
    assert hit.distance == pytest.approx(0.0, abs=1e-5)


def test_query_returns_nearest_first_with_cosine_distances_and_metadata(
    store: VectorStore,
) -> None:
    store.upsert(
        [
            message("far", minutes=1, author="bob", channel="c2"),
            message("near", minutes=2, content="the nearest one"),
            message("mid", minutes=3),
            message("opposite", minutes=4),
        ],
        [toward(0, 1, 60), toward(0, 1, 10), toward(0, 2, 30), [-x for x in axis(0)]],
    )

    hits = store.query("g1", axis(0), limit=10)

    assert ids(hits) == ["near", "mid", "far", "opposite"]
    expected = [cosine_distance(10), cosine_distance(30), cosine_distance(60), 2.0]
    assert [hit.distance for hit in hits] == pytest.approx(expected, abs=1e-4)
    assert hits[0] == VectorHit(
        message_id="near",
        guild_id="g1",
        channel_id="c1",
        author_id="alice",
        timestamp=T0 + timedelta(minutes=2),
        distance=hits[0].distance,
    )
    assert (hits[2].author_id, hits[2].channel_id) == ("bob", "c2")
    assert hits[2].timestamp.tzinfo is not None
    assert ids(store.query("g1", axis(0), limit=2)) == ["near", "mid"]


def test_query_never_returns_another_guilds_messages(store: VectorStore) -> None:
    store.upsert(
        [message("other-exact", guild="g2"), message("mine-far", guild="g1")],
        [axis(0), toward(0, 1, 80)],
    )

    hits = store.query("g1", axis(0), limit=10)

    assert ids(hits) == ["mine-far"]
    assert ids(store.query("g2", axis(0), limit=10)) == ["other-exact"]
    assert store.query("g3", axis(0), limit=10) == []


def test_a_small_guild_beside_a_big_one_still_gets_its_own_page(store: VectorStore) -> None:
    """The unfiltered index pages fill with the big guild; the filtered scan takes over."""
    crowd = [message(f"big-{n}", guild="g2") for n in range(60)]
    mine = [message(f"mine-{n}", guild="g1") for n in range(3)]
    store.upsert(
        [*crowd, *mine],
        [toward(0, 1, n / 10) for n in range(60)] + [toward(0, 1, 80 + n) for n in range(3)],
    )

    assert ids(store.query("g1", axis(0), limit=3)) == ["mine-0", "mine-1", "mine-2"]
    assert ids(store.query("g2", axis(0), limit=2)) == ["big-0", "big-1"]
    busy = store.query("g2", axis(0), limit=5, exclude_authors=["alice"])
    assert busy == []


def test_query_filters_by_channel(store: VectorStore) -> None:
    store.upsert(
        [
            message("c1-exact", channel="c1"),
            message("c2-near", channel="c2"),
            message("c3-far", channel="c3"),
            message("other-guild-c2", guild="g2", channel="c2"),
        ],
        [axis(0), toward(0, 1, 20), toward(0, 1, 70), axis(0)],
    )

    assert ids(store.query("g1", axis(0), channel_ids=["c2"])) == ["c2-near"]
    assert ids(store.query("g1", axis(0), channel_ids=["c3", "c2"])) == ["c2-near", "c3-far"]
    assert store.query("g1", axis(0), channel_ids=[]) == []


def test_query_leaves_out_excluded_authors(store: VectorStore) -> None:
    store.upsert(
        [
            message("by-alice", author="alice"),
            message("by-bob", author="bob"),
            message("by-carol", author="carol", channel="c2"),
        ],
        [axis(0), toward(0, 1, 10), toward(0, 1, 20)],
    )

    assert ids(store.query("g1", axis(0), exclude_authors=["alice"])) == ["by-bob", "by-carol"]
    assert ids(store.query("g1", axis(0), exclude_authors=["alice", "bob"])) == ["by-carol"]
    assert ids(store.query("g1", axis(0), exclude_authors=[])) == [
        "by-alice",
        "by-bob",
        "by-carol",
    ]
    combined = store.query("g1", axis(0), channel_ids=["c1"], exclude_authors=["alice"])
    assert ids(combined) == ["by-bob"]


def test_query_limit_must_be_positive(store: VectorStore) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        store.query("g1", axis(0), limit=0)


def test_delete_author_forgets_only_that_author_in_that_guild(store: VectorStore) -> None:
    store.upsert(
        [
            message("a1", author="alice"),
            message("a2", author="alice", channel="c2"),
            message("b1", author="bob"),
            message("a-elsewhere", author="alice", guild="g2"),
        ],
        [axis(0), axis(1), axis(2), axis(3)],
    )

    assert store.delete_author("g1", "alice") == 2

    assert store.count("g1") == 1
    assert ids(store.query("g1", axis(0), limit=10)) == ["b1"]
    assert ids(store.query("g2", axis(3), limit=10)) == ["a-elsewhere"]
    assert store.delete_author("g1", "alice") == 0
    assert store.count() == 2


def test_delete_older_than_expires_one_guilds_old_messages(store: VectorStore) -> None:
    store.upsert(
        [
            message("old", minutes=0),
            message("older", minutes=-60 * 24 * 30),
            message("at-cutoff", minutes=10),
            message("new", minutes=20),
            message("old-elsewhere", guild="g2", minutes=0),
        ],
        [axis(0), axis(1), axis(2), axis(3), axis(4)],
    )
    cutoff = T0 + timedelta(minutes=10)

    assert store.delete_older_than("g1", cutoff) == 2

    remaining = store.query("g1", axis(0), limit=10)
    assert sorted(ids(remaining)) == ["at-cutoff", "new"]
    assert all(hit.timestamp >= cutoff for hit in remaining)
    assert store.count("g2") == 1
    assert store.delete_older_than("g1", cutoff) == 0
    # A naive cutoff is read as UTC.
    assert store.delete_older_than("g1", cutoff.replace(tzinfo=None) + timedelta(minutes=1)) == 1
    assert ids(store.query("g1", axis(0), limit=10)) == ["new"]


def test_delete_messages_removes_those_ids_and_ignores_unknown_ones(store: VectorStore) -> None:
    store.upsert(
        [message("m1"), message("m2"), message("m3", guild="g2")], [axis(0), axis(1), axis(2)]
    )

    store.delete_messages(["m1", "m3", "never-stored", "m1"])
    store.delete_messages([])

    assert store.count() == 1
    assert ids(store.query("g1", axis(0), limit=10)) == ["m2"]
    assert store.count("g2") == 0


def test_mismatched_lengths_are_refused_and_nothing_is_stored(store: VectorStore) -> None:
    with pytest.raises(ValueError, match=r"2 messages and 1 vectors"):
        store.upsert([message("m1"), message("m2")], [axis(0)])

    assert store.count() == 0


def test_a_vector_of_the_wrong_dimension_is_a_store_error(store: VectorStore) -> None:
    store.upsert([message("m1")], [axis(0)])

    with pytest.raises(StoreError, match="upserting"):
        store.upsert([message("m2")], [[1.0, 0.0, 0.0]])
    with pytest.raises(StoreError, match="querying guild g1"):
        store.query("g1", [1.0, 0.0, 0.0])

    assert store.count() == 1


def test_a_batch_above_chromas_maximum_is_split(store: VectorStore) -> None:
    total = store.max_batch_size + 37
    messages = [
        message(f"m{index}", channel=f"c{index % 3}", minutes=index) for index in range(total)
    ]
    # Distinct unit vectors: angles spread over a quarter turn between axes 0 and 1.
    vectors = [toward(0, 1, 90 * index / total) for index in range(total)]

    store.upsert(messages, vectors)

    assert store.count() == total
    assert store.count("g1") == total
    assert ids(store.query("g1", axis(0), limit=3)) == ["m0", "m1", "m2"]
    assert store.delete_older_than("g1", T0 + timedelta(minutes=total - 5)) == total - 5
    assert store.count("g1") == 5


def test_the_batch_limit_is_chromas_own(store: VectorStore, backend: str) -> None:
    """So the test above really exceeds what one chromadb request accepts."""
    assert store.max_batch_size > 1000
    assert store.max_batch_size == store._client.get_max_batch_size()
    assert backend in ("embedded", "server")


def test_the_embedded_store_persists_across_reopening(tmp_path: Path) -> None:
    directory = tmp_path / "data" / "chroma"
    with VectorStore.persistent(directory) as first:
        first.upsert([message("m1"), message("m2", guild="g2")], [axis(0), axis(1)])

    assert directory.is_dir()
    with VectorStore.persistent(directory) as reopened:
        assert reopened.count() == 2
        [hit] = reopened.query("g1", axis(0))
        assert hit.message_id == "m1"
        assert hit.timestamp == T0

    with VectorStore.persistent(directory, collection="other") as other:
        assert other.count() == 0


def test_an_existing_collection_with_another_distance_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "chroma"
    client = chromadb.PersistentClient(
        path=str(directory), settings=ChromaSettings(anonymized_telemetry=False)
    )
    client.create_collection(
        "messages", configuration={"hnsw": {"space": "l2"}}, embedding_function=None
    )
    assert isinstance(client, Client)
    client.close()

    with pytest.raises(StoreError, match="l2 distance, not cosine"):
        VectorStore.persistent(directory)
    with VectorStore.persistent(directory, collection="other") as other:
        other.upsert([message("m1")], [axis(0)])
        assert other.count() == 1


def test_a_collection_name_chroma_refuses_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="opening collection 'm'"):
        VectorStore.persistent(tmp_path / "chroma", collection="m")


def test_an_unreachable_server_is_a_store_error() -> None:
    port = free_port()

    with pytest.raises(StoreError, match=f"Chroma server at http://127.0.0.1:{port}"):
        VectorStore.remote("127.0.0.1", port)


def test_the_server_leg_really_ran(server: ChromaServer) -> None:
    """The server answered, and wrote its data under the temporary directory."""
    with VectorStore.remote(server.host, server.port, collection="leg-check") as remote:
        remote.upsert([message("m1")], [axis(0)])
        assert remote.count() == 1
    assert server.path.is_dir()
    assert any(server.path.iterdir())


def test_without_the_chroma_executable_the_server_leg_skips_locally(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chroma_server, "find_chroma", lambda: None)
    monkeypatch.delenv("CI", raising=False)

    with ExitStack() as stack, pytest.raises(pytest.skip.Exception, match="no chroma executable"):
        stack.enter_context(chroma_server.chroma_server())


def test_without_the_chroma_executable_ci_fails_instead_of_skipping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chroma_server, "find_chroma", lambda: None)
    monkeypatch.setenv("CI", "true")

    with ExitStack() as stack, pytest.raises(pytest.fail.Exception, match="CI must run"):
        stack.enter_context(chroma_server.chroma_server())
