"""The composition root: one chat model per process, closed on the way out."""

from __future__ import annotations

from pathlib import Path

from langchain_openai import ChatOpenAI

from snitch.bot.services import open_services
from snitch.memory.embeddings import LocalEmbedder
from tests.bot.conftest import make_settings
from tests.fake_llm import FakeLLMServer


async def test_editions_and_fact_checks_share_one_chat_model_closed_at_exit(
    tmp_path: Path, shared_embedder: LocalEmbedder
) -> None:
    with FakeLLMServer() as llm:
        settings = make_settings(
            tmp_path,
            llm={
                "provider": "openai",
                "base_url": llm.openai_base_url,
                "api_key": "t",
                "model": "fake-model",
            },
        )
        async with open_services(settings, embedder=shared_embedder) as services:
            model = services.chat_model
            assert isinstance(model, ChatOpenAI)
            assert services.newsroom(True).ledger is not None
            assert services.newsroom(False).ledger is None  # a guild with the LLM off
            assert not model.root_async_client.is_closed()

        assert model.root_async_client.is_closed()
        assert model.root_client.is_closed()


async def test_an_offline_deployment_builds_no_chat_model(
    tmp_path: Path, shared_embedder: LocalEmbedder
) -> None:
    async with open_services(make_settings(tmp_path), embedder=shared_embedder) as services:
        assert services.chat_model is None
        assert services.newsroom(True).ledger is None
