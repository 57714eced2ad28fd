"""Building the memory from settings, in one place, for every entry point."""

from __future__ import annotations

from snitch.config import Settings
from snitch.memory.embeddings import Embedder, build_embedder
from snitch.memory.vectors import VectorStore


def build_embedder_from(settings: Settings) -> Embedder:
    """The configured embedder; the local model itself loads on first use."""
    memory = settings.memory
    return build_embedder(
        memory.embedder,
        model=memory.model,
        base_url=memory.base_url,
        api_key=memory.api_key.get_secret_value() if memory.api_key else None,
        batch_size=memory.batch_size,
    )


def open_vectors(settings: Settings) -> VectorStore:
    """The configured vector store: a Chroma server if one is set, else the embedded one."""
    memory = settings.memory
    if memory.chroma_host:
        return VectorStore.remote(memory.chroma_host, memory.chroma_port, ssl=memory.chroma_ssl)
    return VectorStore.persistent(settings.vectors_dir)
