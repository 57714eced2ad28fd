"""One Settings object, built once at the entry point and passed down.

Every setting is read from ``SNITCH_*`` environment variables (nested sections use a double
underscore: ``SNITCH_DATABASE__URL``, ``SNITCH_LLM__PROVIDER``) or from a ``.env`` file.
Nothing else in the project reads the environment.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from snitch.errors import ConfigError
from snitch.keyvault import KeyVaultSettingsSource

ENV_PREFIX = "SNITCH_"
NESTED_DELIMITER = "__"
PLACEHOLDER_SECRETS = frozenset({"changeme", "changethis", "secret", "password", "xxx"})


def default_data_dir() -> Path:
    """Where the embedded store lives unless told otherwise (XDG data home)."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "snitch"


class DatabaseSettings(BaseModel):
    """Where messages and editions are stored."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; empty means SQLite under the data directory.",
    )
    echo: bool = False


class LLMSettings(BaseModel):
    """Which engine writes the newsletter; ``offline`` needs no key and no network."""

    provider: Literal["offline", "groq", "openai"] = "offline"
    model: str = "llama-3.3-70b-versatile"
    api_key: SecretStr | None = None
    base_url: str | None = None
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10, description="Retries after a failed call.")
    max_prompt_tokens: int = Field(default=6000, ge=500)


class NewsroomSettings(BaseModel):
    """Defaults for editions."""

    persona: str = "gossip"
    gap_minutes: float = Field(default=30.0, gt=0, description="Silence that ends a conversation.")
    workers: int = Field(
        default=0, ge=0, description="Processes for threading large chats; 0 means one per core."
    )


class MemorySettings(BaseModel):
    """Semantic memory: which embedder, and where the vectors live."""

    embedder: Literal["local", "openai"] = "local"
    model: str | None = Field(default=None, description="Embedding model; local: MiniLM.")
    base_url: str | None = Field(default=None, description="OpenAI-compatible embeddings server.")
    api_key: SecretStr | None = None
    batch_size: int | None = Field(default=None, ge=1, le=2048)
    chroma_host: str | None = Field(default=None, description="Chroma server; empty: embedded.")
    chroma_port: int = Field(default=8000, ge=1, le=65535)
    chroma_ssl: bool = False


class TipsSettings(BaseModel):
    """Anonymous tips: the encryption key, and the limits that keep /tip from being abused."""

    # 32 random bytes, URL-safe base64 (snitch.tips.generate_key() makes one). Without it,
    # development keeps a generated key in the data directory; production refuses.
    key: SecretStr | None = None
    per_user_per_hour: int = Field(default=3, ge=1, le=100)
    per_guild_per_hour: int = Field(default=30, ge=1, le=10_000)
    max_chars: int = Field(default=1000, ge=20, le=4000)

    @field_validator("key")
    @classmethod
    def _key_is_32_bytes(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None:
            try:
                raw = base64.urlsafe_b64decode(key.get_secret_value().encode("ascii"))
            except (ValueError, UnicodeEncodeError):
                raw = b""
            if len(raw) != 32:
                raise ValueError("must be 32 random bytes in URL-safe base64 (44 characters)")
        return key


# Azure's container naming rules: 3-63 characters of lowercase letters, digits and single
# hyphens, starting and ending with a letter or digit.
_CONTAINER_NAME = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


class ArchiveSettings(BaseModel):
    """Where published editions (JSON and HTML) are kept: files under the data directory,
    an Azure Blob container, or the database."""

    kind: Literal["files", "blob", "database"] = "files"
    blob_connection_string: SecretStr | None = Field(
        default=None, description="Storage account connection string (wins over the URL)."
    )
    blob_account_url: str | None = Field(
        default=None,
        description="https://<account>.blob.core.windows.net, signed in with "
        "DefaultAzureCredential.",
    )
    container: str = "editions"

    @field_validator("container")
    @classmethod
    def _container_name(cls, name: str) -> str:
        if not _CONTAINER_NAME.fullmatch(name):
            raise ValueError(
                "not a valid Azure container name: use 3-63 lowercase letters, digits and "
                "single hyphens, starting and ending with a letter or digit"
            )
        return name

    @field_validator("blob_account_url")
    @classmethod
    def _account_url_is_https(cls, url: str | None) -> str | None:
        # The SDK refuses to send an Azure AD token over plain HTTP. Empty means unset.
        if not url:
            return None
        if not url.startswith("https://"):
            raise ValueError("must be an https:// URL (Azure AD tokens are never sent over http)")
        return url

    @model_validator(mode="after")
    def _blob_needs_an_account(self) -> ArchiveSettings:
        """Fail at start-up, not at the first edition, when Blob has nowhere to go."""
        has_secret = (
            self.blob_connection_string is not None
            and self.blob_connection_string.get_secret_value().strip() != ""
        )
        if self.kind == "blob" and not has_secret and not self.blob_account_url:
            raise ValueError(
                "SNITCH_ARCHIVE__KIND=blob needs SNITCH_ARCHIVE__BLOB_CONNECTION_STRING "
                "or SNITCH_ARCHIVE__BLOB_ACCOUNT_URL"
            )
        return self


class DiscordSettings(BaseModel):
    """The bot's connection to Discord, and how often its background jobs run."""

    token: SecretStr | None = Field(default=None, description="Bot token (developer portal).")
    public_key: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="Application public key: verifies HTTP interactions (snitch serve).",
    )
    api_base: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+/api/v10$",
        description="Discord's REST API through a proxy (e.g. nirn-proxy): http(s)://host/api/v10.",
    )
    sync_commands: bool = Field(
        default=True, description="Register the slash commands with Discord at start-up."
    )
    command_guild_id: str | None = Field(
        default=None,
        pattern=r"^[0-9]{15,21}$",
        description="Register commands on this one server only (instant, for development).",
    )
    scheduler_seconds: float = Field(default=60.0, ge=5, description="How often editions run.")
    retention_minutes: float = Field(default=60.0, ge=1, description="How often old chat goes.")
    backfill_days: int = Field(
        default=7, ge=0, le=365, description="Days of history read on joining (retention caps it)."
    )


class CosmosSettings(BaseModel):
    """Azure Cosmos DB as the store (chosen when the endpoint is set), partitioned by guild."""

    endpoint: str | None = Field(
        default=None, description="https://<account>.documents.azure.com:443/; empty: SQL store."
    )
    key: SecretStr | None = Field(
        default=None, description="Account key; empty signs in with DefaultAzureCredential."
    )
    database: str = Field(default="snitch", min_length=1, max_length=255)
    verify_tls: bool = Field(
        default=True, description="Off only for a local emulator with a self-signed certificate."
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_https(cls, url: str | None) -> str | None:
        # Cosmos DB (and its emulators) speak HTTPS only. Empty means unset.
        if not url:
            return None
        if not url.startswith("https://"):
            raise ValueError("must be an https:// URL (https://<account>.documents.azure.com)")
        return url


class ServiceBusSettings(BaseModel):
    """Azure Service Bus between the gateway, the HTTP endpoint and the workers."""

    connection_string: SecretStr | None = Field(
        default=None, description="Namespace connection string (wins over the namespace)."
    )
    namespace: str | None = Field(
        default=None,
        description="<name>.servicebus.windows.net, signed in with DefaultAzureCredential.",
    )
    messages_queue: str = "message-processing"
    interactions_queue: str = "interactions"
    max_deliveries: int = Field(
        default=5, ge=1, le=100, description="Deliveries of one message before dead-lettering."
    )


class TelemetrySettings(BaseModel):
    """Traces and metrics: Azure Monitor with a connection string, else OpenTelemetry (over
    OTLP/HTTP when an endpoint is set, otherwise kept in the process)."""

    # Azure's own APPLICATIONINSIGHTS_CONNECTION_STRING is honoured when this is not set.
    connection_string: SecretStr | None = Field(
        default=None, description="Application Insights connection string (Azure Monitor)."
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL, e.g. http://localhost:4318; empty: no export.",
    )
    service_name: str = Field(default="the-snitch", min_length=1)
    live_metrics: bool = Field(
        default=True, description="Azure Monitor Live Metrics while the process runs."
    )

    @field_validator("otlp_endpoint")
    @classmethod
    def _endpoint_is_http(cls, url: str | None) -> str | None:
        # Empty means unset; the exporters add /v1/traces and /v1/metrics themselves.
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL (OTLP over HTTP)")
        return url.rstrip("/")


class LogSettings(BaseModel):
    """How the process logs."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "console", "json"] = "auto"


class Settings(BaseSettings):
    """Everything configurable about The Snitch."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Field(default_factory=default_data_dir)
    database: DatabaseSettings = DatabaseSettings()
    llm: LLMSettings = LLMSettings()
    newsroom: NewsroomSettings = NewsroomSettings()
    memory: MemorySettings = MemorySettings()
    tips: TipsSettings = TipsSettings()
    archive: ArchiveSettings = ArchiveSettings()
    discord: DiscordSettings = DiscordSettings()
    cosmos: CosmosSettings = CosmosSettings()
    log: LogSettings = LogSettings()
    servicebus: ServiceBusSettings = ServiceBusSettings()
    # Groq's own variable, honoured when SNITCH_LLM__API_KEY is not set.
    groq_api_key: SecretStr | None = Field(default=None, validation_alias="GROQ_API_KEY")
    telemetry: TelemetrySettings = TelemetrySettings()
    # Azure's own variable, honoured when SNITCH_TELEMETRY__CONNECTION_STRING is not set.
    applicationinsights_connection_string: SecretStr | None = Field(
        default=None, validation_alias="APPLICATIONINSIGHTS_CONNECTION_STRING"
    )
    key_vault_url: str | None = Field(
        default=None,
        description="https://<vault>.vault.azure.net: read secrets from Azure Key Vault "
        "(snitch.keyvault names them and orders them below the environment).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Key Vault sits below everything set locally, so one secret can be overridden."""
        vault = KeyVaultSettingsSource(settings_cls)
        return init_settings, env_settings, dotenv_settings, vault, file_secret_settings

    @model_validator(mode="after")
    def _groq_key_fallback(self) -> Settings:
        """Use GROQ_API_KEY for Groq when no SNITCH_LLM__API_KEY was given."""
        if self.llm.provider == "groq" and self.llm.api_key is None and self.groq_api_key:
            self.llm = self.llm.model_copy(update={"api_key": self.groq_api_key})
        return self

    @model_validator(mode="after")
    def _connection_string_fallback(self) -> Settings:
        """Use APPLICATIONINSIGHTS_CONNECTION_STRING when no SNITCH_TELEMETRY__ one was given."""
        fallback = self.applicationinsights_connection_string
        if self.telemetry.connection_string is None and fallback:
            self.telemetry = self.telemetry.model_copy(update={"connection_string": fallback})
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        """A placeholder key in production is a deployment mistake, not a default."""
        key = self.llm.api_key
        if (
            self.environment == "production"
            and key is not None
            and key.get_secret_value().lower() in PLACEHOLDER_SECRETS
        ):
            raise ValueError("SNITCH_LLM__API_KEY is a placeholder; set a real key")
        token = self.discord.token
        if (
            self.environment == "production"
            and token is not None
            and token.get_secret_value().lower() in PLACEHOLDER_SECRETS
        ):
            raise ValueError("SNITCH_DISCORD__TOKEN is a placeholder; set a real token")
        return self

    @property
    def vectors_dir(self) -> Path:
        """Where the embedded Chroma store keeps its files."""
        return self.data_dir / "vectors"

    @property
    def database_url(self) -> str:
        """The configured URL, or SQLite under the data directory."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{self.data_dir / 'snitch.db'}"


def _env_name(location: tuple[int | str, ...]) -> str:
    parts = [str(part).upper() for part in location if not isinstance(part, int)]
    return ENV_PREFIX + NESTED_DELIMITER.join(parts) if parts else "settings"


SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CONNECTION_STRING")


def _is_secret(env_name: str) -> bool:
    """Whether a bad value of this variable must stay out of the error (and the logs)."""
    last = env_name.rsplit(NESTED_DELIMITER, 1)[-1]
    return any(word in last for word in SECRET_WORDS)


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning a validation failure into one line that names the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = _env_name(tuple(error["loc"]))
            got = error.get("input")
            secret = _is_secret(name)
            hidden = isinstance(got, dict) or got is None or secret
            shown = "" if hidden else f" (got {got!r})"
            problems.append(f"{name}: {error['msg']}{shown}")
        raise ConfigError("invalid setting: " + "; ".join(problems)) from None
