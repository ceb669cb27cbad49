"""Configuration: one YAML file, `${ENV}` interpolation, validated at load.

Each provider instance names an adapter; its remaining keys are validated by
that adapter's own config model. Any error stops start-up with a message
naming the key path, for example `providers.studio-direct.auth_token`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from contracts.adapter import AdapterConfig
from contracts.errors import ConfigError
from contracts.launch import Device, Mode
from contracts.money import CurrencyTable
from gateway.payments.config import PaymentsConfig, ProviderKind
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

    ttl_seconds: int = Field(default=12 * 3600, ge=60, le=30 * 24 * 3600)


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
        if any(len(key.get_secret_value().strip()) < 16 for key in keys):
            raise ValueError("every API key must be at least 16 characters")
        if any(
            key.get_secret_value() != key.get_secret_value().strip() for key in keys
        ):
            raise ValueError("an API key may not start or end with white space")
        return keys


OUTBOUND_OPERATIONS = ("launch", "list_games", "free_rounds")


class OperationTimeouts(_Strict):
    """Timeouts of one outbound operation; unset ones take the instance's own."""

    connect: float | None = Field(default=None, gt=0, le=60)
    total: float | None = Field(default=None, gt=0, le=300)


class TimeoutsConfig(_Strict):
    """How long the gateway waits on a provider instance, per operation.

    `connect` bounds opening a connection (and waiting for a free slot under
    `max_concurrency`); `total` bounds the whole request. An adapter's own
    per-request timeout can shorten these, never lengthen them.
    """

    connect: float = Field(default=3.0, gt=0, le=60)
    total: float = Field(default=10.0, gt=0, le=300)
    launch: OperationTimeouts = OperationTimeouts()
    list_games: OperationTimeouts = OperationTimeouts()
    free_rounds: OperationTimeouts = OperationTimeouts()

    def for_operation(self, operation: str) -> tuple[float, float]:
        """Return the (connect, total) seconds that bound one operation's calls."""
        override = {
            "launch": self.launch,
            "list_games": self.list_games,
            "free_rounds": self.free_rounds,
        }.get(operation, OperationTimeouts())
        total = override.total or self.total

        return min(override.connect or self.connect, total), total


class RetriesConfig(_Strict):
    """How the gateway repeats calls that are safe to repeat.

    At most `attempts` tries, never starting one after `deadline_seconds`
    since the first began; the waits between them grow from `backoff_seconds`
    up to `max_backoff_seconds`, randomly jittered, and are at least a
    provider's `Retry-After`.
    """

    attempts: int = Field(default=3, ge=1, le=10)
    deadline_seconds: float = Field(default=5.0, gt=0, le=120)
    backoff_seconds: float = Field(default=0.1, ge=0, le=10)
    max_backoff_seconds: float = Field(default=2.0, ge=0, le=60)


class BreakerConfig(_Strict):
    """When a provider instance's circuit breaker opens, and for how long."""

    failures: int = Field(default=5, ge=1, le=1000)
    cooldown_seconds: float = Field(default=30.0, gt=0, le=3600)


class ProviderPolicy(_Strict):
    """How the gateway treats one provider instance's outbound calls.

    These are the keys of a provider instance that the gateway reads itself
    (`RESERVED_PROVIDER_KEYS`); every other key goes to the adapter's model.
    """

    timeouts: TimeoutsConfig = TimeoutsConfig()
    retries: RetriesConfig = RetriesConfig()
    breaker: BreakerConfig = BreakerConfig()
    max_concurrency: int = Field(default=50, ge=1, le=10_000)


RESERVED_PROVIDER_KEYS = frozenset(ProviderPolicy.model_fields)


class ProviderConfig(BaseModel):
    """One provider instance: the adapter it runs, its settings, its policy."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    adapter: str
    settings: AdapterConfig
    policy: ProviderPolicy = ProviderPolicy()
    kind: ProviderKind = "game"


def _one_or_many(value: object) -> object:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(value)
    return value


Text = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{1,9}$")]
OneOrMany = Annotated[tuple[Text, ...] | None, BeforeValidator(_one_or_many)]


class RouteMatch(_Strict):
    """What a request must carry for a rule to match; unset keys match anything.

    Each key takes one value or a list, any of which may match. `game` takes
    glob patterns (`example-studio:*`); every other key compares exactly.
    `studio` and `category` come from the config's `games:` table.
    """

    game: OneOrMany = None
    studio: OneOrMany = None
    category: OneOrMany = None
    operator: OneOrMany = None
    brand: OneOrMany = None
    country: Annotated[tuple[Country, ...] | None, BeforeValidator(_one_or_many)] = None
    jurisdiction: OneOrMany = None
    currency: Annotated[
        tuple[CurrencyCode, ...] | None, BeforeValidator(_one_or_many)
    ] = None
    device: Annotated[tuple[Device, ...] | None, BeforeValidator(_one_or_many)] = None
    mode: Annotated[tuple[Mode, ...] | None, BeforeValidator(_one_or_many)] = None


class SplitShare(_Strict):
    """One side of a weighted split: a provider instance and its weight."""

    use: Name
    weight: int = Field(ge=0, le=1_000_000)


class GameRoute(_Strict):
    """A routing rule: what it matches, where it sends, where it falls back.

    The target is either `use: instance` or `split:` (weighted shares, each
    player kept on one side); `fallback` lists instances tried in order when
    a launch fails before reaching the chosen one. `name` labels the rule in
    explanations and keys its split, so players keep their side when rules
    are reordered. The older `games: [patterns]` is read as `match.game`.
    """

    name: Text | None = None
    match: RouteMatch = RouteMatch()
    use: Name | None = None
    split: tuple[SplitShare, ...] | None = None
    fallback: tuple[Name, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _games_shorthand(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "games" not in data:
            return data
        if "match" in data:
            raise ValueError("give either games or match, not both")
        rest = {key: value for key, value in data.items() if key != "games"}

        return {**rest, "match": {"game": data["games"]}}

    @model_validator(mode="after")
    def _one_target(self) -> GameRoute:
        if (self.use is None) == (self.split is None):
            raise ValueError("give either use or split")
        if self.split is not None:
            names = [share.use for share in self.split]
            if not names or sum(share.weight for share in self.split) == 0:
                raise ValueError("split: needs at least one share with a weight")
            if len(set(names)) != len(names):
                raise ValueError("split: an instance appears twice")
        if len(set(self.fallback)) != len(self.fallback):
            raise ValueError("fallback: an instance appears twice")
        return self

    def targets(self) -> tuple[str, ...]:
        """Return every instance the rule may send to, fallbacks included."""
        chosen = (self.use,) if self.use is not None else ()
        shares = tuple(share.use for share in self.split or ())

        return (*chosen, *shares, *self.fallback)


class RoutesConfig(_Strict):
    """The routing table: rules tried in order, first match wins.

    `seed` mixes into every split's hash; changing it reshuffles which side
    of each split a player lands on.
    """

    games: list[GameRoute] = Field(default_factory=list)
    seed: Annotated[str, StringConstraints(max_length=64)] = ""


class GameInfo(_Strict):
    """What routing knows about a game before the catalogue is synced."""

    studio: Text | None = None
    category: Text | None = None


class AdminConfig(_Strict):
    """The admin API: on only when the config names at least one key."""

    api_keys: list[SecretStr] = Field(min_length=1)

    @field_validator("api_keys")
    @classmethod
    def _long_enough(cls, keys: list[SecretStr]) -> list[SecretStr]:
        if any(len(key.get_secret_value()) < 16 for key in keys):
            raise ValueError("every admin key must be at least 16 characters")
        return keys


class Config(BaseModel):
    """The whole validated configuration the gateway runs on."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    database: Annotated[
        str, StringConstraints(pattern=r"^(sqlite:///.+|postgres(ql)?://.+)$")
    ] = "sqlite:///gamegate.db"
    listen: ListenConfig = ListenConfig()
    wallet: WalletConfig = BuiltinWalletConfig()
    currencies: dict[str, StrictInt] = Field(default_factory=dict)
    limits: LimitsConfig = LimitsConfig()
    sessions: SessionsConfig = SessionsConfig()
    retention: RetentionConfig = RetentionConfig()
    logging: LoggingConfig = LoggingConfig()
    plugins: list[str] | None = None
    operators: list[OperatorConfig] = Field(min_length=1)
    providers: dict[str, ProviderConfig] = Field(min_length=1)
    routes: RoutesConfig = RoutesConfig()
    games: dict[Text, GameInfo] = Field(default_factory=dict)
    admin: AdminConfig | None = None
    payments: PaymentsConfig = PaymentsConfig()

    @model_validator(mode="after")
    def _operators_are_distinct(self) -> Config:
        names = [operator.name for operator in self.operators]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"operators: {name!r} is named twice")
        keys = [k.get_secret_value() for o in self.operators for k in o.api_keys]
        if len(set(keys)) != len(keys):
            raise ValueError("operators: one API key is given twice")
        return self

    @model_validator(mode="after")
    def _routes_use_known_providers(self) -> Config:
        for index, rule in enumerate(self.routes.games):
            for where, name in _rule_targets(rule):
                if name not in self.providers:
                    raise ValueError(
                        f"routes.games.{index}.{where}: unknown provider {name!r}"
                    )
                if self.providers[name].kind != "game":
                    raise ValueError(
                        f"routes.games.{index}.{where}: {name!r} is a payment provider"
                    )
        return self

    @model_validator(mode="after")
    def _payment_routes_use_payment_providers(self) -> Config:
        for index, rule in enumerate(self.payments.routes):
            for where, name in rule.targets():
                path = f"payments.routes.{index}.{where}"
                if name not in self.providers:
                    raise ValueError(f"{path}: unknown provider {name!r}")
                if self.providers[name].kind != "payment":
                    raise ValueError(f"{path}: {name!r} is not a payment provider")
        return self

    @model_validator(mode="after")
    def _admin_keys_are_not_operator_keys(self) -> Config:
        if self.admin is None:
            return self
        admin = {key.get_secret_value() for key in self.admin.api_keys}
        if admin & set(self._keys()):
            raise ValueError("admin.api_keys: an admin key is also an operator key")
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


def _rule_targets(rule: GameRoute) -> list[tuple[str, str]]:
    targets = [("use", rule.use)] if rule.use is not None else []
    targets += [
        (f"split.{i}.use", share.use) for i, share in enumerate(rule.split or ())
    ]
    targets += [(f"fallback.{i}", name) for i, name in enumerate(rule.fallback)]

    return targets


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
    # The gateway's own keys are split off before the adapter's model sees
    # the rest, so no adapter has to know about timeouts or breakers.
    settings = {
        key: value
        for key, value in raw.items()
        if key != "adapter" and key not in RESERVED_PROVIDER_KEYS
    }
    reserved = {k: v for k, v in raw.items() if k in RESERVED_PROVIDER_KEYS}
    try:
        loaded = registry.get(raw["adapter"])
    except ConfigError as error:
        raise ConfigError(f"providers.{name}.adapter: {error.message}") from None
    try:
        model = loaded.cls.config_model.model_validate(settings)
        policy = ProviderPolicy.model_validate(reserved)
    except ValidationError as error:
        raise ConfigError(_describe(error, prefix=f"providers.{name}")) from None

    return ProviderConfig(
        adapter=loaded.name, settings=model, policy=policy, kind=loaded.kind
    )


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
