"""The conformance kit against the built-in evolution adapter and its simulator."""

from __future__ import annotations

from typing import Any

import pytest

import adapters.evolution
from contracts.money import CurrencyTable
from contracts.testing import AdapterUnderTest
from contracts.wallet import Status
from examples.evolution_simulator.client import DEFAULT_TABLE, OneWalletClient
from examples.evolution_simulator.studio import run_simulator

pytest_plugins = ["contracts.testing.plugin"]


def client(callback_url: str, settings: dict[str, Any]) -> OneWalletClient:
    """Evolution's side, calling the adapter with the static auth token."""
    return OneWalletClient(
        callback_url, settings["auth_token"], currencies=CurrencyTable({"BTC": 8})
    )


@pytest.fixture
def gamegate_adapter() -> AdapterUnderTest:
    """The evolution adapter as the kit runs it, launching at the simulator."""
    return AdapterUnderTest(
        adapter="evolution",
        plugin=adapters.evolution,
        settings={
            "casino_key": "kit-casino",
            "api_token": "kit-api-token",
            "auth_token": "kit-auth-token",
            "default_country": "MT",
        },
        launch_simulator=lambda settings: run_simulator(
            settings["casino_key"], settings["api_token"]
        ),
        client=client,
        currencies={"EUR": None, "JPY": None, "KWD": None, "BTC": 8},
        game=DEFAULT_TABLE,
        end_round_message=False,
        rollback_has_own_id=False,
        catch_all_refusal=frozenset({Status.FINAL_ERROR, Status.BAD_REQUEST}),
    )
