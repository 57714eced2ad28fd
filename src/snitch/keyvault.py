"""Azure Key Vault as a settings source, used when ``SNITCH_KEY_VAULT_URL`` is set.

Naming rule. Key Vault secret names allow only letters, digits and dashes (and are
case-insensitive), so a secret is named after the environment variable it stands for,
lower-cased, with every underscore turned into a dash::

    SNITCH_LLM__API_KEY      <->  snitch-llm--api-key
    SNITCH_DISCORD__TOKEN    <->  snitch-discord--token
    GROQ_API_KEY             <->  groq-api-key      (a field's own alias keeps its name)

Priority. Everything set locally wins over the vault: init arguments, then environment
variables, then ``.env``, then the vault, then secret files and defaults. The vault is the
shared baseline of a deployment; an operator can still override one secret on one host
(or point a test run at a throwaway key) without touching the vault. ``SNITCH_KEY_VAULT_URL``
itself is read from those higher sources, never from the vault.

Cost. The vault's secret properties are listed once, and only enabled secrets whose names
map to a field of ``Settings`` (nested sections too) are fetched: a vault shared with other
applications is never read wholesale.

We do not use pydantic-settings' own ``AzureKeyVaultSettingsSource``: its mapping fetches
every listed secret while it matches nested fields (``explode_env_vars`` walks all
items), it builds the ``SecretClient`` itself (no transport or credential seam), and its
SDK errors escape as tracebacks rather than one ``ConfigError`` line.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from snitch.errors import ConfigError

if TYPE_CHECKING:
    from azure.keyvault.secrets import SecretClient

URL_VARIABLE = "SNITCH_KEY_VAULT_URL"
URL_FIELD = "key_vault_url"
# Key Vault's own rule for secret names.
_SECRET_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
_MAX_REASON = 400

SecretClientFactory = Callable[[str], AbstractContextManager["SecretClient"]]


def secret_name(env_name: str) -> str:
    """The Key Vault secret that stands for an environment variable (see the module doc)."""
    return env_name.lower().replace("_", "-")


@dataclass(frozen=True)
class SecretTarget:
    """Where one secret's value goes in the settings input."""

    env_name: str
    path: tuple[str, ...]
    field: FieldInfo


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The nested sections an annotation holds (``Section`` or ``Section | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        return [model for arg in get_args(annotation) for model in _models_in(arg)]
    return []


def _keys_and_names(name: str, field: FieldInfo, env_prefix: str) -> list[tuple[str, str]]:
    """(input key, environment name) pairs for a field, honouring validation aliases."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return [(alias, alias)]
    if isinstance(alias, AliasChoices):
        return [(choice, choice) for choice in alias.choices if isinstance(choice, str)]
    if alias is not None:  # an AliasPath points inside a value; no variable names it
        return []
    return [(name, env_prefix + name)]


def secret_targets(settings_cls: type[BaseSettings]) -> dict[str, SecretTarget]:
    """Every secret name that maps to a settings field, lower-cased, leaf fields only."""
    config = settings_cls.model_config
    prefix = config.get("env_prefix") or ""
    delimiter = config.get("env_nested_delimiter") or "__"
    targets: dict[str, SecretTarget] = {}

    def walk(model: type[BaseModel], env_prefix: str, path: tuple[str, ...]) -> None:
        for name, field in model.model_fields.items():
            if not path and name == URL_FIELD:
                continue  # the vault's own address cannot come from the vault
            for key, env_name in _keys_and_names(name, field, env_prefix):
                sections = _models_in(field.annotation)
                if sections:
                    for section in sections:
                        walk(section, env_name + delimiter, (*path, key))
                    continue
                secret = secret_name(env_name)
                if _SECRET_NAME.fullmatch(secret):
                    targets[secret] = SecretTarget(env_name.upper(), (*path, key), field)

    walk(settings_cls, prefix, ())
    return targets


@contextmanager
def _default_client(url: str) -> Iterator[SecretClient]:
    """Production: DefaultAzureCredential (managed identity, az login, env credentials)."""
    # Imported here so that a run without a vault never loads the Azure identity stack.
    from azure.identity import DefaultAzureCredential
    from azure.keyvault.secrets import SecretClient

    with DefaultAzureCredential() as credential, SecretClient(url, credential) as client:
        yield client


_client_factory: ContextVar[SecretClientFactory] = ContextVar(
    "snitch_key_vault_client_factory", default=_default_client
)


@contextmanager
def secret_client_factory(factory: SecretClientFactory) -> Iterator[None]:
    """Build vault clients with ``factory`` inside the block (tests: a fake credential and a
    local transport); the production path uses DefaultAzureCredential."""
    token = _client_factory.set(factory)
    try:
        yield
    finally:
        _client_factory.reset(token)


def _reason(exc: Exception) -> str:
    """One line out of an SDK error (credential errors span many lines)."""
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        # Key Vault's error body says what was refused; the SDK's message repeats it twice.
        message = exc.error.message if exc.error and exc.error.message else exc.message
        text = f"{exc.status_code} {exc.reason or ''}: {message}"
    else:
        text = str(exc) or type(exc).__name__
    line = " ".join(text.split())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 3] + "..."


def _put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
    data[path[-1]] = value


class KeyVaultSettingsSource(PydanticBaseSettingsSource):
    """Secrets from the vault named by ``key_vault_url`` in the higher-priority sources.

    Nothing happens at construction; ``__call__`` reads the vault, so a run without
    ``SNITCH_KEY_VAULT_URL`` never touches the network.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], client_factory: SecretClientFactory | None = None
    ) -> None:
        super().__init__(settings_cls)
        self._client_factory = client_factory

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: values are read all at once in ``__call__``."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        url = self.current_state.get(URL_FIELD)
        if not url:
            return {}
        if not isinstance(url, str) or not url.lower().startswith("https://"):
            raise ConfigError(f"{URL_VARIABLE}: must be an https:// URL (got {url!r})")
        factory = self._client_factory or _client_factory.get()
        targets = secret_targets(self.settings_cls)
        try:
            raw = self._read(factory, url, targets)
        except (AzureError, ValueError) as exc:
            raise ConfigError(
                f"{URL_VARIABLE}: cannot read secrets from {url}: {_reason(exc)}"
            ) from None
        return self._nest(raw, targets)

    def _read(
        self, factory: SecretClientFactory, url: str, targets: dict[str, SecretTarget]
    ) -> dict[str, str]:
        """List once, then fetch only the enabled secrets that name a settings field."""
        values: dict[str, str] = {}
        with factory(url) as client:
            wanted = [
                properties.name
                for properties in client.list_properties_of_secrets()
                if properties.name
                and properties.enabled is not False
                and properties.name.lower() in targets
            ]
            for name in wanted:
                try:
                    secret = client.get_secret(name)
                except ResourceNotFoundError:
                    continue  # deleted between the listing and the read
                if secret.value is not None:
                    values[name.lower()] = secret.value
        return values

    def _nest(self, raw: dict[str, str], targets: dict[str, SecretTarget]) -> dict[str, Any]:
        """Place each value at its field's path, decoding JSON for list or dict fields."""
        data: dict[str, Any] = {}
        for name, text in sorted(raw.items()):
            target = targets[name]
            value: Any = text
            if self.field_is_complex(target.field):
                try:
                    value = self.decode_complex_value(target.path[-1], target.field, text)
                except ValueError:
                    raise ConfigError(
                        f"{target.env_name}: the Key Vault secret {name!r} is not valid JSON"
                    ) from None
            _put(data, target.path, value)
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
