"""The conformance kit against the built-in pragmatic adapter and its simulator."""

from __future__ import annotations

from typing import Any

import pytest

import adapters.pragmatic
from contracts.money import CurrencyTable
from contracts.testing import AdapterUnderTest
from contracts.wallet import Status
from examples.pragmatic_simulator.api import run_simulator
from examples.pragmatic_simulator.client import DEFAULT_GAME, PragmaticClient

pytest_plugins = ["contracts.testing.plugin"]


def client(callback_url: str, settings: dict[str, Any]) -> PragmaticClient:
    """Pragmatic's side, posting hashed forms to the adapter's method paths."""
    return PragmaticClient(
        callback_url, settings["secret_key"], currencies=CurrencyTable({"BTC": 8})
    )


@pytest.fixture
def gamegate_adapter() -> AdapterUnderTest:
    """The pragmatic adapter as the kit runs it, launching at the simulator."""
    return AdapterUnderTest(
        adapter="pragmatic",
        plugin=adapters.pragmatic,
        settings={"secret_key": "kit-secret-key", "secure_login": "kit-login"},
        launch_simulator=lambda settings: run_simulator(
            settings["secret_key"], secure_login=settings["secure_login"]
        ),
        client=client,
        currencies={"EUR": None, "JPY": None, "KWD": None, "BTC": 8},
        game=DEFAULT_GAME,
        rollback_has_own_id=False,
        catch_all_refusal=frozenset({Status.BAD_REQUEST}),
    )
