"""Adapter plugins: discover them, check their hooks, collect their adapters.

Every adapter package, the built-in ones included, is a pluggy plugin found
through the `gamegate.adapters` entry-point group. Start-up loads them, stops
on a misspelled hook, asks each for its adapters through `register_adapters`,
and refuses any adapter that does not meet the contract.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import inspect
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import pluggy
import structlog

from contracts.adapter import CONTRACT_VERSION, AdapterConfig, Capabilities, GameAdapter
from contracts.errors import ConfigError, GamegateError
from contracts.hookspecs import ENTRY_POINT_GROUP, PROJECT, AdapterSpecs
from contracts.payments import PaymentAdapter, PaymentCapabilities

AdapterClass = type[GameAdapter] | type[PaymentAdapter]

_log = structlog.get_logger(__name__)

_HOOK = "register_adapters"
_ADAPTER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_VERSION = re.compile(r"(?P<major>[0-9]+)(?:\.[0-9A-Za-z.+-]*)?")


@dataclass(frozen=True, slots=True)
class LoadedAdapter:
    """One adapter class start-up accepted, and where it came from.

    `cls` is a `GameAdapter` or a `PaymentAdapter` subclass; `kind` says which.
    """

    cls: AdapterClass
    name: str
    plugin: str
    distribution: str | None
    version: str
    origin: str

    @property
    def kind(self) -> Literal["game", "payment"]:
        """The adapter's kind: `game` or `payment`."""
        return self.cls.kind


class AdapterRegistry:
    """The adapters start-up accepted, looked up by name."""

    def __init__(self, adapters: Iterable[LoadedAdapter] = ()) -> None:
        self._adapters: dict[str, LoadedAdapter] = {}
        for adapter in adapters:
            if adapter.name in self._adapters:
                raise _duplicate(self._adapters[adapter.name], adapter)
            self._adapters[adapter.name] = adapter

    def get(self, name: str) -> LoadedAdapter:
        """Return the adapter registered under `name`, or raise `ConfigError`."""
        adapter = self._adapters.get(name)
        if adapter is None:
            installed = ", ".join(self.names()) or "none"
            raise ConfigError(
                f"unknown adapter {name!r}; installed: {installed}", adapter=name
            )

        return adapter

    def names(self) -> list[str]:
        """Return the names of the registered adapters, sorted."""
        return sorted(self._adapters)

    def __iter__(self) -> Iterator[LoadedAdapter]:
        return (self._adapters[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._adapters)

    def __contains__(self, name: object) -> bool:
        return name in self._adapters


def load_adapters(
    allow: Collection[str] | None = None, plugins: Sequence[object] = ()
) -> AdapterRegistry:
    """Load the adapter plugins and return the adapters they register.

    `allow`, when given, names the plugins (entry-point names, or the
    `__name__` of an in-process plugin) that may load; every other plugin is
    blocked before it is imported. `plugins` are in-process plugin objects or
    modules registered after the entry points. Raises `ConfigError` for a
    misspelled hook, a plugin that fails to load, or an adapter that does not
    meet the contract.
    """
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(AdapterSpecs)
    entry_points = _entry_points()
    blocked = _block_unlisted(manager, allow, [*entry_points, *map(_name, plugins)])

    distributions = _load_entry_points(manager, entry_points)
    _register_in_process(manager, plugins)
    _check_hooks(manager)

    registry = AdapterRegistry(_collect(manager, distributions))

    loaded = [name for name, plugin in manager.list_name_plugin() if plugin]
    _log.info(
        "plugins.loaded",
        count=len(loaded),
        plugins=loaded,
        adapters=len(registry),
        blocked=blocked,
    )
    for adapter in registry:
        _log.info(
            "adapter.registered",
            name=adapter.name,
            version=adapter.version,
            plugin=adapter.plugin,
            distribution=adapter.distribution,
            origin=adapter.origin,
        )

    return registry


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    # pluggy would silently keep the first of two same-named entry points, so
    # a stale second install could shadow the adapter the operator expects.
    by_name: dict[str, list[importlib.metadata.EntryPoint]] = defaultdict(list)
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        by_name[entry_point.name].append(entry_point)
    for name, found in by_name.items():
        if len(found) > 1:
            sources = ", ".join(_distribution(point) or point.value for point in found)
            raise ConfigError(
                f"adapter plugin {name!r} is declared twice: by {sources}", plugin=name
            )

    return {name: found[0] for name, found in by_name.items()}


def _block_unlisted(
    manager: pluggy.PluginManager, allow: Collection[str] | None, names: list[str]
) -> list[str]:
    if allow is None:
        return []
    unmatched = sorted(set(allow) - set(names))
    if unmatched:
        raise ConfigError(
            f"allowed adapter plugins are not installed: {', '.join(unmatched)}; "
            f"installed: {', '.join(sorted(set(names))) or 'none'}",
            plugins=unmatched,
        )

    blocked = sorted(set(names) - set(allow))
    for name in blocked:
        manager.set_blocked(name)

    return blocked


def _load_entry_points(
    manager: pluggy.PluginManager,
    entry_points: dict[str, importlib.metadata.EntryPoint],
) -> dict[str, str | None]:
    # One entry point at a time, so an import error names the plugin at fault.
    distributions: dict[str, str | None] = {}
    for name, entry_point in entry_points.items():
        if manager.is_blocked(name):
            continue
        try:
            manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=name)
        except pluggy.PluginValidationError as error:
            raise _invalid_hook(manager, error, name) from error
        except Exception as error:
            raise ConfigError(
                f"adapter plugin {name!r} ({entry_point.value}) failed to load: "
                f"{error!r}",
                plugin=name,
            ) from error
        distributions[name] = _distribution(entry_point)

    return distributions


def _register_in_process(
    manager: pluggy.PluginManager, plugins: Sequence[object]
) -> None:
    for plugin in plugins:
        # The same module may arrive both as an entry point and in-process
        # (the conformance kit in an installed tree); it is one plugin.
        if manager.is_registered(plugin):
            continue
        name = _name(plugin)
        try:
            manager.register(plugin, name=name)
        except pluggy.PluginValidationError as error:
            raise _invalid_hook(manager, error, name) from error
        except ValueError as error:
            raise ConfigError(
                f"two adapter plugins are named {name!r}", plugin=name
            ) from error


def _check_hooks(manager: pluggy.PluginManager) -> None:
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        raise _invalid_hook(manager, error) from error

    # A plugin whose hook lost its @hookimpl marker registers nothing and would
    # otherwise go unnoticed until a provider instance names its adapter.
    for name, plugin in manager.list_name_plugin():
        if plugin is not None and not manager.get_hookcallers(plugin):
            raise ConfigError(
                f"adapter plugin {name!r} implements no gamegate hook; "
                f"is @hookimpl missing on {_HOOK}?",
                plugin=name,
                hook=_HOOK,
            )


def _invalid_hook(
    manager: pluggy.PluginManager,
    error: pluggy.PluginValidationError,
    name: str | None = None,
) -> ConfigError:
    name = name or manager.get_name(error.plugin) or _name(error.plugin)
    unknown = [
        caller.name
        for caller in manager.get_hookcallers(error.plugin) or ()
        if not caller.has_spec()
    ]
    if not unknown:
        detail = "; ".join(line.strip() for line in str(error).splitlines())
        return ConfigError(
            f"adapter plugin {name!r} has an invalid hook: {detail}", plugin=name
        )

    hook = unknown[0]
    known = [spec for spec in vars(AdapterSpecs) if not spec.startswith("_")]
    close = difflib.get_close_matches(hook, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known hooks: {known}"

    return ConfigError(
        f"adapter plugin {name!r} implements unknown hook {hook!r}{hint}",
        plugin=name,
        hook=hook,
    )


def _collect(
    manager: pluggy.PluginManager, distributions: dict[str, str | None]
) -> list[LoadedAdapter]:
    # Each plugin is asked on its own, so every adapter is traced to the
    # plugin that registered it.
    plugins = [(name, plugin) for name, plugin in manager.list_name_plugin() if plugin]
    registration = _Registration(distributions)
    for name, plugin in plugins:
        others = [other for _, other in plugins if other is not plugin]
        hook = manager.subset_hook_caller(_HOOK, remove_plugins=others)
        registration.plugin = name
        try:
            hook(register=registration)
        except GamegateError:
            raise
        except Exception as error:
            raise ConfigError(
                f"adapter plugin {name!r} failed in {_HOOK}: {error!r}",
                plugin=name,
                hook=_HOOK,
            ) from error

    return list(registration.accepted.values())


class _Registration:
    """The `register` callback: checks each class and records where it came from."""

    def __init__(self, distributions: dict[str, str | None]) -> None:
        self.distributions = distributions
        self.plugin = ""
        self.accepted: dict[str, LoadedAdapter] = {}

    def __call__(self, cls: AdapterClass) -> None:
        adapter = self._load(cls)
        if adapter.name in self.accepted:
            raise _duplicate(self.accepted[adapter.name], adapter)

        self.accepted[adapter.name] = adapter

    def _load(self, cls: AdapterClass) -> LoadedAdapter:
        if not (
            isinstance(cls, type) and issubclass(cls, GameAdapter | PaymentAdapter)
        ):
            raise ConfigError(
                f"adapter plugin {self.plugin!r} registered {cls!r}, "
                "which is not a GameAdapter subclass (nor a PaymentAdapter one)",
                plugin=self.plugin,
            )
        _check_declarations(cls, self.plugin)
        _check_contract(cls, self.plugin)

        distribution = self.distributions.get(self.plugin)

        return LoadedAdapter(
            cls=cls,
            name=cls.name,
            plugin=self.plugin,
            distribution=distribution,
            version=_version(cls, distribution),
            origin=_origin(cls),
        )


def _check_declarations(cls: AdapterClass, plugin: str) -> None:
    # A payment adapter declares webhook paths and payment capabilities
    # where a game adapter declares callback paths and game capabilities.
    payment = issubclass(cls, PaymentAdapter)
    name = getattr(cls, "name", None)
    config_model = getattr(cls, "config_model", None)
    paths_name = "webhook_paths" if payment else "callback_paths"
    paths = getattr(cls, paths_name, None)
    wanted: type = PaymentCapabilities if payment else Capabilities
    problems = []
    if not (isinstance(name, str) and _ADAPTER_NAME.fullmatch(name)):
        problems.append(
            f"name must be lower-case letters, digits, - or _, not {name!r}"
        )
    if not (isinstance(config_model, type) and issubclass(config_model, AdapterConfig)):
        problems.append("config_model must be a subclass of AdapterConfig")
    if not isinstance(getattr(cls, "capabilities", None), wanted):
        problems.append(f"capabilities must be a {wanted.__name__}")
    if not (isinstance(paths, tuple) and all(isinstance(p, str) for p in paths)):
        problems.append(f"{paths_name} must be a tuple of str")
    if not isinstance(cls.version, str):
        problems.append("version must be a str")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        problems.append(f"it does not implement {missing}")

    if problems:
        label = repr(name) if isinstance(name, str) else cls.__qualname__
        raise ConfigError(
            f"adapter {label} from plugin {plugin!r} is incomplete: "
            + "; ".join(problems),
            plugin=plugin,
            adapter=name,
        )


def _check_contract(cls: AdapterClass, plugin: str) -> None:
    wanted = _major(CONTRACT_VERSION)
    declared = cls.contract_version
    major = _major(declared) if isinstance(declared, str) else None
    if major != wanted:
        raise ConfigError(
            f"adapter {cls.name!r} from plugin {plugin!r} targets contract "
            f"{declared!r}, but this gateway implements contract {CONTRACT_VERSION}; "
            f"only adapters written for contract {wanted}.x can load",
            plugin=plugin,
            adapter=cls.name,
        )


def _major(version: str) -> int | None:
    match = _VERSION.fullmatch(version.strip())
    return int(match["major"]) if match else None


def _version(cls: AdapterClass, distribution: str | None) -> str:
    # An adapter that leaves `version` at the base class default takes the
    # version of the distribution that shipped it.
    roots = (GameAdapter, PaymentAdapter)
    bases = [base for base in cls.__mro__ if issubclass(base, roots)]
    declared = any("version" in vars(base) for base in bases if base not in roots)
    if declared or distribution is None:
        return cls.version
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return cls.version


def _origin(cls: type) -> str:
    try:
        return inspect.getsourcefile(cls) or inspect.getfile(cls)
    except (OSError, TypeError):
        return f"<{cls.__module__}>"


def _duplicate(first: LoadedAdapter, second: LoadedAdapter) -> ConfigError:
    return ConfigError(
        f"two adapters are named {first.name!r}: "
        f"{first.cls.__qualname__} from plugin {first.plugin!r} ({first.origin}) and "
        f"{second.cls.__qualname__} from plugin {second.plugin!r} ({second.origin})",
        adapter=first.name,
        plugins=[first.plugin, second.plugin],
    )


def _name(plugin: object) -> str:
    name = getattr(plugin, "__name__", None)
    return name if isinstance(name, str) else type(plugin).__name__


def _distribution(entry_point: importlib.metadata.EntryPoint) -> str | None:
    distribution = entry_point.dist
    return distribution.metadata["Name"] if distribution is not None else None
