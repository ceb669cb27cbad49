"""Reading One Wallet callback bodies into normalized wallet requests.

The callback's `authToken` (and remote address) has already been checked when
these functions run; they check shapes and types only. Every refusal is a
`BadRequest` subclass, answered as `INVALID_PARAMETER`.

Numbers are read with `json.loads(..., parse_float=Decimal, parse_int=Decimal)`,
so an amount never passes through a binary float, and converted exactly with
`CurrencyTable.parse`; an amount finer than its currency allows is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from contracts import (
    AmountError,
    BadRequest,
    CreditKind,
    CurrencyTable,
    Operation,
    UnknownOperation,
    WalletOperation,
    WalletRequest,
)

# `check` carries no currency, and the contract has no request that asks only
# whether a player is known. ISO 4217's code for "no currency involved" asks
# for a balance nobody holds; the adapter reads "known player, no balance in
# that currency" as a known player. See `adapters.evolution.adapter`.
NO_CURRENCY: Final = "XXX"

# Evolution's cancel and promo ids are not debit or credit ids: prefixed, they
# can never collide with them in the instance's one transaction id space.
CANCEL_PREFIX: Final = "cancel:"
PROMO_PREFIX: Final = "promo:"

# No wallet holds more than a signed 64-bit count of minor units; a larger
# amount is a malformed request, not a retryable failure of the ledger.
MAX_MINOR_UNITS: Final = 2**63 - 1

PATHS: Final = ("check", "balance", "debit", "credit", "cancel", "promo_payout")


def read_request(path: str, body: bytes, currencies: CurrencyTable) -> WalletRequest:
    """Read one One Wallet method's body into the wallet request it asks for."""
    reader = _READERS.get(path)
    if reader is None:
        raise UnknownOperation(f"no One Wallet method {path[:40]!r}", path=path)

    document = load_document(body)

    return reader(document, body, currencies)


def load_document(body: bytes) -> dict[str, Any]:
    """Parse a JSON object whose numbers all become `Decimal`s, never floats."""
    try:
        document = json.loads(
            body,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=_refuse_constant,
        )
    except (ValueError, RecursionError) as error:
        raise BadRequest("body is not valid JSON") from error
    if not isinstance(document, dict):
        raise BadRequest("body must be a JSON object")

    return document


def _check(
    document: Mapping[str, Any], body: bytes, currencies: CurrencyTable
) -> WalletRequest:
    return WalletRequest(
        player=_text(document, "userId"),
        currency=NO_CURRENCY,
        session_token=_text(document, "sid"),
        raw=body,
    )


def _balance(
    document: Mapping[str, Any], body: bytes, currencies: CurrencyTable
) -> WalletRequest:
    return WalletRequest(
        player=_text(document, "userId"),
        currency=_currency(document, currencies),
        session_token=_optional_sid(document),
        game=_table(document),
        raw=body,
    )


def _debit(
    document: Mapping[str, Any], body: bytes, currencies: CurrencyTable
) -> WalletRequest:
    currency = _currency(document, currencies)
    transaction = _object(document, "transaction")
    operation = WalletOperation(
        operation=Operation.DEBIT,
        transaction_id=_text(transaction, "id", "transaction.id"),
        amount=_amount(transaction, currency, currencies),
    )

    # Only a debit checks the session, so a debit must name one.
    return WalletRequest(
        player=_text(document, "userId"),
        currency=currency,
        operations=(operation,),
        session_token=_text(document, "sid"),
        game=_table(document),
        round_id=_text(transaction, "refId", "transaction.refId"),
        raw=body,
    )


def _credit(
    document: Mapping[str, Any], body: bytes, currencies: CurrencyTable
) -> WalletRequest:
    currency = _currency(document, currencies)
    transaction = _object(document, "transaction")
    operation = WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=_text(transaction, "id", "transaction.id"),
        amount=_amount(transaction, currency, currencies),
        credit_kind=CreditKind.WIN,
    )

    # A credit settles the bets of its refId once: the round closes with it.
    return WalletRequest(
        player=_text(document, "userId"),
        currency=currency,
        operations=(operation,),
        session_token=_optional_sid(document),
        game=_table(document),
        round_id=_text(transaction, "refId", "transaction.refId"),
        round_closed=True,
        raw=body,
    )


def _cancel(
    document: Mapping[str, Any], body: bytes, currencies: CurrencyTable
) -> WalletRequest:
    currency = _currency(document, currencies)
    transaction = _object(document, "transaction")
    debit_id = _text(transaction, "id", "transaction.id")

    # The cancel names the debit by its own transaction id; its amount is for
    # validation only, so it is kept for audit and the ledger returns the
    # debit's own amount.
    operation = WalletOperation(
        operation=Operation.ROLLBACK,
        transaction_id=CANCEL_PREFIX + debit_id,
        amount=_amount(transaction, currency, currencies),
        reference_transaction_id=debit_id,
    )

    return WalletRequest(
        player=_text(document, "userId"),
        currency=currency,
        operations=(operation,),
        session_token=_optional_sid(document),
        game=_table(document),
        round_id=_text(transaction, "refId", "transaction.refId"),
        raw=body,
    )


def _promo_payout(
    document: Mapping[str, Any], body: bytes, currencies: CurrencyTable
) -> WalletRequest:
    currency = _currency(document, currencies)
    promo = _object(document, "promoTransaction")
    promo_id = _text(promo, "id", "promoTransaction.id")
    references = {"promo_transaction": promo_id}
    promo_type = _optional_text(promo, "type", "promoTransaction.type")
    if promo_type is not None:
        references["promo_type"] = promo_type
    operation = WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=PROMO_PREFIX + promo_id,
        amount=_amount(promo, currency, currencies, "promoTransaction.amount"),
        credit_kind=CreditKind.PROMO,
        references=references,
    )

    return WalletRequest(
        player=_text(document, "userId"),
        currency=currency,
        operations=(operation,),
        session_token=_optional_sid(document),
        game=_table(document),
        raw=body,
    )


_READERS = {
    "check": _check,
    "balance": _balance,
    "debit": _debit,
    "credit": _credit,
    "cancel": _cancel,
    "promo_payout": _promo_payout,
}


def _amount(
    document: Mapping[str, Any],
    currency: str,
    currencies: CurrencyTable,
    name: str = "transaction.amount",
) -> int:
    value = document.get("amount")

    # A JSON number arrives as a Decimal; a string, a bool or null does not.
    if type(value) is not Decimal:
        raise AmountError(f"{name} must be a JSON number, not {value!r:.40}")
    minor = currencies.parse(value, currency).minor
    if minor > MAX_MINOR_UNITS:
        raise AmountError(f"{name} is too large")

    return minor


def _currency(document: Mapping[str, Any], currencies: CurrencyTable) -> str:
    currency = _text(document, "currency")
    currencies.exponent(currency)

    return currency


def _table(document: Mapping[str, Any]) -> str | None:
    # `game` is null for a balance asked from the lobby; the gateway's game
    # id is the table id the game was launched with.
    game = document.get("game")
    if game is None:
        return None
    if not isinstance(game, dict):
        raise BadRequest("game must be an object or null", field="game")
    details = game.get("details")
    if details is None:
        return None
    if not isinstance(details, dict):
        raise BadRequest("game.details must be an object", field="game.details")
    table = details.get("table")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise BadRequest("game.details.table must be an object", field="table")

    return _optional_text(table, "id", "game.details.table.id") or None


def _optional_sid(document: Mapping[str, Any]) -> str | None:
    # Credits, cancels and promo payouts may come after the player left, with
    # an empty sid; the ledger does not check sessions on them.
    return _optional_text(document, "sid") or None


def _object(document: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    value = document.get(field)
    if not isinstance(value, dict):
        raise BadRequest(f"{field} must be an object", field=field)

    return value


def _text(document: Mapping[str, Any], field: str, name: str | None = None) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name or field} must be a non-empty string", field=field)

    return value


def _optional_text(
    document: Mapping[str, Any], field: str, name: str | None = None
) -> str | None:
    value = document.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name or field} must be a string", field=field)

    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
