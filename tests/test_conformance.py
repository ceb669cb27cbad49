"""The conformance kit against the built-in softswiss adapter and its simulator."""

from __future__ import annotations

import pytest

import adapters.softswiss
from adapters.softswiss.kit import provider_client
from contracts.testing import AdapterUnderTest
from contracts.wallet import Status
from examples.softswiss_simulator import run_simulator

pytest_plugins = ["contracts.testing.plugin"]


@pytest.fixture
def gamegate_adapter() -> AdapterUnderTest:
    """The softswiss adapter as the kit runs it, launching at the studio simulator."""
    return AdapterUnderTest(
        adapter="softswiss",
        plugin=adapters.softswiss,
        settings={"auth_token": "conformance-auth-token", "casino_id": "kit-casino"},
        launch_simulator=lambda settings: run_simulator(
            settings["auth_token"], casino_id=settings["casino_id"]
        ),
        client=provider_client,
        currencies={"EUR": None, "JPY": None, "KWD": None, "BTC": 8},
        game="example-studio:fruit-reels",
        credit_names_debit=False,
        end_round_message=True,
        replay_answer="original",
        catch_all_refusal=Status.BAD_REQUEST,
    )
