"""Key Vault as a settings source, through the real azure-keyvault-secrets client.

The SDK runs its whole pipeline (challenge authentication, retries, paging, error
mapping); only the last hop is replaced, by a transport that answers the Key Vault REST
API from a dict. The unreachable case goes through the SDK's real HTTP transport to a
closed loopback port.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse
from azure.core.utils import CaseInsensitiveDict
from azure.keyvault.secrets import SecretClient
from pydantic import SecretStr

from snitch.config import Settings, load_settings
from snitch.errors import ConfigError
from snitch.keyvault import secret_client_factory, secret_name, secret_targets

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TOKEN = "fake-access-token"
TIPS_KEY = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq4A="  # 32 bytes, URL-safe base64


# --- a Key Vault that lives in a dict ---------------------------------------------------


class _Response(HttpResponse):
    """A complete, already-read response (azure.core.rest's public interface)."""

    def __init__(self, request: HttpRequest, status: int, reason: str, body: Any, **headers: str):
        self._request = request
        self._status = status
        self._reason = reason
        self._content = b"" if body is None else json.dumps(body).encode()
        self._headers: MutableMapping[str, str] = CaseInsensitiveDict(
            {"Content-Type": "application/json; charset=utf-8", **headers}
        )
        self._closed = False
        self._encoding: str | None = "utf-8"

    @property
    def request(self) -> HttpRequest:
        return self._request

    @property
    def status_code(self) -> int:
        return self._status

    @property
    def headers(self) -> MutableMapping[str, str]:
        return self._headers

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def content_type(self) -> str | None:
        return self._headers.get("Content-Type")

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def is_stream_consumed(self) -> bool:
        return True

    @property
    def encoding(self) -> str | None:
        return self._encoding

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = value

    @property
    def url(self) -> str:
        return self._request.url

    @property
    def content(self) -> bytes:
        return self._content

    def text(self, encoding: str | None = None) -> str:
        return self._content.decode(encoding or self._encoding or "utf-8")

    def json(self) -> Any:
        return json.loads(self._content) if self._content else None

    def raise_for_status(self) -> None:
        if self._status >= 400:
            raise RuntimeError(f"HTTP {self._status}")  # the SDK maps errors itself

    def read(self) -> bytes:
        return self._content

    def iter_bytes(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._content

    def iter_raw(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._content

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class FakeVault(HttpTransport[HttpRequest, HttpResponse]):
    """Serves GET /secrets (paged) and GET /secrets/{name}/ like Key Vault does, behind
    the 401 bearer challenge, and records every request it sees."""

    def __init__(
        self,
        secrets: dict[str, str],
        *,
        page_size: int = 25,
        disabled: frozenset[str] = frozenset(),
        refuse: str | None = None,
    ) -> None:
        self.url = f"https://snitch-{uuid.uuid4().hex[:12]}.vault.azure.net"
        self.secrets = secrets
        self.page_size = page_size
        self.disabled = disabled
        self.refuse = refuse  # "list" or "get": answer 403 Forbidden there
        self.seen: list[tuple[str, str, str | None]] = []  # (method, path, authorization)
        self.api_versions: set[str] = set()
        self.opened = self.closed = False

    # HttpTransport
    def open(self) -> None:
        self.opened = True

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> FakeVault:
        self.open()
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        parts = urlsplit(request.url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        auth = request.headers.get("Authorization")
        self.seen.append((request.method, parts.path, auth))
        assert f"{parts.scheme}://{parts.netloc}" == self.url
        if "api-version" not in query:
            return _Response(request, 400, "Bad Request", _error("BadParameter", "api-version"))
        self.api_versions.add(query["api-version"])
        if auth != f"Bearer {TOKEN}":
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                'resource="https://vault.azure.net"'
            )
            body = _error("Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
            return _Response(request, 401, "Unauthorized", body, **{"WWW-Authenticate": challenge})
        path = parts.path.rstrip("/").split("/")[1:]
        if request.method == "GET" and path == ["secrets"]:
            return self._list(request, query)
        if request.method == "GET" and len(path) in (2, 3) and path[0] == "secrets":
            return self._get(request, path[1])
        return _Response(request, 404, "Not Found", _error("NotFound", parts.path))

    def _forbidden(self, request: HttpRequest, operation: str) -> HttpResponse:
        message = (
            f"Caller is not authorized to perform action on resource. "
            f"Action: 'Microsoft.KeyVault/vaults/secrets/{operation}/action'"
        )
        return _Response(request, 403, "Forbidden", _error("Forbidden", message))

    def _list(self, request: HttpRequest, query: dict[str, str]) -> HttpResponse:
        if self.refuse == "list":
            return self._forbidden(request, "readMetadata")
        start = int(query.get("$skiptoken", "0"))
        names = sorted(self.secrets)[start : start + self.page_size]
        value = [
            {
                "id": f"{self.url}/secrets/{name}",
                "attributes": {"enabled": name not in self.disabled, "created": 1_700_000_000},
            }
            for name in names
        ]
        end = start + len(names)
        next_link = None
        if end < len(self.secrets):
            next_query = urlencode({"api-version": query["api-version"], "$skiptoken": end})
            next_link = f"{self.url}/secrets?{next_query}"
        return _Response(request, 200, "OK", {"value": value, "nextLink": next_link})

    def _get(self, request: HttpRequest, name: str) -> HttpResponse:
        if self.refuse == "get":
            return self._forbidden(request, "getSecret")
        found = {key.lower(): key for key in self.secrets}.get(name.lower())
        if found is None:
            message = f"A secret with (name/id) {name} was not found in this key vault."
            return _Response(request, 404, "Not Found", _error("SecretNotFound", message))
        if found in self.disabled:
            message = "Operation get is not allowed on a disabled secret."
            return _Response(request, 403, "Forbidden", _error("Forbidden", message))
        body = {
            "value": self.secrets[found],
            "id": f"{self.url}/secrets/{found}/{uuid.uuid4().hex}",
            "attributes": {"enabled": True, "created": 1_700_000_000},
        }
        return _Response(request, 200, "OK", body)

    def fetched(self) -> list[str]:
        """Names read with a token (the challenge probe before it carries no token)."""
        return [
            path.split("/")[2]
            for method, path, auth in self.seen
            if auth and path.startswith("/secrets/")
        ]


class FakeCredential:
    """A TokenCredential: records what the challenge policy asked for."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.requests: list[tuple[tuple[str, ...], str | None]] = []

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.requests.append((scopes, tenant_id))
        if self.fail:
            raise ClientAuthenticationError(
                "ManagedIdentityCredential: no managed identity endpoint.\n"
                "AzureCliCredential: Please run 'az login' to set up an account."
            )
        return AccessToken(TOKEN, int(time.time()) + 3600)


@contextmanager
def vault_in_use(
    vault: FakeVault, monkeypatch: pytest.MonkeyPatch, credential: FakeCredential | None = None
) -> Iterator[FakeCredential]:
    """Point SNITCH_KEY_VAULT_URL at the fake vault and build real SecretClients for it."""
    credential = credential or FakeCredential()
    monkeypatch.setenv("SNITCH_KEY_VAULT_URL", vault.url)

    def factory(url: str) -> SecretClient:
        assert url == vault.url
        return SecretClient(url, credential, transport=vault, retry_total=0)

    with secret_client_factory(factory):
        yield credential


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    for name in ("SNITCH_KEY_VAULT_URL", "SNITCH_LLM__API_KEY", "SNITCH_LLM__PROVIDER"):
        monkeypatch.delenv(name, raising=False)


# --- naming ------------------------------------------------------------------------------


def test_secret_names_follow_the_environment_names() -> None:
    assert secret_name("SNITCH_LLM__API_KEY") == "snitch-llm--api-key"
    targets = secret_targets(Settings)
    assert targets["snitch-llm--api-key"].path == ("llm", "api_key")
    assert targets["snitch-discord--token"].env_name == "SNITCH_DISCORD__TOKEN"
    assert targets["snitch-tips--key"].path == ("tips", "key")
    assert targets["groq-api-key"].path == ("GROQ_API_KEY",)  # the alias, unprefixed
    assert "snitch-key-vault-url" not in targets  # the vault cannot name itself
    assert "snitch-llm" not in targets  # sections are not leaves


# --- reading -----------------------------------------------------------------------------


def test_vault_secrets_land_in_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    vault = FakeVault(
        {
            "snitch-llm--api-key": "gsk_from_vault",
            "SNITCH-DISCORD--TOKEN": "discord-from-vault",  # names are case-insensitive
            "snitch-tips--key": TIPS_KEY,
            "snitch-memory--api-key": "embed-from-vault",
            "snitch-llm--provider": "groq",  # not only secrets: any setting may live there
        }
    )
    with vault_in_use(vault, monkeypatch) as credential:
        settings = load_settings()

    assert isinstance(settings.llm.api_key, SecretStr)
    assert settings.llm.api_key.get_secret_value() == "gsk_from_vault"
    assert settings.llm.provider == "groq"
    assert isinstance(settings.discord.token, SecretStr)
    assert settings.discord.token.get_secret_value() == "discord-from-vault"
    assert settings.tips.key is not None
    assert settings.tips.key.get_secret_value() == TIPS_KEY
    assert settings.memory.api_key is not None
    assert settings.memory.api_key.get_secret_value() == "embed-from-vault"
    assert settings.key_vault_url == vault.url
    assert "gsk_from_vault" not in repr(settings)
    # The SDK's challenge flow ran: an unauthenticated probe got 401, then a token for the
    # resource and tenant named in the challenge was used on every later request.
    assert vault.seen[0][2] is None
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in vault.seen[1:])
    assert credential.requests[0] == (("https://vault.azure.net/.default",), TENANT)
    assert vault.api_versions == {SecretClient(vault.url, credential).api_version}
    assert vault.opened
    assert vault.closed


def test_groq_alias_from_the_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNITCH_LLM__PROVIDER", "groq")
    vault = FakeVault({"groq-api-key": "gsk_groq_alias"})
    with vault_in_use(vault, monkeypatch):
        settings = load_settings()
    assert settings.llm.api_key is not None
    assert settings.llm.api_key.get_secret_value() == "gsk_groq_alias"


def test_environment_and_dotenv_override_the_vault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNITCH_LLM__API_KEY", "local-override")
    monkeypatch.setenv("SNITCH_LLM__MODEL", "from-env")
    (tmp_path / ".env").write_text("SNITCH_DISCORD__TOKEN=dotenv-token\n", encoding="utf-8")
    vault = FakeVault(
        {
            "snitch-llm--api-key": "vault-key",
            "snitch-llm--provider": "openai",
            "snitch-discord--token": "vault-token",
        }
    )
    with vault_in_use(vault, monkeypatch):
        settings = load_settings()
    assert settings.llm.api_key is not None
    assert settings.llm.api_key.get_secret_value() == "local-override"
    assert settings.discord.token is not None
    assert settings.discord.token.get_secret_value() == "dotenv-token"
    # Sections merge: the vault fills what the environment left unset.
    assert settings.llm.provider == "openai"
    assert settings.llm.model == "from-env"


def test_the_vault_url_may_come_from_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = FakeVault({"snitch-discord--token": "vault-token"})
    with vault_in_use(vault, monkeypatch):
        monkeypatch.delenv("SNITCH_KEY_VAULT_URL")
        (tmp_path / ".env").write_text(f"SNITCH_KEY_VAULT_URL={vault.url}\n", encoding="utf-8")
        settings = load_settings()
    assert settings.discord.token is not None
    assert settings.discord.token.get_secret_value() == "vault-token"


def test_init_arguments_override_the_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    vault = FakeVault({"snitch-llm--model": "vault-model"})
    with vault_in_use(vault, monkeypatch):
        settings = load_settings(llm={"model": "argument-model"})
    assert settings.llm.model == "argument-model"


def test_unknown_and_disabled_names_are_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    vault = FakeVault(
        {
            "snitch-llm--api-key": "wanted",
            "other-app-db-password": "not ours",
            "snitch-llm--no-such-field": "typo",
            "snitch-key-vault-url": "https://elsewhere.vault.azure.net",
            "snitch-llm": '{"api_key": "a section"}',
            "snitch-discord--token": "disabled",
        },
        disabled=frozenset({"snitch-discord--token"}),
    )
    with vault_in_use(vault, monkeypatch):
        settings = load_settings()
    assert vault.fetched() == ["snitch-llm--api-key"]
    assert sum(path == "/secrets" for _, path, _ in vault.seen) >= 1
    assert settings.discord.token is None
    assert settings.key_vault_url == vault.url


def test_listing_follows_next_links(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {f"unrelated-{index:02}": "x" for index in range(7)}
    secrets["snitch-llm--api-key"] = "on-page-one"
    secrets["snitch-tips--key"] = TIPS_KEY  # sorts last: on the last page
    vault = FakeVault(secrets, page_size=2)
    with vault_in_use(vault, monkeypatch):
        settings = load_settings()
    authorised_lists = [p for _, p, auth in vault.seen if p == "/secrets" and auth]
    assert len(authorised_lists) == 5  # 9 names, 2 per page
    assert settings.tips.key is not None
    assert settings.tips.key.get_secret_value() == TIPS_KEY
    assert sorted(vault.fetched()) == ["snitch-llm--api-key", "snitch-tips--key"]


def test_a_bad_value_in_the_vault_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    vault = FakeVault({"snitch-llm--temperature": "9"})
    with vault_in_use(vault, monkeypatch), pytest.raises(ConfigError) as caught:
        load_settings()
    assert "SNITCH_LLM__TEMPERATURE" in str(caught.value)


# --- failures ----------------------------------------------------------------------------


@pytest.mark.parametrize("refuse", ["list", "get"])
def test_a_refusing_vault_is_one_config_error(monkeypatch: pytest.MonkeyPatch, refuse: str) -> None:
    vault = FakeVault({"snitch-llm--api-key": "k"}, refuse=refuse)
    with vault_in_use(vault, monkeypatch), pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("SNITCH_KEY_VAULT_URL: ")
    assert vault.url in message
    assert "403" in message
    assert "not authorized" in message
    assert "\n" not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_failing_credential_is_one_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    vault = FakeVault({"snitch-llm--api-key": "k"})
    with (
        vault_in_use(vault, monkeypatch, FakeCredential(fail=True)),
        pytest.raises(ConfigError) as caught,
    ):
        load_settings()
    message = str(caught.value)
    assert message.startswith("SNITCH_KEY_VAULT_URL: ")
    assert "az login" in message
    assert "\n" not in message
    assert vault.fetched() == []


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_unreachable_vault_is_one_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"https://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("SNITCH_KEY_VAULT_URL", url)

    def factory(vault_url: str) -> SecretClient:
        # The SDK's own requests transport, a real connection attempt, no retries.
        return SecretClient(vault_url, FakeCredential(), retry_total=0)

    with secret_client_factory(factory), pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"SNITCH_KEY_VAULT_URL: cannot read secrets from {url}: ")
    assert "\n" not in message


def test_a_plain_http_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNITCH_KEY_VAULT_URL", "http://vault.example")
    with pytest.raises(ConfigError, match=r"^SNITCH_KEY_VAULT_URL: must be an https://"):
        load_settings()


@pytest.mark.parametrize("url", [None, ""])
def test_without_a_vault_url_nothing_touches_the_network(
    monkeypatch: pytest.MonkeyPatch, url: str | None
) -> None:
    def no_client(url: str) -> SecretClient:
        raise AssertionError("a vault client was built")

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("SNITCH_LLM__API_KEY", "from-env")
    if url is not None:
        monkeypatch.setenv("SNITCH_KEY_VAULT_URL", url)
    with secret_client_factory(no_client):
        settings = load_settings()
    assert not settings.key_vault_url
    assert settings.llm.api_key is not None
    assert settings.llm.api_key.get_secret_value() == "from-env"
