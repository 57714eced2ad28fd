"""The bot tests' shared model, for the Functions tests too."""

from tests.bot.conftest import shared_embedder

__all__ = ["shared_embedder"]
