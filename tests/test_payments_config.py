"""The `payments:` config and payment routing: shape, refusals, exact matching."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from payment_fakes import config_data, registry

from contracts.errors import ConfigError
from contracts.money import CurrencyTable, Money
from contracts.payments import PaymentFailure, PaymentKind, PaymentMethod
from gateway.config import parse_config
from gateway.payments.config import PaymentsConfig
from gateway.payments.routing import PaymentQuery, fallback_decision, route
from gateway.resilience import CallFailed, CallScope, Outcome

TABLE = CurrencyTable()


def _config(payments: dict[str, Any]) -> dict[str, Any]:
    data = config_data(
        "sqlite:///unused.db", {"pay-a": "http://a", "pay-b": "http://b"}
    )
    data["payments"] = payments
    return data


def _query(amount: str = "25.00", **fields: Any) -> PaymentQuery:
    currency = fields.pop("currency", "EUR")
    values: dict[str, Any] = {
        "kind": PaymentKind.DEPOSIT,
        "operator": "casino-a",
        "player": "player-1",
        "amount": TABLE.parse(amount, currency),
        "method": PaymentMethod.CARD,
        "country": "DE",
        **fields,
    }
    return PaymentQuery(**values)


def test_the_documented_shape_loads() -> None:
    """Routes with match, use, split and fallback, notify and outbox all load."""
    payments = {
        "routes": [
            {
                "name": "eu-cards",
                "match": {
                    "kind": "deposit",
                    "currency": ["EUR"],
                    "country": ["DE", "AT"],
                    "method": "card",
                    "min": "10.00",
                    "max": 5000,
                },
                "split": [{"use": "pay-a", "weight": 3}, {"use": "pay-b", "weight": 1}],
                "fallback": ["pay-b"],
            },
            {"use": "pay-b"},
        ],
        "notify": {"url": "https://casino.example/hook", "secret": "s" * 16},
        "outbox": {"poll_seconds": 2, "max_backoff_seconds": 60},
    }

    config = parse_config(_config(payments), registry(), {})

    assert config.payments.routes[0].match.max == "5000"
    assert config.providers["pay-a"].kind == "payment"


@pytest.mark.parametrize(
    ("payments", "message"),
    [
        ({"routes": [{"use": "nowhere"}]}, "payments.routes.0.use: unknown provider"),
        ({"routes": [{"match": {"min": 1.5}, "use": "pay-a"}]}, "min"),
        ({"routes": [{"match": {"min": "2", "max": "1"}, "use": "pay-a"}]}, "min is"),
        ({"routes": [{"match": {"method": "cheque"}, "use": "pay-a"}]}, "method"),
        ({"routes": [{"fallback": ["pay-a"]}]}, "give either use or split"),
        ({"notify": {"url": "https://x", "secret": "short"}}, "16 characters"),
    ],
)
def test_bad_payment_config_names_the_key(
    payments: dict[str, Any], message: str
) -> None:
    """A faulty `payments:` section stops start-up with a message naming the key."""
    with pytest.raises(ConfigError, match=message):
        parse_config(_config(payments), registry(), {})


def test_a_game_route_cannot_name_a_payment_provider() -> None:
    """Game routing refuses a payment instance, so no launch can reach one."""
    data = _config({})
    data["routes"] = {"games": [{"games": ["*"], "use": "pay-a"}]}

    with pytest.raises(ConfigError, match="is a payment provider"):
        parse_config(data, registry(), {})


@pytest.mark.parametrize(
    ("amount", "currency", "rule"),
    [
        ("10.00", "EUR", "mid"),
        ("9.99", "EUR", "any"),
        ("100.00", "EUR", "mid"),
        ("100.01", "EUR", "any"),
        ("100", "JPY", "any"),
        ("0.001", "KWD", "any"),
    ],
)
def test_amount_bounds_compare_exactly(amount: str, currency: str, rule: str) -> None:
    """Bounds are inclusive decimals in the payment's currency, never rounded."""
    config = PaymentsConfig.model_validate(
        {
            "routes": [
                {
                    "name": "mid",
                    "match": {"currency": "EUR", "min": "10.00", "max": "100"},
                    "use": "pay-a",
                },
                {"name": "any", "use": "pay-b"},
            ]
        }
    )

    choice = route(config, TABLE, _query(amount, currency=currency))

    assert choice.rule == rule


def test_a_split_keeps_a_player_on_one_side() -> None:
    """The same player always lands on the same side of a weighted split."""
    config = PaymentsConfig.model_validate(
        {
            "routes": [
                {
                    "split": [
                        {"use": "pay-a", "weight": 1},
                        {"use": "pay-b", "weight": 1},
                    ],
                    "fallback": ["pay-a", "pay-b"],
                }
            ]
        }
    )
    sides = {
        player: route(config, TABLE, _query(player=player)).candidates
        for player in (f"p{i}" for i in range(200))
    }

    assert all(
        route(config, TABLE, _query(player=p)).candidates == sides[p] for p in sides
    )
    assert {c[0] for c in sides.values()} == {"pay-a", "pay-b"}
    assert all(sorted(c) == ["pay-a", "pay-b"] for c in sides.values())


def _failed(error: PaymentFailure, outcomes: list[Outcome]) -> CallFailed:
    return CallFailed("pay-a", error, [CallScope("other", outcomes=outcomes)])


@pytest.mark.parametrize(
    ("outcome", "shareable", "seen", "decision"),
    [
        ("unreachable", True, Outcome.CONNECT_ERROR, "fall_back"),
        ("unreachable", True, Outcome.CIRCUIT_OPEN, "fall_back"),
        ("unreachable", True, Outcome.TIMEOUT, "unknown"),
        ("declined", False, Outcome.CLIENT_ERROR, "fall_back"),
        ("declined", True, Outcome.CLIENT_ERROR, "declined"),
        ("unknown", True, Outcome.SERVER_ERROR, "unknown"),
        ("unknown", True, Outcome.CONNECT_ERROR, "unknown"),
    ],
)
def test_only_safe_failures_fall_back(
    outcome: Literal["unreachable", "declined", "unknown"],
    shareable: bool,
    seen: Outcome,
    decision: str,
) -> None:
    """Unreachable and declined-not-shareable move on; unknown never does."""
    error = PaymentFailure("x", outcome=outcome, shareable=shareable)

    assert fallback_decision(_failed(error, [seen])) == decision


def test_money_of_a_rule_is_never_a_float() -> None:
    """A float bound is refused: YAML `10.5` would not be exact."""
    with pytest.raises(ValueError, match="valid string"):
        PaymentsConfig.model_validate(
            {"routes": [{"match": {"max": 10.5}, "use": "a"}]}
        )
    assert Money(1, "EUR").minor == 1
