"""The `example` adapter's own rules: signature first, exact money, the launch."""

from __future__ import annotations

import importlib.metadata
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from gamegate_example_adapter import ExampleAdapter, ExampleConfig
from gamegate_example_adapter.adapter import SIGNATURE_HEADER
from gamegate_example_adapter.simulator import GAMES, ExampleProvider
from pydantic import SecretStr

from contracts import (
    AdapterContext,
    AmountError,
    Callback,
    CurrencyTable,
    InvalidSignature,
    LaunchRequest,
    Mode,
    Operation,
    OperationOutcome,
    Status,
    WalletOutcome,
)
from contracts.signing import hmac_sha256_hex
from gateway.plugins import load_adapters

SECRET = "template-test-secret"
DISTRIBUTION = "gamegate-adapter-example"


def make_adapter(
    http: httpx.AsyncClient, base_url: str = "http://127.0.0.1:9"
) -> ExampleAdapter:
    """Build an adapter for an instance named `example-direct`, BTC at 8 places."""
    config = ExampleConfig(base_url=base_url, secret=SecretStr(SECRET))
    context = AdapterContext(
        instance="example-direct", currencies=CurrencyTable({"BTC": 8}), http=http
    )
    return ExampleAdapter(config, context)


def callback(document: dict[str, Any] | bytes, key: str = SECRET) -> Callback:
    """Return a `/wallet` callback of a body signed with `key`."""
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    headers = {SIGNATURE_HEADER.lower(): hmac_sha256_hex(key, body)}

    return Callback(path="wallet", method="POST", headers=headers, query={}, body=body)


def bet(amount: object, currency: str = "EUR") -> dict[str, Any]:
    """Return a bet's body with the given amount."""
    return {
        "op": "bet",
        "player": "casino-a:player-1",
        "session": "session-1",
        "currency": currency,
        "round": "round-1",
        "transaction": "bet-1",
        "amount": amount,
    }


def test_the_installed_package_is_loaded_through_its_entry_point() -> None:
    """The gateway finds the installed package through `gamegate.adapters`."""
    registry = load_adapters(allow=["example"])

    loaded = registry.get("example")
    assert loaded.cls is ExampleAdapter
    assert loaded.distribution == DISTRIBUTION
    assert loaded.version == importlib.metadata.version(DISTRIBUTION)


@pytest.mark.parametrize(
    "key",
    [f"{SECRET}-other", "", SECRET.upper()],
    ids=["other-key", "empty-key", "other-case-key"],
)
def test_signature_is_checked_before_the_body_is_read(key: str) -> None:
    """A callback signed with another key is refused before its body is read."""
    adapter = make_adapter(httpx.AsyncClient())

    with pytest.raises(InvalidSignature):
        adapter.parse_callback(callback(b"{not json", key=key))


@pytest.mark.parametrize(
    ("currency", "amount", "minor"),
    [
        ("EUR", "12.50", 1250),
        ("EUR", "12.5", 1250),
        ("JPY", "1000", 1000),
        ("KWD", "0.001", 1),
        ("BTC", "0.00000001", 1),
        ("EUR", "90071992547409.93", 2**53 + 1),
    ],
)
def test_decimal_amounts_become_exact_minor_units(
    currency: str, amount: str, minor: int
) -> None:
    """A decimal string becomes its exact number of minor units."""
    adapter = make_adapter(httpx.AsyncClient())

    request = adapter.parse_callback(callback(bet(amount, currency)))

    (operation,) = request.operations
    assert operation.operation is Operation.DEBIT
    assert operation.amount == minor


@pytest.mark.parametrize(
    ("currency", "amount"),
    [
        ("EUR", 12.5),
        ("EUR", 1250),
        ("EUR", "12.505"),
        ("JPY", "0.5"),
        ("EUR", "-1.00"),
        ("EUR", "1e3"),
        ("EUR", None),
    ],
)
def test_amounts_that_need_rounding_or_a_float_are_refused(
    currency: str, amount: object
) -> None:
    """A JSON number, a negative amount or one finer than the currency is refused."""
    adapter = make_adapter(httpx.AsyncClient())

    with pytest.raises(AmountError):
        adapter.parse_callback(callback(bet(amount, currency)))


def test_answer_shows_the_balance_at_the_currency_exponent_and_is_signed() -> None:
    """An OK answer carries the balance at the currency's exponent, signed."""
    adapter = make_adapter(httpx.AsyncClient())
    signed = callback(bet("0.00000001", "BTC"))
    request = adapter.parse_callback(signed)
    outcome = WalletOutcome(
        status=Status.OK,
        currency="BTC",
        balance=2**53 + 1,
        operations=(
            OperationOutcome(
                transaction_id="bet-1",
                gateway_transaction_id="42",
                processed_at=datetime.now(UTC),
            ),
        ),
    )

    answer = adapter.render_outcome(signed, request, outcome)

    assert answer.status == 200
    assert json.loads(answer.body) == {
        "status": "OK",
        "balance": "90071992.54740993",
        "currency": "BTC",
        "transaction": "42",
    }
    assert answer.headers[SIGNATURE_HEADER] == hmac_sha256_hex(SECRET, answer.body)


@pytest.mark.asyncio
async def test_launch_answers_the_simulator_game_url() -> None:
    """A launch at the simulator answers a URL that opens the game."""
    provider = ExampleProvider(SECRET)
    async with provider.serve() as base_url, httpx.AsyncClient() as http:
        adapter = make_adapter(http, base_url)
        request = LaunchRequest(
            session_token="session-1",
            player="casino-a:player-1",
            game=GAMES[0],
            currency="EUR",
            mode=Mode.DEMO,
        )

        result = await adapter.launch(request)
        page = await http.get(result.url)

    (launch,) = provider.launches.values()
    assert (launch.player, launch.session, launch.mode) == (
        "casino-a:player-1",
        "session-1",
        "demo",
    )
    assert page.status_code == 200 and GAMES[0] in page.text
