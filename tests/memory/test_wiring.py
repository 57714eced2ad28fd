"""Memory built from settings: environment variables choose the embedder and the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from snitch.config import load_settings
from snitch.errors import ConfigError
from snitch.memory.embeddings import LocalEmbedder, OpenAIEmbedder
from snitch.memory.wiring import build_embedder_from, open_vectors


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SNITCH_DATA_DIR", str(tmp_path / "data"))


def test_defaults_are_the_local_model_and_the_embedded_store(tmp_path: Path) -> None:
    settings = load_settings()
    assert isinstance(build_embedder_from(settings), LocalEmbedder)
    with open_vectors(settings) as store:
        assert store.count() == 0
    assert (tmp_path / "data" / "vectors").is_dir()


def test_an_embeddings_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNITCH_MEMORY__EMBEDDER", "openai")
    monkeypatch.setenv("SNITCH_MEMORY__MODEL", "nomic-embed-text")
    monkeypatch.setenv("SNITCH_MEMORY__BASE_URL", "http://127.0.0.1:11434/v1")
    embedder = build_embedder_from(load_settings())
    assert isinstance(embedder, OpenAIEmbedder)


def test_bad_memory_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNITCH_MEMORY__CHROMA_PORT", "99999")
    with pytest.raises(ConfigError, match="SNITCH_MEMORY__CHROMA_PORT"):
        load_settings()
