"""Payment routing: which provider instances may take a new payment, in order.

The rules of `payments.routes` are tried in order and the first whose
`match` the payment meets decides: its `use` instance, or the side of its
weighted `split` the player falls on (a hash of the seed, the rule and the
player, as game routing does, so a player keeps one provider), followed by
the rule's `fallback` instances. Amount bounds are compared exactly, as
decimals of the payment's currency.

Whether the next candidate is tried is decided by the failure of the one
before (`fallback_decision`): only a failure that is safe to retry elsewhere
moves on, never one whose outcome is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from contracts.money import CurrencyTable, Money
from contracts.payments import PaymentFailure, PaymentKind, PaymentMethod
from gateway.payments.config import (
    PaymentMatch,
    PaymentRoute,
    PaymentsConfig,
    PaymentShare,
)
from gateway.resilience import CallFailed
from gateway.routing import split_position

Decision = Literal["fall_back", "declined", "unknown"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentQuery:
    """What routing knows about one new payment."""

    kind: PaymentKind
    operator: str
    player: str
    amount: Money
    method: PaymentMethod
    country: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentRouteChoice:
    """The instances to try in order, and the rule that chose them."""

    candidates: tuple[str, ...]
    rule: str | None


def route(
    config: PaymentsConfig, currencies: CurrencyTable, query: PaymentQuery
) -> PaymentRouteChoice:
    """Return the candidates of the first rule the payment matches, or none."""
    for index, rule in enumerate(config.routes):
        if matches(rule.match, currencies, query):
            label = rule.name or f"#{index}"
            first = _chosen(config, rule, label, query)
            fallback = tuple(name for name in rule.fallback if name != first)

            return PaymentRouteChoice((first, *fallback), label)

    return PaymentRouteChoice((), None)


def matches(
    match: PaymentMatch, currencies: CurrencyTable, query: PaymentQuery
) -> bool:
    """Return whether a payment meets every key a rule's match sets."""
    wanted: Sequence[tuple[Sequence[object] | None, object]] = (
        (match.kind, query.kind),
        (match.operator, query.operator),
        (match.currency, query.amount.currency),
        (match.country, query.country),
        (match.method, query.method),
    )
    if any(values is not None and value not in values for values, value in wanted):
        return False
    amount = Decimal(currencies.format(query.amount))
    if match.min is not None and amount < Decimal(match.min):
        return False

    return match.max is None or amount <= Decimal(match.max)


def _chosen(
    config: PaymentsConfig, rule: PaymentRoute, label: str, query: PaymentQuery
) -> str:
    if rule.use is not None:
        return rule.use
    assert rule.split is not None  # a rule has use or split, checked at load
    position = split_position(config.seed, label, f"{query.operator}:{query.player}")

    return _pick(rule.split, position)


def _pick(shares: Sequence[PaymentShare], position: float) -> str:
    point = position * sum(share.weight for share in shares)
    reached = 0
    for share in shares:
        reached += share.weight
        if share.weight and point < reached:
            return share.use

    return next(share.use for share in reversed(shares) if share.weight)


def fallback_decision(failed: CallFailed) -> Decision:
    """Say what a failed payment call allows: another provider, a decline, or wait.

    A `PaymentFailure` says it itself, except that an `unreachable` call the
    transport saw reach the provider is taken as unknown. Any other failure
    moves on only when no request of it reached the provider.
    """
    error = failed.error
    if not isinstance(error, PaymentFailure):
        return "fall_back" if failed.fallback_safe else "unknown"
    if error.outcome == "unreachable":
        return "unknown" if failed.reached else "fall_back"
    if error.outcome == "declined":
        return "fall_back" if error.may_fall_back else "declined"

    return "unknown"
