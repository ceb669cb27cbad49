"""Configuration: one YAML file, `${ENV}` interpolation, validated at load.

Each provider instance names an adapter; its remaining keys are validated by
that adapter's own config model. Any error stops start-up with a message
naming the key path, for example `providers.studio-direct.auth_token`.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from contracts.adapter import AdapterConfig
from contracts.errors import ConfigError
from contracts.money import CurrencyTable
from gateway.plugins import AdapterRegistry
from gateway.retention import DEFAULT_RETENTION_DAYS

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BuiltinWalletConfig(_Strict):
    """Balances live in the gateway's own database: the embedded default."""

    mode: Literal["builtin"] = "builtin"


class OperatorWalletConfig(_Strict):
    """Balances live in the casino's own wallet, called over signed HTTP.

    `deadline_seconds` bounds each call, retries included; keep it inside the
    providers' own callback timeouts so the gateway still answers in time.
    """

    mode: Literal["operator"]
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+")]
    secret: SecretStr
    deadline_seconds: float = Field(default=2.5, gt=0, le=30)
    attempts: int = Field(default=3, ge=1, le=10)

    @field_validator("secret")
    @classmethod
    def _long_secret(cls, secret: SecretStr) -> SecretStr:
        if len(secret.get_secret_value()) < 16:
            raise ValueError("the wallet secret must be at least 16 characters")
        return secret


WalletConfig = Annotated[
    BuiltinWalletConfig | OperatorWalletConfig, Field(discriminator="mode")
]


class ListenConfig(_Strict):
    """The address the gateway's HTTP server binds to."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class LimitsConfig(_Strict):
    """Bounds on what callers may send."""

    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)


class SessionsConfig(_Strict):
    """How long a launched game session lasts."""

    ttl_seconds: int = Field(default=12 * 3600, ge=60)


class RetentionConfig(_Strict):
    """How long settled ledger history is kept before `gamegate db prune`."""

    days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=130)


class LoggingConfig(_Strict):
    """How the gateway logs: JSON lines in production, readable on a terminal."""

    format: Literal["json", "console"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"


class OperatorConfig(_Strict):
    """A casino backend allowed to use the operator API."""

    name: Name
    api_keys: list[SecretStr] = Field(min_length=1)

    @field_validator("api_keys")
    @classmethod
    def _long_enough(cls, keys: list[SecretStr]) -> list[SecretStr]:
        if any(len(key.get_secret_value()) < 16 for key in keys):
            raise ValueError("every API key must be at least 16 characters")
        return keys


class ProviderConfig(BaseModel):
    """One provider instance: the adapter it runs and that adapter's settings."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    adapter: str
    settings: AdapterConfig


class GameRoute(_Strict):
    """A routing rule: games matching any pattern go to one provider instance."""

    games: list[str] = Field(min_length=1)
    use: Name

    def matches(self, game: str) -> bool:
        """Return whether a game id matches one of the rule's patterns."""
        return any(fnmatch.fnmatchcase(game, pattern) for pattern in self.games)


class RoutesConfig(_Strict):
    """The routing table: rules tried in order, first match wins."""

    games: list[GameRoute] = Field(default_factory=list)


class Config(BaseModel):
    """The whole validated configuration the gateway runs on."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    database: str = "sqlite:///gamegate.db"
    listen: ListenConfig = ListenConfig()
    wallet: WalletConfig = BuiltinWalletConfig()
    currencies: dict[str, int] = Field(default_factory=dict)
    limits: LimitsConfig = LimitsConfig()
    sessions: SessionsConfig = SessionsConfig()
    retention: RetentionConfig = RetentionConfig()
    logging: LoggingConfig = LoggingConfig()
    plugins: list[str] | None = None
    operators: list[OperatorConfig] = Field(min_length=1)
    providers: dict[str, ProviderConfig] = Field(min_length=1)
    routes: RoutesConfig = RoutesConfig()

    @model_validator(mode="after")
    def _routes_use_known_providers(self) -> Config:
        for index, rule in enumerate(self.routes.games):
            if rule.use not in self.providers:
                raise ValueError(
                    f"routes.games.{index}.use: unknown provider {rule.use!r}"
                )
        return self

    def currency_table(self) -> CurrencyTable:
        """Return the currency exponents: ISO 4217 plus the configured extras."""
        return CurrencyTable(self.currencies)

    def operator_for_key(self, api_key: str) -> str | None:
        """Return the operator an API key belongs to, or None."""
        return self._keys().get(api_key)

    def _keys(self) -> dict[str, str]:
        keys: dict[str, str] | None = self.__dict__.get("_key_index")
        if keys is None:
            keys = {
                key.get_secret_value(): operator.name
                for operator in self.operators
                for key in operator.api_keys
            }
            self.__dict__["_key_index"] = keys
        return keys


_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class Preamble(BaseModel):
    """The keys needed before adapters load: how to log, which plugins to load."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    logging: LoggingConfig = LoggingConfig()
    plugins: list[str] | None = None


def read_preamble(path: Path, environ: Mapping[str, str] | None = None) -> Preamble:
    """Read only `logging` and `plugins`, so nothing is imported before them."""
    data = _read(path)
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping of keys at the top level")
    environ = os.environ if environ is None else environ
    wanted = {key: data[key] for key in ("logging", "plugins") if key in data}
    try:
        return Preamble.model_validate(_interpolate(wanted, environ, ""))
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def load_config(
    path: Path, registry: AdapterRegistry, environ: Mapping[str, str] | None = None
) -> Config:
    """Read, interpolate and validate a config file, or raise `ConfigError`."""
    data = _read(path)

    return parse_config(data, registry, os.environ if environ is None else environ)


def _read(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None


def parse_config(
    data: object, registry: AdapterRegistry, environ: Mapping[str, str]
) -> Config:
    """Validate already-parsed config data, naming the key path of any fault."""
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping of keys at the top level")
    values: dict[str, Any] = _interpolate(data, environ, "")
    providers = values.get("providers")
    if isinstance(providers, dict):
        values["providers"] = {
            name: _provider(name, raw, registry) for name, raw in providers.items()
        }
    try:
        config = Config.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    try:
        config.currency_table()
    except Exception as error:
        raise ConfigError(f"currencies: {error}") from None

    return config


def _provider(name: object, raw: object, registry: AdapterRegistry) -> ProviderConfig:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"providers.{name}: instance names are lower-case letters, digits, - and _"
        )
    if not isinstance(raw, dict) or not isinstance(raw.get("adapter"), str):
        raise ConfigError(f"providers.{name}.adapter: required, the adapter's name")
    settings = {key: value for key, value in raw.items() if key != "adapter"}
    try:
        loaded = registry.get(raw["adapter"])
    except ConfigError as error:
        raise ConfigError(f"providers.{name}.adapter: {error.message}") from None
    try:
        model = loaded.cls.config_model.model_validate(settings)
    except ValidationError as error:
        raise ConfigError(_describe(error, prefix=f"providers.{name}")) from None

    return ProviderConfig(adapter=loaded.name, settings=model)


def _interpolate(value: Any, environ: Mapping[str, str], path: str) -> Any:
    if isinstance(value, str):
        try:
            return Template(value).substitute(environ)
        except KeyError as missing:
            raise ConfigError(
                f"{path or 'config'}: environment variable {missing} is not set"
            ) from None
        except ValueError:
            raise ConfigError(f"{path}: a lone $ must be written $$") from None
    if isinstance(value, dict):
        return {
            key: _interpolate(item, environ, f"{path}.{key}" if path else str(key))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _interpolate(item, environ, f"{path}.{index}")
            for index, item in enumerate(value)
        ]
    return value


def _describe(error: ValidationError, prefix: str = "") -> str:
    lines = []
    for problem in error.errors():
        parts = [str(part) for part in (prefix, *problem["loc"]) if part != ""]
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        if problem["type"] == "union_tag_invalid":
            parts.append(str(problem["ctx"]["discriminator"]).strip("'"))
            message = f"must be one of {problem['ctx']['expected_tags']}"
        lines.append(f"{'.'.join(_without_tags(parts)) or 'config'}: {message}")

    return "; ".join(lines)


def _without_tags(parts: list[str]) -> list[str]:
    # pydantic names the chosen member of a tagged union in the location
    # (`wallet.operator.url`); the file the operator wrote says `wallet.url`.
    if len(parts) > 1 and parts[0] == "wallet" and parts[1] in _WALLET_MODES:
        return [parts[0], *parts[2:]]
    return parts


_WALLET_MODES = ("builtin", "operator")
