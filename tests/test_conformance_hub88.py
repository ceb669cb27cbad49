"""The conformance kit against the built-in hub88 adapter and its simulator."""

from __future__ import annotations

from typing import Any

import pytest

import adapters.hub88
from contracts.money import CurrencyTable
from contracts.testing import AdapterUnderTest
from contracts.wallet import Status
from examples.hub88_simulator import Hub88Client, KeyPair, run_simulator

pytest_plugins = ["contracts.testing.plugin"]

OPERATOR = KeyPair.generate()
HUB88 = KeyPair.generate()


def client(callback_url: str, settings: dict[str, Any]) -> Hub88Client:
    """Hub88's side, signing with Hub88's key and verifying the operator's."""
    return Hub88Client(
        callback_url,
        HUB88,
        OPERATOR.public_pem,
        currencies=CurrencyTable({"BTC": 8}),
        scales={"BTC": 10**8},
    )


@pytest.fixture
def gamegate_adapter() -> AdapterUnderTest:
    """The hub88 adapter as the kit runs it, launching at the simulator."""
    return AdapterUnderTest(
        adapter="hub88",
        plugin=adapters.hub88,
        settings={
            "operator_id": 7,
            "private_key": OPERATOR.private_pem,
            "hub88_public_key": HUB88.public_pem,
            "scales": {"BTC": 10**8},
            "default_country": "MT",
        },
        launch_simulator=lambda settings: run_simulator(
            OPERATOR.public_pem, keys=HUB88
        ),
        client=client,
        currencies={"EUR": None, "JPY": None, "KWD": None, "BTC": 8},
        game="sim_fruitreels",
        credit_names_debit=True,
        end_round_message=False,
        catch_all_refusal=frozenset({Status.RETRYABLE_ERROR}),
        large_amount=2**45 + 1,
    )
