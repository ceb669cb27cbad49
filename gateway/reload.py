"""Reload without downtime: immutable snapshots, swapped in one place.

Everything a configuration decides (operators and their keys, currencies,
provider instances with their adapters, clients and breakers, the routing
table, the session lifetime) lives in one `Snapshot`. The `Runtime` holds
the current one; a handler reads it once and keeps that snapshot to the
end of its request, so a reload never changes a request half-way through.

A reload (`SIGHUP`, or `POST /admin/reload`) reads the file once, validates
it with the same rules as start-up, and refuses it, leaving the running
snapshot in force, when it is invalid or changes a key only a restart can
change (`RESTART_KEYS`: the database connection, the wallet, the listening
address, body limits, logging, the plugin allow-list). Otherwise the new
snapshot is swapped in. Provider instances whose settings did not change
are carried over with their connection pools and breakers; the others are
built afresh, and those the old snapshot alone used are closed once the
requests that leased it have drained.

What outlives every snapshot: the database, the ledger, the operator
wallet client and the metrics registry.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
import yaml
from aiohttp import web

from contracts.adapter import GameAdapter
from contracts.errors import ConfigError
from contracts.money import CurrencyTable
from gateway import clock
from gateway.config import Config, parse_config
from gateway.db import Database
from gateway.ledger import Ledger
from gateway.metrics import Metrics
from gateway.plugins import AdapterRegistry
from gateway.resilience import Provider
from gateway.routing import Router
from gateway.sessions import Sessions
from gateway.settlement import RemoteWallet

log = structlog.get_logger(__name__)

RESTART_KEYS = ("database", "wallet", "listen", "limits", "logging", "plugins")


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    """Which configuration is in force: a hash of its file and when it loaded."""

    hash: str
    loaded_at: datetime
    source: str | None = None

    @classmethod
    def of(cls, content: bytes, source: str | None = None) -> ConfigVersion:
        """Return the version of a configuration's bytes, loaded now."""
        digest = hashlib.sha256(content).hexdigest()[:16]

        return cls(hash=digest, loaded_at=clock.now(), source=source)

    def document(self) -> dict[str, Any]:
        """Return the version as plain data."""
        return {
            "hash": self.hash,
            "loaded_at": clock.to_text(self.loaded_at),
            "source": self.source,
        }


@dataclass(slots=True)
class Lease:
    """How many requests hold a snapshot, and whether it was replaced."""

    users: int = 0
    retired: bool = False


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Everything one configuration decides, built once, never changed."""

    config: Config
    version: ConfigVersion
    currencies: CurrencyTable
    sessions: Sessions
    providers: Mapping[str, Provider]
    adapters: Mapping[str, GameAdapter]
    router: Router
    lease: Lease = field(default_factory=Lease)

    def health(self, instance: str) -> str | None:
        """Return why an instance should not take new launches, or None."""
        provider = self.providers.get(instance)
        return "not configured" if provider is None else provider.health()


def build_snapshot(
    config: Config,
    version: ConfigVersion,
    registry: AdapterRegistry,
    db: Database,
    metrics: Metrics,
    previous: Snapshot | None = None,
) -> Snapshot:
    """Build the snapshot of a validated configuration.

    An instance whose settings, policy and currencies are unchanged from
    `previous` is carried over as it is, pool and breaker included.
    """
    currencies = config.currency_table()
    carried = {}
    if previous is not None and previous.config.currencies == config.currencies:
        carried = dict(previous.providers)
    providers: dict[str, Provider] = {}
    built: list[Provider] = []
    try:
        for name, provider_config in config.providers.items():
            old = carried.get(name)
            if old is not None and old.config == provider_config:
                providers[name] = old
                continue
            adapter = registry.get(provider_config.adapter).cls
            provider = Provider(name, provider_config, adapter, currencies, metrics)
            built.append(provider)
            providers[name] = provider
    except Exception as error:
        for provider in built:
            _close_later(provider)
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"providers.{name}: {error}") from error

    return Snapshot(
        config=config,
        version=version,
        currencies=currencies,
        sessions=Sessions(db, timedelta(seconds=config.sessions.ttl_seconds)),
        providers=providers,
        adapters={name: provider.adapter for name, provider in providers.items()},
        router=Router(config.routes, config.games),
    )


class Runtime:
    """Everything request handlers share: the current snapshot and what outlives it.

    `config`, `currencies`, `sessions` and `adapters` read the current
    snapshot; a handler that needs more than one of them reads `snapshot`
    once instead (or holds it with `lease()`) so they agree.
    """

    def __init__(
        self,
        snapshot: Snapshot,
        *,
        db: Database,
        ledger: Ledger,
        metrics: Metrics,
        registry: AdapterRegistry,
        remote_wallet: RemoteWallet | None = None,
        config_path: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.db = db
        self.ledger = ledger
        self.metrics = metrics
        self.registry = registry
        self.remote_wallet = remote_wallet
        self.config_path = config_path
        self._environ = environ
        self._lock: asyncio.Lock | None = None
        self._closing: set[asyncio.Task[None]] = set()
        for provider in snapshot.providers.values():
            provider.holders += 1

    @property
    def config(self) -> Config:
        """The configuration in force."""
        return self.snapshot.config

    @property
    def currencies(self) -> CurrencyTable:
        """The currency table in force."""
        return self.snapshot.currencies

    @property
    def sessions(self) -> Sessions:
        """The game sessions store, with the session lifetime in force."""
        return self.snapshot.sessions

    @property
    def adapters(self) -> Mapping[str, GameAdapter]:
        """The adapter of each configured provider instance."""
        return self.snapshot.adapters

    @contextmanager
    def lease(self) -> Iterator[Snapshot]:
        """Hold the current snapshot for one request, so its clients stay open."""
        snapshot = self.snapshot
        snapshot.lease.users += 1
        try:
            yield snapshot
        finally:
            snapshot.lease.users -= 1
            if snapshot.lease.retired and snapshot.lease.users == 0:
                self._drained(snapshot)

    def swap(self, snapshot: Snapshot) -> Snapshot:
        """Put a new snapshot in force and retire the old one; return the old."""
        for provider in snapshot.providers.values():
            provider.holders += 1
        old, self.snapshot = self.snapshot, snapshot
        self.metrics.set_providers(snapshot.providers)
        old.lease.retired = True
        if old.lease.users == 0:
            self._drained(old)

        return old

    async def reload(self) -> Snapshot:
        """Reload the config file, or raise `ConfigError` and keep the running one."""
        if self.config_path is None:
            raise ConfigError("the gateway was not started from a config file")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            running = self.snapshot
            try:
                config, version = load_versioned(
                    self.config_path, self.registry, self._environ
                )
                _refuse_restart_keys(running.config, config)
                snapshot = build_snapshot(
                    config, version, self.registry, self.db, self.metrics, running
                )
            except ConfigError as error:
                log.warning(
                    "config.reload_refused",
                    reason=error.message,
                    config_version=running.version.hash,
                )
                raise
            self.swap(snapshot)

        log.info(
            "config.reloaded",
            config_version=version.hash,
            previous_version=running.version.hash,
            providers=sorted(snapshot.providers),
        )
        return snapshot

    def install_sighup(self) -> bool:
        """Reload on `SIGHUP`; return whether the signal could be taken."""
        try:
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGHUP, self._on_sighup
            )
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            return False
        return True

    def remove_sighup(self) -> None:
        """Stop reloading on `SIGHUP`."""
        with suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

    async def aclose(self) -> None:
        """Close every provider instance, once the closes already begun end."""
        for provider in self.snapshot.providers.values():
            await provider.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _on_sighup(self) -> None:
        task = asyncio.get_running_loop().create_task(self._reload_quietly())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _reload_quietly(self) -> None:
        # The refusal is logged by reload(); a signal has no one to answer.
        with suppress(ConfigError):
            await self.reload()

    def _drained(self, snapshot: Snapshot) -> None:
        for provider in snapshot.providers.values():
            provider.holders -= 1
            if provider.holders == 0:
                task = _close_later(provider)
                if task is not None:
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)


def load_versioned(
    path: Path, registry: AdapterRegistry, environ: Mapping[str, str] | None = None
) -> tuple[Config, ConfigVersion]:
    """Read a config file once and return it validated, with its version.

    The checks are start-up's own (`parse_config`); the version is the hash
    of exactly the bytes that were validated.
    """
    try:
        content = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    config = parse_config(data, registry, os.environ if environ is None else environ)

    return config, ConfigVersion.of(content, str(path))


def file_version(path: Path | None, config: Config) -> ConfigVersion:
    """Return the version of a config loaded at start-up, from its file if any."""
    if path is not None:
        with suppress(OSError):
            return ConfigVersion.of(path.read_bytes(), str(path))

    # A config built in memory: its repr hides every secret but keeps the rest.
    return ConfigVersion.of(repr(config).encode())


def _refuse_restart_keys(running: Config, new: Config) -> None:
    changed = [k for k in RESTART_KEYS if getattr(running, k) != getattr(new, k)]
    if changed:
        keys = ", ".join(changed)
        raise ConfigError(
            f"{keys}: changing this needs a restart; the running config stays in force"
        )


def _close_later(provider: Provider) -> asyncio.Task[None] | None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    log.info("provider.closed", provider=provider.name)

    return loop.create_task(provider.aclose())


RUNTIME = web.AppKey("runtime", Runtime)
