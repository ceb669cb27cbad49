"""Tests of adapter plugin loading: hooks, contract checks, allow-list, origins."""

from __future__ import annotations

import logging
import sys
import types
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import SecretStr
from structlog.testing import LogCapture

from contracts import (
    CONTRACT_VERSION,
    AdapterConfig,
    BadRequest,
    Callback,
    CallbackAnswer,
    Capabilities,
    ConfigError,
    GameAdapter,
    GamegateError,
    LaunchRequest,
    LaunchResult,
    Operation,
    WalletOutcome,
    WalletRequest,
    hookimpl,
)
from gateway import plugins
from gateway.plugins import AdapterRegistry, LoadedAdapter, load_adapters


class StudioConfig(AdapterConfig):
    """The fake adapter's config model, with a secret like a real one."""

    base_url: str = "http://127.0.0.1:9"
    auth_token: SecretStr = SecretStr("not-a-real-token")


class StudioAdapter(GameAdapter):
    """A complete adapter that does nothing, for plugins to register."""

    name = "studio"
    config_model = StudioConfig
    capabilities = Capabilities(
        operations=frozenset({Operation.BALANCE, Operation.DEBIT}),
        signature="none",
        money_format="decimal string",
    )
    callback_paths = ("balance", "debit")

    def parse_callback(self, callback: Callback) -> WalletRequest:
        raise BadRequest("fake adapter")

    def render_outcome(
        self, callback: Callback, request: WalletRequest, outcome: WalletOutcome
    ) -> CallbackAnswer:
        return CallbackAnswer(status=200, body=b"{}")

    def render_error(self, callback: Callback, error: GamegateError) -> CallbackAnswer:
        return CallbackAnswer(status=400, body=b"{}")

    async def launch(self, request: LaunchRequest) -> LaunchResult:
        return LaunchResult(url="http://127.0.0.1:9/game")


def adapter(name: str, /, **attributes: Any) -> type[GameAdapter]:
    """Return a subclass of the fake adapter with a name, version and attributes."""
    # ABCMeta would otherwise record its own module, abc, as the class's home.
    attributes = {
        "__module__": __name__,
        "name": name,
        "version": "1.2.3",
        **attributes,
    }
    return type(f"Adapter_{name}", (StudioAdapter,), attributes)


def plugin(name: str, *adapters: object, hook: str = "register_adapters") -> Any:
    """Return an in-process plugin module whose hook registers `adapters`."""
    module = types.ModuleType(name)
    calls: list[object] = []
    module.calls = calls

    def register_adapters(register: Callable[[object], None]) -> None:
        calls.append(register)
        for cls in adapters:
            register(cls)

    setattr(module, hook, hookimpl(register_adapters))
    return module


def load(*modules: Any, allow: list[str] | None = None) -> AdapterRegistry:
    """Load only the given in-process plugins, whatever else is installed."""
    names = [module.__name__ for module in modules] if allow is None else allow
    return load_adapters(allow=names, plugins=modules)


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Install fake distributions declaring entry points, on a temporary path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    modules: list[str] = []

    def install(entry_point: str, source: str, version: str = "4.5.6") -> str:
        module = f"fake_plugin_{uuid.uuid4().hex}"
        (tmp_path / f"{module}.py").write_text(source)
        info = tmp_path / f"{module}-{version}.dist-info"
        info.mkdir()
        distribution = module.replace("_", "-")
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
        )
        (info / "entry_points.txt").write_text(
            f"[gamegate.adapters]\n{entry_point} = {module}\n"
        )
        modules.append(module)
        return distribution

    yield install

    for module in modules:
        sys.modules.pop(module, None)


# Installed modules are imported by name, not from this file, so they carry a
# complete adapter of their own.
ENTRY_POINT_MODULE = """
from contracts import AdapterConfig, CallbackAnswer, Capabilities, GameAdapter
from contracts import LaunchResult, hookimpl


class InstalledAdapter(GameAdapter):
    name = "installed"
    config_model = AdapterConfig
    capabilities = Capabilities(
        operations=frozenset(), signature="none", money_format="decimal"
    )
    callback_paths = ()
    {version}

    def parse_callback(self, callback):
        raise NotImplementedError

    def render_outcome(self, callback, request, outcome):
        return CallbackAnswer(status=200, body=b"{{}}")

    def render_error(self, callback, error):
        return CallbackAnswer(status=400, body=b"{{}}")

    async def launch(self, request):
        return LaunchResult(url="http://127.0.0.1:9/game")


@hookimpl
def register_adapters(register):
    register(InstalledAdapter)
"""


class TestLoading:
    def test_loads_in_process_plugins(self) -> None:
        """Every adapter an in-process plugin registers is loaded with its source."""
        registry = load(plugin("fake_studio", adapter("alpha"), adapter("beta")))

        assert registry.names() == ["alpha", "beta"]
        assert len(registry) == 2
        loaded = registry.get("alpha")
        assert loaded.name == "alpha"
        assert loaded.plugin == "fake_studio"
        assert loaded.distribution is None
        assert loaded.version == "1.2.3"
        assert loaded.cls.__name__ == "Adapter_alpha"
        assert [item.name for item in registry] == ["alpha", "beta"]

    def test_origin_is_the_defining_file(self) -> None:
        """`origin` is the path of the module that defined the adapter class."""
        registry = load(plugin("fake_studio", StudioAdapter))

        assert Path(registry.get("studio").origin).resolve() == Path(__file__).resolve()

    def test_several_plugins_each_traced(self) -> None:
        """Each adapter is traced to the plugin that registered it."""
        registry = load(
            plugin("first_plugin", adapter("one")),
            plugin("second_plugin", adapter("two")),
        )

        assert registry.get("one").plugin == "first_plugin"
        assert registry.get("two").plugin == "second_plugin"

    def test_version_defaults_to_base_without_distribution(self) -> None:
        """An in-process adapter that declares no version keeps the base default."""
        registry = load(plugin("fake_studio", StudioAdapter))

        assert registry.get("studio").version == GameAdapter.version

    def test_logs_plugins_and_adapters(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Loading logs one `plugins.loaded` and one `adapter.registered` each."""
        capture = LogCapture()
        logger = structlog.wrap_logger(
            structlog.PrintLogger(),
            processors=[capture],
            wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        )
        monkeypatch.setattr(plugins, "_log", logger)

        load(plugin("fake_studio", adapter("alpha"), adapter("beta")))

        events = [entry["event"] for entry in capture.entries]
        assert events == ["plugins.loaded", "adapter.registered", "adapter.registered"]
        loaded = capture.entries[0]
        assert (loaded["count"], loaded["adapters"]) == (1, 2)
        registered = capture.entries[1]
        assert registered["name"] == "alpha"
        assert registered["version"] == "1.2.3"
        assert registered["plugin"] == "fake_studio"
        assert Path(registered["origin"]).resolve() == Path(__file__).resolve()

    def test_same_module_in_process_and_installed_is_one_plugin(
        self, installed: Any
    ) -> None:
        """A module both installed and passed in-process is registered once."""
        installed("installed-studio", ENTRY_POINT_MODULE.format(version=""))
        first = load_adapters(allow=["installed-studio"])
        module = sys.modules[first.get("installed").cls.__module__]

        registry = load_adapters(allow=["installed-studio"], plugins=[module])

        assert registry.names() == ["installed"]


class TestHooks:
    def test_misspelled_hook_stops_start_up(self) -> None:
        """A hook implementation no spec knows is refused, naming plugin and hook."""
        misspelled = plugin("typo_plugin", StudioAdapter, hook="register_adaptors")

        with pytest.raises(ConfigError) as raised:
            load(misspelled)

        message = raised.value.message
        assert "'typo_plugin'" in message
        assert "'register_adaptors'" in message
        assert "did you mean 'register_adapters'" in message
        assert raised.value.context["hook"] == "register_adaptors"

    def test_hook_with_unknown_argument_is_refused(self) -> None:
        """A hook asking for an argument the spec does not pass is refused."""
        module = types.ModuleType("wrong_argument")

        @hookimpl
        def register_adapters(registry: object) -> None:
            """Asks for `registry` where the spec passes `register`."""

        module.register_adapters = register_adapters

        with pytest.raises(ConfigError, match=r"'wrong_argument'.*register_adapters"):
            load(module)

    def test_hook_without_marker_is_refused(self) -> None:
        """A plugin whose hook lacks `@hookimpl` is refused instead of ignored."""
        module = types.ModuleType("unmarked")
        module.register_adapters = lambda register: register(StudioAdapter)

        with pytest.raises(ConfigError, match="'unmarked' implements no gamegate hook"):
            load(module)

    def test_failing_hook_names_the_plugin(self) -> None:
        """An exception inside a plugin's hook becomes a ConfigError naming it."""
        module = types.ModuleType("broken_hook")

        @hookimpl
        def register_adapters(register: object) -> None:
            raise KeyError("missing table")

        module.register_adapters = register_adapters

        with pytest.raises(ConfigError, match="'broken_hook' failed in register"):
            load(module)


class TestAdapterChecks:
    def test_duplicate_names_are_refused(self) -> None:
        """Two adapters under one name stop start-up, naming both origins."""
        with pytest.raises(ConfigError) as raised:
            load(
                plugin("first_plugin", adapter("twin")),
                plugin("second_plugin", adapter("twin")),
            )

        message = raised.value.message
        assert "two adapters are named 'twin'" in message
        assert "'first_plugin'" in message
        assert "'second_plugin'" in message
        assert message.count(str(Path(__file__).resolve())) == 2

    def test_duplicate_within_one_plugin_is_refused(self) -> None:
        """One plugin registering two adapters under one name is refused too."""
        with pytest.raises(ConfigError, match="two adapters are named 'twin'"):
            load(plugin("fake_studio", adapter("twin"), adapter("twin")))

    @pytest.mark.parametrize("version", ["2.0", "0.9", "10", "one", ""])
    def test_other_contract_major_is_refused(self, version: str) -> None:
        """An adapter written for another contract major version is refused."""
        other = adapter("future", contract_version=version)

        with pytest.raises(ConfigError) as raised:
            load(plugin("fake_studio", other))

        message = raised.value.message
        assert f"targets contract {version!r}" in message
        assert f"implements contract {CONTRACT_VERSION}" in message

    @pytest.mark.parametrize("version", ["1.0", "1.7", "1"])
    def test_same_contract_major_loads(self, version: str) -> None:
        """An adapter written for any minor of the same major version loads."""
        registry = load(
            plugin("fake_studio", adapter("minor", contract_version=version))
        )

        assert registry.names() == ["minor"]

    @pytest.mark.parametrize(
        ("attributes", "problem"),
        [
            (
                {"config_model": dict},
                "config_model must be a subclass of AdapterConfig",
            ),
            (
                {"capabilities": {"operations": ()}},
                "capabilities must be a Capabilities",
            ),
            ({"callback_paths": ["balance"]}, "callback_paths must be a tuple of str"),
            ({"version": 1}, "version must be a str"),
            ({"name": "Has Spaces"}, "name must be lower-case"),
        ],
    )
    def test_incomplete_adapter_is_refused(
        self, attributes: dict[str, Any], problem: str
    ) -> None:
        """An adapter missing a declaration is refused, saying which one."""
        with pytest.raises(ConfigError, match=problem):
            load(plugin("fake_studio", adapter("partial", **attributes)))

    def test_abstract_adapter_is_refused(self) -> None:
        """An adapter that leaves an abstract method unimplemented is refused."""

        class Unfinished(GameAdapter):
            name = "unfinished"
            config_model = StudioConfig
            capabilities = StudioAdapter.capabilities
            callback_paths = ()

        with pytest.raises(ConfigError, match="does not implement launch, parse"):
            load(plugin("fake_studio", Unfinished))

    def test_non_adapter_is_refused(self) -> None:
        """Registering something that is not a GameAdapter subclass is refused."""
        with pytest.raises(ConfigError, match="not a GameAdapter subclass"):
            load(plugin("fake_studio", object))


class TestAllowList:
    def test_allow_list_blocks_other_plugins(self) -> None:
        """A plugin outside the allow-list is never asked for its adapters."""
        allowed = plugin("allowed_plugin", adapter("kept"))
        blocked = plugin("blocked_plugin", adapter("dropped"))

        registry = load(allowed, blocked, allow=["allowed_plugin"])

        assert registry.names() == ["kept"]
        assert blocked.calls == []

    def test_allow_list_blocks_entry_point_before_import(self, installed: Any) -> None:
        """An installed plugin outside the allow-list is never even imported."""
        installed("exploding", "raise RuntimeError('imported a blocked plugin')\n")

        registry = load(plugin("fake_studio", StudioAdapter))

        assert registry.names() == ["studio"]

    def test_allow_list_naming_missing_plugin_is_refused(self) -> None:
        """An allow-list naming a plugin that is not installed stops start-up."""
        with pytest.raises(ConfigError, match="not installed: typo_studio"):
            load(plugin("fake_studio", StudioAdapter), allow=["typo_studio"])


class TestEntryPoints:
    def test_entry_point_records_distribution(
        self, installed: Any, tmp_path: Path
    ) -> None:
        """An installed adapter records its entry point, distribution and version."""
        distribution = installed(
            "installed-studio", ENTRY_POINT_MODULE.format(version="version = '7.0'")
        )

        loaded = load_adapters(allow=["installed-studio"]).get("installed")

        assert loaded.plugin == "installed-studio"
        assert loaded.distribution == distribution
        assert loaded.version == "7.0"
        assert Path(loaded.origin).parent == tmp_path

    def test_version_falls_back_to_distribution(self, installed: Any) -> None:
        """An adapter without its own version takes its distribution's version."""
        installed("bare-studio", ENTRY_POINT_MODULE.format(version=""), version="4.5.6")

        loaded = load_adapters(allow=["bare-studio"]).get("installed")

        assert loaded.version == "4.5.6"

    def test_failing_import_names_the_entry_point(self, installed: Any) -> None:
        """An entry point that fails to import stops start-up, naming it."""
        installed("exploding", "raise RuntimeError('broken plugin')\n")

        with pytest.raises(ConfigError, match=r"'exploding'.*failed to load"):
            load_adapters(allow=["exploding"])


class TestRegistry:
    def test_unknown_adapter_lists_installed_ones(self) -> None:
        """Asking for an unknown adapter names the ones that are installed."""
        registry = load(plugin("fake_studio", adapter("beta"), adapter("alpha")))

        with pytest.raises(ConfigError) as raised:
            registry.get("gamma")

        assert raised.value.message == "unknown adapter 'gamma'; installed: alpha, beta"

    def test_unknown_adapter_in_empty_registry(self) -> None:
        """An empty registry says that nothing is installed."""
        with pytest.raises(ConfigError, match="installed: none"):
            AdapterRegistry().get("softswiss")

    def test_registry_refuses_duplicates(self) -> None:
        """A registry built by hand refuses two adapters under one name."""
        entry = LoadedAdapter(StudioAdapter, "studio", "a", None, "1", __file__)

        with pytest.raises(ConfigError, match="two adapters are named 'studio'"):
            AdapterRegistry([entry, entry])

    def test_registry_membership(self) -> None:
        """`in` tells whether an adapter name is registered."""
        registry = load(plugin("fake_studio", StudioAdapter))

        assert "studio" in registry
        assert "other" not in registry
