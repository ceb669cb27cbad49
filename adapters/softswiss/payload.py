"""Reading the provider's native callback bodies into normalized wallet requests.

The body's signature has already been verified when these functions run; they
check shapes and types only. Every refusal is a `BadRequest` subclass, so the
adapter renders it as the protocol's 400 answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

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

# Which action types each callback path may carry.
PATH_ACTIONS: Mapping[str, frozenset[str]] = {
    "play": frozenset({"bet", "win"}),
    "rollback": frozenset({"rollback"}),
}


def read_request(path: str, body: bytes, currencies: CurrencyTable) -> WalletRequest:
    """Read a `/play` or `/rollback` body into the wallet request it asks for."""
    allowed = PATH_ACTIONS.get(path)
    if allowed is None:
        raise UnknownOperation(f"no callback at {path[:40]!r}", path=path)

    envelope = _load_object(body)
    player = _text(envelope, "user_id")
    currency = _text(envelope, "currency")
    currencies.exponent(currency)
    game = _optional_text(envelope, "game")
    round_id = _optional_text(envelope, "game_id")
    finished = envelope.get("finished", False)
    if type(finished) is not bool:
        raise BadRequest("finished must be a boolean", field="finished")

    operations = tuple(_operation(action, allowed) for action in _actions(envelope))
    if (operations or finished) and round_id is None:
        raise BadRequest("game_id (the round id) is required", field="game_id")

    return WalletRequest(
        player=player,
        currency=currency,
        operations=operations,
        game=game,
        round_id=round_id,
        round_closed=finished,
        raw=body,
    )


def _load_object(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest("body is not valid JSON") from error
    if not isinstance(document, dict):
        raise BadRequest("body must be a JSON object")

    return document


def _actions(envelope: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    actions = envelope.get("actions")
    if actions is None:
        return []
    if not isinstance(actions, list):
        raise BadRequest("actions must be a list", field="actions")
    for action in actions:
        if not isinstance(action, dict):
            raise BadRequest("each action must be an object", field="actions")

    return actions


def _operation(action: Mapping[str, Any], allowed: frozenset[str]) -> WalletOperation:
    kind = _text(action, "action")
    if kind not in allowed:
        raise UnknownOperation(f"unknown action {kind[:40]!r}", action=kind)
    transaction_id = _text(action, "action_id")

    if kind == "rollback":
        return WalletOperation(
            operation=Operation.ROLLBACK,
            transaction_id=transaction_id,
            reference_transaction_id=_text(action, "original_action_id"),
        )

    amount = _minor_units(action)
    if kind == "bet":
        return WalletOperation(
            operation=Operation.DEBIT, transaction_id=transaction_id, amount=amount
        )

    return WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=transaction_id,
        amount=amount,
        credit_kind=CreditKind.WIN,
    )


def _minor_units(action: Mapping[str, Any]) -> int:
    amount = action.get("amount")

    # bool is a subclass of int, and a float would have to be rounded: both go.
    if type(amount) is not int:
        raise AmountError(
            f"amount must be an integer of minor units, not {amount!r:.40}",
            action_id=action.get("action_id"),
        )
    if amount < 0:
        raise AmountError("negative amount", action_id=action.get("action_id"))

    return amount


def _text(document: Mapping[str, Any], field: str) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{field} must be a non-empty string", field=field)

    return value


def _optional_text(document: Mapping[str, Any], field: str) -> str | None:
    if document.get(field) is None:
        return None

    return _text(document, field)
