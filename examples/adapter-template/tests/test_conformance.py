"""gamegate's conformance kit against the `example` adapter and its simulator."""

from __future__ import annotations

from typing import Any

import gamegate_example_adapter
import pytest
from gamegate_example_adapter.kit import ExampleKitClient
from gamegate_example_adapter.simulator import GAMES, run_simulator

from contracts.money import CurrencyTable
from contracts.testing import AdapterUnderTest

pytest_plugins = ["contracts.testing.plugin"]

# The currencies the kit plays in, with the exponent the gateway configures
# for each code ISO 4217 does not define.
CURRENCIES: dict[str, int | None] = {"EUR": None, "JPY": None, "KWD": None, "BTC": 8}


def client(callback_url: str, settings: dict[str, Any]) -> ExampleKitClient:
    """The provider's side, converting amounts at the kit's exponents."""
    extra = {code: exponent for code, exponent in CURRENCIES.items() if exponent}
    return ExampleKitClient(
        callback_url, settings["secret"], currencies=CurrencyTable(extra)
    )


@pytest.fixture
def gamegate_adapter() -> AdapterUnderTest:
    """The `example` adapter as the kit runs it, launching at the simulator."""
    return AdapterUnderTest(
        adapter="example",
        plugin=gamegate_example_adapter,
        settings={"secret": "kit-shared-secret"},
        launch_simulator=lambda settings: run_simulator(settings["secret"]),
        client=client,
        currencies=CURRENCIES,
        game=GAMES[0],
        credit_names_debit=True,
        end_round_message=False,
        replay_answer="original",
        catch_all_refusal=None,
    )
