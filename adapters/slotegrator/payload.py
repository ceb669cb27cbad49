"""Reading the aggregator's form-encoded callbacks into normalized wallet requests.

The signature has already been verified when these functions run; they check
shapes and types only. Every refusal is a `BadRequest` subclass, so the
adapter renders it as the protocol's error answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from adapters.slotegrator.signing import Pair
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

ACTIONS = frozenset({"balance", "bet", "win", "refund", "rollback"})

# A bet's `type`: a plain bet, a tip to a live dealer, or a free-spin bet.
BET_TYPES = frozenset({"bet", "tip", "freespin"})

# A win's `type` and the kind of credit it is reported as.
WIN_KINDS: Mapping[str, CreditKind] = {
    "win": CreditKind.WIN,
    "freespin": CreditKind.WIN,
    "jackpot": CreditKind.JACKPOT,
}

# What a rollback may undo: the list names the bets and wins of a round.
ROLLBACK_ACTIONS: Mapping[str, Operation] = {
    "bet": Operation.DEBIT,
    "win": Operation.CREDIT,
}

FINISHED = {"1": True, "true": True, "0": False, "false": False}

LIST_NAME = "rollback_transactions"
_LIST_KEY = re.compile(r"rollback_transactions\[([0-9]{1,4})\]\[([a-z_]{1,32})\]")
_MAX_ID = 128


@dataclass(frozen=True, slots=True)
class Form:
    """A callback body's fields: scalars by name, and the rollback list."""

    fields: Mapping[str, str]
    rollback_list: tuple[Mapping[str, str], ...]

    @property
    def action(self) -> str:
        """The callback's `action`, checked against the protocol's actions."""
        action = _text(self.fields, "action")
        if action not in ACTIONS:
            raise UnknownOperation(f"unknown action {action[:40]!r}", action=action)

        return action


def read_form(pairs: Sequence[Pair]) -> Form:
    """Decode a verified body's pairs; a repeated field is refused."""
    fields: dict[str, str] = {}
    members: dict[int, dict[str, str]] = {}
    for raw_key, raw_value in pairs:
        key, value = _decode(raw_key), _decode(raw_value)
        match = _LIST_KEY.fullmatch(key)
        if match is not None:
            index, name = int(match[1]), match[2]
            target = members.setdefault(index, {})
        elif key.startswith(LIST_NAME):
            raise BadRequest(f"{LIST_NAME} entries are [index][field]", field=key)
        else:
            name, target = key, fields
        if name in target:
            raise BadRequest(f"field {key[:64]!r} is repeated", field=key)
        target[name] = value

    if sorted(members) != list(range(len(members))):
        raise BadRequest(f"{LIST_NAME} indices must run from 0", field=LIST_NAME)

    return Form(fields, tuple(members[index] for index in sorted(members)))


def read_request(form: Form, body: bytes, currencies: CurrencyTable) -> WalletRequest:
    """Read a verified callback into the wallet request its action asks for."""
    action = form.action
    fields = form.fields
    player = _text(fields, "player_id")
    currency = _text(fields, "currency")
    currencies.exponent(currency)
    operations: tuple[WalletOperation, ...] = ()
    finished = False

    if action == "bet":
        operations = (_bet(fields, currency, currencies),)
        finished = _finished(fields)
    elif action == "win":
        operations = (_win(fields, currency, currencies),)
        finished = _finished(fields)
    elif action == "refund":
        operations = (_refund(fields, currency, currencies),)
    elif action == "rollback":
        operations = _rollback(form, currency, currencies)

    return WalletRequest(
        player=player,
        currency=currency,
        operations=operations,
        session_token=_optional_text(fields, "session_id"),
        game=_optional_text(fields, "game_uuid"),
        round_id=_optional_text(fields, "round_id"),
        round_closed=finished,
        raw=body,
    )


def _bet(
    fields: Mapping[str, str], currency: str, currencies: CurrencyTable
) -> WalletOperation:
    kind = fields.get("type") or "bet"
    if kind not in BET_TYPES:
        raise UnknownOperation(f"unknown bet type {kind[:40]!r}", type=kind)

    # A bet must belong to a launched session, so the ledger can check it.
    _text(fields, "session_id")

    return WalletOperation(
        operation=Operation.DEBIT,
        transaction_id=_id(fields, "transaction_id"),
        amount=_minor_units(fields, "amount", currency, currencies),
        references=_references(fields),
    )


def _win(
    fields: Mapping[str, str], currency: str, currencies: CurrencyTable
) -> WalletOperation:
    kind = fields.get("type") or "win"
    credit_kind = WIN_KINDS.get(kind)
    if credit_kind is None:
        raise UnknownOperation(f"unknown win type {kind[:40]!r}", type=kind)

    return WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=_id(fields, "transaction_id"),
        amount=_minor_units(fields, "amount", currency, currencies),
        credit_kind=credit_kind,
        references=_references(fields),
    )


def _refund(
    fields: Mapping[str, str], currency: str, currencies: CurrencyTable
) -> WalletOperation:
    # The ledger returns the bet's own amount; the refund's amount is checked
    # and kept, so a resend with another amount is a mismatch, not a replay.
    return WalletOperation(
        operation=Operation.ROLLBACK,
        transaction_id=_id(fields, "transaction_id"),
        amount=_minor_units(fields, "amount", currency, currencies),
        reference_transaction_id=_id(fields, "bet_transaction_id"),
    )


def _rollback(
    form: Form, currency: str, currencies: CurrencyTable
) -> tuple[WalletOperation, ...]:
    rollback_id = _id(form.fields, "transaction_id")
    if not form.rollback_list:
        raise BadRequest(f"{LIST_NAME} is empty", field=LIST_NAME)

    operations = []
    for member in form.rollback_list:
        action = _text(member, "action")
        if action not in ROLLBACK_ACTIONS:
            raise UnknownOperation(
                f"cannot roll back a {action[:40]!r}", field=LIST_NAME
            )
        undone = _id(member, "transaction_id")
        amount = 0
        if member.get("amount"):
            amount = _minor_units(member, "amount", currency, currencies)
        operations.append(
            WalletOperation(
                operation=Operation.ROLLBACK,
                transaction_id=rollback_transaction_id(rollback_id, undone),
                amount=amount,
                reference_transaction_id=undone,
            )
        )

    return tuple(operations)


def rollback_transaction_id(rollback_id: str, undone_id: str) -> str:
    """Return the ledger's id for undoing one listed transaction.

    Derived from the rollback's own id and the undone one, not from the
    position in the list, so a resend that lists them in another order is
    still a replay.
    """
    return f"{rollback_id}:{undone_id}"


def _references(fields: Mapping[str, str]) -> dict[str, str]:
    freespin = _optional_text(fields, "freespin_id")

    return {"freespin_id": freespin} if freespin is not None else {}


def _finished(fields: Mapping[str, str]) -> bool:
    value = fields.get("finished")
    if value is None or value == "":
        return False
    finished = FINISHED.get(value.lower())
    if finished is None:
        raise BadRequest("finished must be 1 or 0", field="finished")

    return finished


def _minor_units(
    fields: Mapping[str, str], field: str, currency: str, currencies: CurrencyTable
) -> int:
    value = fields.get(field)
    if value is None:
        raise AmountError(f"{field} is required", field=field)

    return currencies.parse(value, currency).minor


def _id(fields: Mapping[str, str], field: str) -> str:
    value = _text(fields, field)
    if len(value) > _MAX_ID:
        raise BadRequest(f"{field} is longer than {_MAX_ID} characters", field=field)

    return value


def _text(fields: Mapping[str, str], field: str) -> str:
    value = fields.get(field)
    if not value:
        raise BadRequest(f"{field} must be a non-empty string", field=field)

    return value


def _optional_text(fields: Mapping[str, str], field: str) -> str | None:
    return fields.get(field) or None


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest("a field is not UTF-8") from error
