"""Reading Hub88's wallet callbacks into normalized wallet requests.

The body's signature has already been verified when these functions run; they
check shapes and types only. Every refusal is a `BadRequest` subclass, so the
adapter renders it as one of the protocol's `RS_ERROR_*` answers.

Two things the callbacks do not carry are recovered here without state:

- Hub88 sends no currency with `/user/balance` and `/transaction/rollback`.
  The adapter hands Hub88 the gateway's session token with the session's
  currency appended (`{token}~EUR`) at launch, and Hub88 sends that token
  back on every callback, so the currency is read from it. Hub88 ties a
  token to one currency by design, so nothing is lost.
- Hub88 carries money as integers at 100 000 per whole unit for fiat
  currencies, and at a configured scale for others (`Amounts`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from contracts import (
    AmountError,
    BadRequest,
    CreditKind,
    CurrencyTable,
    Money,
    Operation,
    UnknownOperation,
    WalletOperation,
    WalletRequest,
)

FIAT_SCALE = 100_000
# Hub88 documents its amounts as Int64; a JSON encoder refuses anything larger.
INT64_MAX = 2**63 - 1
TOKEN_SEPARATOR = "~"
# `/user/info` names no currency; it is asked as a balance in ISO 4217's
# "no currency", which tells a known player (wrong currency) from an unknown one.
PROBE_CURRENCY = "XXX"
_CODE = re.compile(r"[A-Z][A-Z0-9]{1,9}")


class WrongType(BadRequest):
    """A field carries a JSON type the protocol does not allow."""

    code = "wrong_type"


class AmountTypeError(WrongType, AmountError):
    """An amount is not a JSON integer (a string, a float, a boolean)."""

    code = "bad_amount_type"


class UnreadableToken(BadRequest):
    """The token is missing, or is not one the adapter handed out at launch."""

    code = "unreadable_token"


class CurrencyMismatch(BadRequest):
    """A transaction's currency is not the currency of its game session."""

    code = "currency_mismatch"


def launch_token(session_token: str, currency: str) -> str:
    """Return the token Hub88 is given at launch: the session's, with its currency."""
    return f"{session_token}{TOKEN_SEPARATOR}{currency}"


def read_token(token: str) -> tuple[str, str | None]:
    """Split a token from Hub88 into the gateway's session token and its currency.

    A token without a currency suffix is returned whole, with None.
    """
    session, separator, currency = token.rpartition(TOKEN_SEPARATOR)
    if not separator or not session or not _CODE.fullmatch(currency):
        return token, None

    return session, currency


class Amounts:
    """Exact conversions between Hub88's integers and minor units."""

    def __init__(self, currencies: CurrencyTable, scales: Mapping[str, int]) -> None:
        self.currencies = currencies
        self._scales = dict(scales)

    def scale(self, currency: str) -> int:
        """Return Hub88's integer units per whole unit of `currency`."""
        return self._scales.get(currency, FIAT_SCALE)

    def to_minor(self, value: object, currency: str) -> int:
        """Convert a Hub88 amount to minor units, refusing anything inexact."""
        # bool is a subclass of int, and a float would have to be rounded: both go.
        if type(value) is not int:
            raise AmountTypeError(f"amount must be a JSON integer, not {value!r:.40}")
        if value > INT64_MAX:
            raise AmountError("amount is beyond Hub88's Int64")

        return self.currencies.from_scaled(value, self.scale(currency), currency).minor

    def to_hub88(self, minor: int, currency: str) -> int:
        """Convert minor units to a Hub88 amount, refusing anything inexact.

        Hub88 carries Int64 integers, so an amount beyond it is refused too.
        """
        scaled = self.currencies.to_scaled(Money(minor, currency), self.scale(currency))
        if scaled > INT64_MAX:
            raise AmountError(f"{currency} amount is beyond Hub88's Int64")

        return scaled


def read_request(path: str, body: bytes, amounts: Amounts) -> WalletRequest:
    """Read one callback body into the wallet request it asks for."""
    reader = _READERS.get(path)
    if reader is None:
        raise UnknownOperation(f"no callback at {path[:40]!r}", path=path)

    document = load_object(body)
    _text(document, "request_uuid")

    return reader(document, body, amounts)


def load_object(body: bytes) -> dict[str, Any]:
    """Parse a body that must be a JSON object."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest("body is not valid JSON") from error
    if not isinstance(document, dict):
        raise BadRequest("body must be a JSON object")

    return document


def _user_info(
    document: dict[str, Any], body: bytes, amounts: Amounts
) -> WalletRequest:
    return WalletRequest(
        player=_text(document, "user"), currency=PROBE_CURRENCY, raw=body
    )


def _balance(document: dict[str, Any], body: bytes, amounts: Amounts) -> WalletRequest:
    player = _text(document, "user")
    session, currency = _session_currency(document)
    amounts.currencies.exponent(currency)

    return WalletRequest(
        player=player,
        currency=currency,
        session_token=session,
        game=_optional_text(document, "game_code"),
        raw=body,
    )


def _bet(document: dict[str, Any], body: bytes, amounts: Amounts) -> WalletRequest:
    player = _text(document, "user")
    transaction_id = _text(document, "transaction_uuid")
    currency = _text(document, "currency")
    session = _session_for(document, currency, required=True)
    round_id = _text(document, "round")

    operation = WalletOperation(
        operation=Operation.DEBIT,
        transaction_id=transaction_id,
        amount=amounts.to_minor(document.get("amount"), currency),
        references=_references(document),
    )

    return _transaction(document, body, player, currency, session, round_id, operation)


def _win(document: dict[str, Any], body: bytes, amounts: Amounts) -> WalletRequest:
    player = _text(document, "user")
    transaction_id = _text(document, "transaction_uuid")
    currency = _text(document, "currency")
    session = _session_for(document, currency, required=False)
    round_id = _text(document, "round")
    promo = _flag(document, "is_supplier_promo")

    operation = WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=transaction_id,
        amount=amounts.to_minor(document.get("amount"), currency),
        credit_kind=CreditKind.PROMO if promo else CreditKind.WIN,
        reference_transaction_id=_optional_text(document, "reference_transaction_uuid"),
        references=_references(document),
    )

    return _transaction(document, body, player, currency, session, round_id, operation)


def _rollback(document: dict[str, Any], body: bytes, amounts: Amounts) -> WalletRequest:
    player = _text(document, "user")
    transaction_id = _text(document, "transaction_uuid")
    session, currency = _session_currency(document)
    amounts.currencies.exponent(currency)
    round_id = _optional_text(document, "round")

    operation = WalletOperation(
        operation=Operation.ROLLBACK,
        transaction_id=transaction_id,
        reference_transaction_id=_text(document, "reference_transaction_uuid"),
    )

    return _transaction(document, body, player, currency, session, round_id, operation)


def _transaction(
    document: dict[str, Any],
    body: bytes,
    player: str,
    currency: str,
    session: str | None,
    round_id: str | None,
    operation: WalletOperation,
) -> WalletRequest:
    _flag(document, "is_aggregated")
    meta = document.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise WrongType("meta must be an object", field="meta")

    return WalletRequest(
        player=player,
        currency=currency,
        operations=(operation,),
        session_token=session,
        game=_optional_text(document, "game_code"),
        round_id=round_id,
        round_closed=_flag(document, "round_closed"),
        raw=body,
    )


_READERS: Mapping[str, Callable[[dict[str, Any], bytes, Amounts], WalletRequest]] = {
    "user/info": _user_info,
    "user/balance": _balance,
    "transaction/bet": _bet,
    "transaction/win": _win,
    "transaction/rollback": _rollback,
}
CALLBACK_PATHS = tuple(_READERS)


def _session_currency(document: Mapping[str, Any]) -> tuple[str, str]:
    token = _optional_text(document, "token")
    if token is None:
        raise UnreadableToken("token is required", field="token")
    session, currency = read_token(token)
    if currency is None:
        raise UnreadableToken("token carries no currency", field="token")

    return session, currency


def _session_for(
    document: Mapping[str, Any], currency: str, *, required: bool
) -> str | None:
    token = _optional_text(document, "token")
    if token is None:
        if required:
            raise UnreadableToken("token is required", field="token")
        return None
    session, session_currency = read_token(token)
    if session_currency is not None and session_currency != currency:
        raise CurrencyMismatch(
            f"currency {currency[:16]!r} is not the session's {session_currency!r}",
            currency=currency,
        )

    return session


def _references(document: Mapping[str, Any]) -> dict[str, str]:
    references = {}
    if _flag(document, "is_free"):
        references["is_free"] = "true"
    reward = _optional_text(document, "reward_uuid")
    if reward is not None:
        references["reward_uuid"] = reward

    return references


def _text(document: Mapping[str, Any], field: str) -> str:
    value = document.get(field)
    if value is None or value == "":
        raise BadRequest(f"{field} is required", field=field)
    if not isinstance(value, str):
        raise WrongType(f"{field} must be a string", field=field)

    return value


def _optional_text(document: Mapping[str, Any], field: str) -> str | None:
    if document.get(field) is None:
        return None

    return _text(document, field)


def _flag(document: Mapping[str, Any], field: str) -> bool:
    value = document.get(field, False)
    if value is None:
        return False
    if type(value) is not bool:
        raise WrongType(f"{field} must be a boolean", field=field)

    return value
