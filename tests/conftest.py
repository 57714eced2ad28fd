"""Fixtures shared across the suite."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def isolated_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run commands where no stray .env or data directory of the developer's is picked up."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SNITCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SNITCH_LOG__FORMAT", "json")
    return tmp_path
