"""The conformance kit against the built-in slotegrator adapter and its simulator."""

from __future__ import annotations

from typing import Any

import pytest

import adapters.slotegrator
from contracts.money import CurrencyTable
from contracts.testing import AdapterUnderTest
from contracts.wallet import Status
from examples.slotegrator_simulator.aggregator import run_simulator
from examples.slotegrator_simulator.client import SlotegratorClient

pytest_plugins = ["contracts.testing.plugin"]

GAME = "8c6a0f6b1e2d4c5a9b7e3f1d2c4b6a8e9f0a1b2c"


def client(callback_url: str, settings: dict[str, Any]) -> SlotegratorClient:
    """The aggregator's side, posting to the adapter's single callback path."""
    return SlotegratorClient(
        callback_url.rstrip("/") + "/callback",
        settings["merchant_id"],
        settings["merchant_key"],
        currencies=CurrencyTable({"BTC": 8}),
        game=GAME,
    )


@pytest.fixture
def gamegate_adapter() -> AdapterUnderTest:
    """The slotegrator adapter as the kit runs it, launching at the simulator."""
    return AdapterUnderTest(
        adapter="slotegrator",
        plugin=adapters.slotegrator,
        settings={"merchant_id": "kit-merchant", "merchant_key": "kit-merchant-key"},
        launch_simulator=lambda settings: run_simulator(
            settings["merchant_id"], settings["merchant_key"]
        ),
        client=client,
        currencies={"EUR": None, "JPY": None, "KWD": None, "BTC": 8},
        game=GAME,
        catch_all_refusal=Status.FINAL_ERROR,
    )
