"""Settings: nested environment variables, .env files, secrets, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from snitch.config import load_settings
from snitch.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def test_defaults_are_the_embedded_setup(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.llm.provider == "offline"
    assert settings.data_dir == tmp_path / "xdg" / "snitch"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'xdg' / 'snitch'}/snitch.db"


def test_nested_variables_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNITCH_LLM__PROVIDER", "groq")
    monkeypatch.setenv("SNITCH_LLM__API_KEY", "gsk_real_key")
    monkeypatch.setenv("SNITCH_DATABASE__URL", "postgresql+asyncpg://db/snitch")
    settings = load_settings()
    assert settings.llm.provider == "groq"
    assert settings.database_url == "postgresql+asyncpg://db/snitch"
    assert settings.llm.api_key is not None
    assert settings.llm.api_key.get_secret_value() == "gsk_real_key"
    assert "gsk_real_key" not in repr(settings)


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SNITCH_NEWSROOM__PERSONA=noir\n", encoding="utf-8")
    assert load_settings().newsroom.persona == "noir"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SNITCH_LLM__PROVIDER", "skynet"),
        ("SNITCH_LLM__TEMPERATURE", "9"),
        ("SNITCH_NEWSROOM__GAP_MINUTES", "-1"),
        ("SNITCH_LOG__LEVEL", "LOUD"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert name in str(caught.value)
    assert "\n" not in str(caught.value)


def test_placeholder_secret_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNITCH_ENVIRONMENT", "production")
    monkeypatch.setenv("SNITCH_LLM__API_KEY", "changeme")
    with pytest.raises(ConfigError, match="SNITCH_LLM__API_KEY is a placeholder"):
        load_settings()
    monkeypatch.setenv("SNITCH_ENVIRONMENT", "development")
    assert load_settings().llm.api_key is not None


def test_a_bad_secret_is_named_but_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNITCH_TIPS__KEY", "supersecretvalue")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "SNITCH_TIPS__KEY" in str(caught.value)
    assert "supersecretvalue" not in str(caught.value)
