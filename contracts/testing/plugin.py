"""The conformance kit's pytest plugin: fixtures, and the scenarios' collection.

An adapter package enables it with `pytest_plugins =
["contracts.testing.plugin"]`, in its test module or its root conftest.py,
and defines a fixture named `gamegate_adapter` that takes no arguments and
returns an `AdapterUnderTest`. Every test module defining that fixture
collects the scenarios of `contracts.testing.scenarios` as a class named
`Conformance`, with the currency scenario parametrized by the currencies it
declares.

Fixtures, fresh for each test:
- `kit_gateway`: a real gateway on loopback (`KitGateway`) on a new SQLite
  file, the built-in wallet, one operator and the provider instance
  `under-test` running the adapter, wired to its simulator when there is one.
- `kit_client`: the adapter's provider-side client, aimed at the instance.
- `kit_player`: a player funded with `scenarios.FUNDS` minor units of the
  first declared currency, with a launched game session.
- `kit_seat`: the client bound to that player.

This module imports `gateway`: the kit runs where gamegate is installed. The
adapter under test still imports only `contracts`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pytest_asyncio

from contracts.testing.adapter import AdapterUnderTest
from contracts.testing.client import ProviderClient
from contracts.testing.harness import KitGateway, KitPlayer, Seat
from contracts.testing.scenarios import CURRENCY_PARAMETER, FUNDS, Conformance

ADAPTER_FIXTURE = "gamegate_adapter"


class ConformanceClass(pytest.Class):
    """The scenarios' class, collected inside a module that declares an adapter."""

    def _getobj(self) -> Any:
        # The class lives in the kit, not in the module that collects it.
        return Conformance


def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> pytest.Class | None:
    """Collect the scenarios where a module defines the `gamegate_adapter` fixture."""
    if name != ADAPTER_FIXTURE or not isinstance(collector, pytest.Module):
        return None

    return ConformanceClass.from_parent(collector, name=Conformance.__name__)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the currency scenario by the currencies the adapter declares."""
    if metafunc.cls is not Conformance:
        return
    if CURRENCY_PARAMETER not in metafunc.fixturenames:
        return

    codes = list(declared_adapter(metafunc.module).currencies)
    metafunc.parametrize(CURRENCY_PARAMETER, codes, ids=codes)


def declared_adapter(module: ModuleType) -> AdapterUnderTest:
    """Read a module's `gamegate_adapter` fixture at collection time."""
    fixture = getattr(module, ADAPTER_FIXTURE, None)
    function = inspect.unwrap(fixture) if callable(fixture) else None
    if function is None or inspect.signature(function).parameters:
        pytest.fail(
            f"{module.__name__}.{ADAPTER_FIXTURE} must be a fixture without"
            " arguments: the kit reads its currencies while collecting",
            pytrace=False,
        )
    declared = function()
    if not isinstance(declared, AdapterUnderTest):
        pytest.fail(
            f"{module.__name__}.{ADAPTER_FIXTURE} must return an AdapterUnderTest,"
            f" not {type(declared).__name__}",
            pytrace=False,
        )

    return declared


@pytest_asyncio.fixture
async def kit_gateway(
    gamegate_adapter: AdapterUnderTest, tmp_path: Path
) -> AsyncIterator[KitGateway]:
    """A real gateway on loopback running the adapter under test."""
    async with KitGateway.running(
        gamegate_adapter, tmp_path / "gamegate.db"
    ) as gateway:
        yield gateway


@pytest_asyncio.fixture
async def kit_client(
    gamegate_adapter: AdapterUnderTest, kit_gateway: KitGateway
) -> AsyncIterator[ProviderClient]:
    """The adapter's provider-side client, aimed at the gateway's instance."""
    client = gamegate_adapter.client(
        kit_gateway.callback_url, dict(kit_gateway.settings)
    )
    try:
        yield client
    finally:
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()


@pytest_asyncio.fixture
async def kit_player(
    gamegate_adapter: AdapterUnderTest, kit_gateway: KitGateway
) -> KitPlayer:
    """A funded player of the first declared currency, with a launched session."""
    return await kit_gateway.open_player(gamegate_adapter.default_currency, FUNDS)


@pytest.fixture
def kit_seat(kit_client: ProviderClient, kit_player: KitPlayer) -> Seat:
    """The provider-side client bound to the funded player's session."""
    return Seat(kit_client, kit_player)
