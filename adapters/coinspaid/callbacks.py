"""Reading CoinsPaid's callback bodies into normalized payment events.

The body's signature has already been verified when these functions run;
they check shapes and types only, and every refusal is a `BadRequest`
subclass. Amounts are decimal strings and sometimes JSON numbers: the body
is parsed with `parse_float=Decimal`, so no amount ever passes through a
binary float, and each is converted exactly by the gateway's currency table.

Status to state, per callback `type` (CoinsPaid's transaction statuses:
coinspaid/docs api-documentation/api-reference.md, "Transaction statuses"
and "Transitions"; docs.cryptoprocessing.com/api-reference/callbacks):

| type                            | status         | state            |
| ------------------------------- | -------------- | ---------------- |
| deposit, deposit_exchange       | not_confirmed  | pending          |
|                                 | confirmed      | succeeded        |
|                                 | cancelled      | failed           |
|                                 | error, failed  | failed           |
| withdrawal, withdrawal_exchange | pending        | pending_approval |
| withdrawal_instant              | processing,    | processing       |
|                                 | not_confirmed  |                  |
|                                 | confirmed      | paid             |
|                                 | cancelled,     | failed           |
|                                 | declined,      |                  |
|                                 | error, failed  |                  |

`error`, `failed` and `declined` are not callback values the API reference
lists; the dashboard shows Failed and Declined, so they are read as failures
rather than refused. Callbacks of other documented types (exchange, invoice)
are not payments and give no event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from contracts import AmountError, BadRequest, CurrencyTable, Money, UnknownOperation
from contracts.payments import PaymentEvent, PaymentKind, PaymentState

_S = PaymentState
DEPOSIT_STATES: Mapping[str, PaymentState] = {
    "not_confirmed": _S.PENDING,
    "confirmed": _S.SUCCEEDED,
    "cancelled": _S.FAILED,
    "error": _S.FAILED,
    "failed": _S.FAILED,
}
WITHDRAWAL_STATES: Mapping[str, PaymentState] = {
    "pending": _S.PENDING_APPROVAL,
    "processing": _S.PROCESSING,
    "not_confirmed": _S.PROCESSING,
    "confirmed": _S.PAID,
    "cancelled": _S.FAILED,
    "declined": _S.FAILED,
    "error": _S.FAILED,
    "failed": _S.FAILED,
}
CALLBACK_KINDS: Mapping[str, PaymentKind] = {
    "deposit": PaymentKind.DEPOSIT,
    "deposit_exchange": PaymentKind.DEPOSIT,
    "withdrawal": PaymentKind.PAYOUT,
    "withdrawal_exchange": PaymentKind.PAYOUT,
    "withdrawal_instant": PaymentKind.PAYOUT,
}
STATES: Mapping[PaymentKind, Mapping[str, PaymentState]] = {
    PaymentKind.DEPOSIT: DEPOSIT_STATES,
    PaymentKind.PAYOUT: WITHDRAWAL_STATES,
}
# Documented callback types that are not payments: acknowledged, no event.
NOT_PAYMENTS = frozenset({"exchange", "invoice"})

# Which amount says what moved: what reached the merchant's balance for a
# deposit (after any conversion), what left it for a withdrawal.
_AMOUNT_FIELDS: Mapping[PaymentKind, tuple[str, str]] = {
    PaymentKind.DEPOSIT: ("currency_received", "currency_sent"),
    PaymentKind.PAYOUT: ("currency_sent", "currency_received"),
}
_MAX_TEXT = 128


def load_document(body: bytes) -> Any:
    """Parse a JSON body with every non-integer number as an exact `Decimal`."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise BadRequest("body is not valid JSON") from error


def read_events(body: bytes, currencies: CurrencyTable) -> tuple[PaymentEvent, ...]:
    """Read one callback body into its event, or none for a non-payment type."""
    document = load_document(body)
    if not isinstance(document, dict):
        raise BadRequest("callback must be a JSON object")

    kind_name = _text(document, "type")
    if kind_name in NOT_PAYMENTS:
        return ()
    kind = CALLBACK_KINDS.get(kind_name)
    if kind is None:
        raise UnknownOperation(f"unknown callback type {kind_name[:40]!r}")

    transaction_id = _identifier(document, "id")
    status = _text(document, "status")
    state = STATES[kind].get(status)
    if state is None:
        raise BadRequest(
            f"unknown {kind_name} status {status[:40]!r}", transaction=transaction_id
        )

    return (
        PaymentEvent(
            event_id=f"{transaction_id}:{status}",
            state=state,
            payment_id=_payment_id(document, kind),
            provider_reference=transaction_id,
            amount=_moved(document, kind, currencies),
            reason=_reason(document, state, status),
            player=_player(document) if kind is PaymentKind.DEPOSIT else None,
        ),
    )


def read_amount(value: object, currency: str, currencies: CurrencyTable) -> Money:
    """Convert a CoinsPaid amount (decimal string or JSON number) exactly."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise AmountError(f"amount must be a decimal, not {value!r:.40}")

    return currencies.parse(value, currency)


def _payment_id(document: Mapping[str, Any], kind: PaymentKind) -> str | None:
    # A deposit arrives at the player's permanent address and names no
    # payment; a withdrawal echoes the gateway's payment id as `foreign_id`.
    if kind is PaymentKind.DEPOSIT:
        return None

    return _identifier(document, "foreign_id")


def _player(document: Mapping[str, Any]) -> str:
    address = document.get("crypto_address")
    if isinstance(address, dict) and address.get("foreign_id") is not None:
        return _identifier(address, "foreign_id")
    if document.get("foreign_id") is not None:
        return _identifier(document, "foreign_id")

    raise BadRequest(
        "deposit names no player: crypto_address.foreign_id is missing",
        field="crypto_address.foreign_id",
    )


def _moved(
    document: Mapping[str, Any], kind: PaymentKind, currencies: CurrencyTable
) -> Money | None:
    transactions = _transactions(document)
    for field in _AMOUNT_FIELDS[kind]:
        entry = document.get(field)
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise BadRequest(f"{field} must be an object", field=field)
        return read_amount(entry.get("amount"), _text(entry, "currency"), currencies)

    # Some callbacks carry only the blockchain transaction.
    for entry in transactions:
        if entry.get("transaction_type") == "blockchain" and "amount" in entry:
            currency = _text(entry, "currency")
            return read_amount(entry.get("amount"), currency, currencies)

    return None


def _transactions(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    transactions = document.get("transactions")
    if transactions is None:
        return []
    if not isinstance(transactions, list) or not all(
        isinstance(entry, dict) for entry in transactions
    ):
        raise BadRequest("transactions must be a list of objects")

    return transactions


def _reason(document: Mapping[str, Any], state: PaymentState, status: str) -> str:
    error = document.get("error")
    text = error.strip() if isinstance(error, str) else ""
    if not text and state is PaymentState.FAILED:
        text = f"CoinsPaid status {status}"

    return text[:200]


def _identifier(document: Mapping[str, Any], field: str) -> str:
    # CoinsPaid sends ids as JSON integers and foreign ids as strings, and
    # has sent each the other way; both read as the same text.
    value = document.get(field)
    if type(value) is int and value >= 0:
        return str(value)
    if isinstance(value, str) and value and len(value) <= _MAX_TEXT:
        return value

    raise BadRequest(f"{field} must be a non-empty string or integer", field=field)


def _text(document: Mapping[str, Any], field: str) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise BadRequest(f"{field} must be a non-empty string", field=field)

    return value


def _no_constant(name: str) -> None:
    raise BadRequest(f"{name} is not an amount")
