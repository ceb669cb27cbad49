"""The conformance kit: one suite of money scenarios every adapter must pass.

An adapter package writes a provider-side client (`ProviderClient`), defines
a pytest fixture `gamegate_adapter` returning an `AdapterUnderTest`, and
enables the plugin with `pytest_plugins = ["contracts.testing.plugin"]`; its
test module then collects every scenario of `contracts.testing.scenarios`
against a real gateway on loopback. `docs/conformance.md` says more.

What this package exports imports nothing of the gateway, so a client module
in an adapter package may import it. The plugin, the harness and the
scenarios import `gateway`: the kit runs where gamegate is installed, while
adapters themselves still import only `contracts`.
"""

from contracts.testing.adapter import (
    LARGE_AMOUNT,
    AdapterUnderTest,
    ClientFactory,
    ReplayAnswer,
    SimulatorFactory,
)
from contracts.testing.client import KitAnswer, ProviderClient

__all__ = [
    "LARGE_AMOUNT",
    "AdapterUnderTest",
    "ClientFactory",
    "KitAnswer",
    "ProviderClient",
    "ReplayAnswer",
    "SimulatorFactory",
]
