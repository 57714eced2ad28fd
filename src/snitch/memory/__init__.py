"""Semantic memory: sentence embeddings (``embeddings``) and the ChromaDB vector store
(``vectors``), for /fact-check and for telling when conversations share a topic.

Nothing here loads a model or opens a client at import time; the composition root builds an
embedder with ``snitch.memory.embeddings.build_embedder`` and a ``VectorStore`` and passes
them down.
"""
