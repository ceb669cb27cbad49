"""Reading an Example `/wallet` callback body into a normalized wallet request.

The signature has been verified when these functions run; they check shapes
and types only. Every refusal is a `BadRequest` or a subclass of it, which
the adapter answers as the protocol's `BAD_REQUEST`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

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

OPS = ("balance", "bet", "win", "refund")


def read_request(body: bytes, currencies: CurrencyTable) -> WalletRequest:
    """Read a callback body into the wallet request its `op` asks for."""
    document = _load_object(body)
    op = _text(document, "op")
    if op not in OPS:
        raise UnknownOperation(f"unknown op {op[:40]!r}", op=op)
    currency = _text(document, "currency")
    currencies.exponent(currency)

    operation: WalletOperation | None = None
    if op != "balance":
        operation = _operation(op, document, currency, currencies)
    round_over = _flag(document, "round_over") if op == "win" else False

    return WalletRequest(
        player=_text(document, "player"),
        currency=currency,
        operations=() if operation is None else (operation,),
        session_token=_text(document, "session"),
        game=_optional_text(document, "game"),
        round_id=None if operation is None else _text(document, "round"),
        round_closed=round_over,
        # The body carries no secret (the signature is a header), so the
        # ledger may keep all of it for audit.
        raw=body,
    )


def _operation(
    op: str, document: Mapping[str, Any], currency: str, currencies: CurrencyTable
) -> WalletOperation:
    transaction_id = _text(document, "transaction")

    if op == "refund":
        return WalletOperation(
            operation=Operation.ROLLBACK,
            transaction_id=transaction_id,
            reference_transaction_id=_text(document, "refund_of"),
        )

    amount = _minor_units(document, currency, currencies)
    if op == "bet":
        return WalletOperation(
            operation=Operation.DEBIT, transaction_id=transaction_id, amount=amount
        )

    return WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=transaction_id,
        amount=amount,
        credit_kind=CreditKind.WIN,
        reference_transaction_id=_optional_text(document, "bet"),
    )


def _minor_units(
    document: Mapping[str, Any], currency: str, currencies: CurrencyTable
) -> int:
    amount = document.get("amount")

    # A JSON number would reach Python as a float, which cannot be trusted
    # with money; the protocol sends amounts as decimal strings only.
    if not isinstance(amount, str):
        raise AmountError(
            f"amount must be a decimal string, not {amount!r:.40}",
            transaction=document.get("transaction"),
        )

    return currencies.parse(amount, currency).minor


def _load_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as error:
        raise BadRequest("body is not valid JSON") from error
    if not isinstance(document, dict):
        raise BadRequest("body must be a JSON object")

    return document


def _text(document: Mapping[str, Any], field: str) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{field} must be a non-empty string", field=field)

    return value


def _optional_text(document: Mapping[str, Any], field: str) -> str | None:
    if document.get(field) is None:
        return None

    return _text(document, field)


def _flag(document: Mapping[str, Any], field: str) -> bool:
    value = document.get(field, False)
    if type(value) is not bool:
        raise BadRequest(f"{field} must be a boolean", field=field)

    return value
