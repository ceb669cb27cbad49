"""The payments tables, and the one place a payment changes state.

`PaymentStore.apply` is the state machine's application. In one database
transaction it locks the payment's row (SQLite's write lock, PostgreSQL's
`FOR UPDATE`), records the provider's event id (a duplicate is answered as
such and changes nothing), moves the state only where `can_move` allows (a
late, repeated or foreign event is written to the history as ignored), and
with the move enqueues the casino's notification in the outbox and, with
the built-in wallet, the money movement the move implies. Nothing else
writes a payment's state.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import orjson

from contracts.money import CurrencyTable, Money
from contracts.payments import (
    INITIAL,
    NextAction,
    PaymentKind,
    PaymentMethod,
    PaymentRecord,
    PaymentState,
    can_move,
    is_final,
)
from gateway import clock
from gateway.db import Conflict, Database, Transaction

_COLUMNS: Final = (
    "id, kind, operator, player, amount, currency, method, country, reference,"
    " idempotency_key, fingerprint, request, provider, provider_reference, state,"
    " settled_amount, next_action, failure_code, failure_message,"
    " refund_requested_at, created_at, updated_at"
)
_SELECT: Final = f"SELECT {_COLUMNS} FROM payments"
_PLACES: Final = ", ".join("?" * len(_COLUMNS.split(",")))
_INSERT_HISTORY: Final = (
    "INSERT INTO payment_state_history (payment_id, from_state, to_state, outcome,"
    " source, event_id, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

# Movements of the built-in wallet, one of each per payment at most.
DEPOSIT: Final = "deposit"  # a succeeded deposit credits the player
REVERSAL: Final = "reversal"  # a refunded or reversed deposit takes it back
RESERVE: Final = "reserve"  # a requested payout debits the player at once
RELEASE: Final = "release"  # a failed, canceled or returned payout gives it back

_REVERSING = frozenset({PaymentState.REFUNDED, PaymentState.REVERSED})
_RELEASING = frozenset(
    {PaymentState.FAILED, PaymentState.CANCELED, PaymentState.RETURNED}
)


class Outcome(StrEnum):
    """What applying one change did."""

    MOVED = "moved"
    IGNORED = "ignored"  # not a move `can_move` allows; written to the history
    NOTED = "noted"  # no state change: a routing step, an answer recorded
    DUPLICATE = "duplicate"  # the provider's event id was seen before


@dataclass(frozen=True, slots=True)
class Payment:
    """One deposit or payout as the gateway stores it."""

    id: str
    kind: PaymentKind
    operator: str
    player: str
    amount: Money
    method: PaymentMethod
    country: str | None
    reference: str
    idempotency_key: str
    fingerprint: str
    request: Mapping[str, Any]
    provider: str | None
    provider_reference: str | None
    state: PaymentState
    settled_amount: int | None
    next_action: NextAction | None
    failure_code: str | None
    failure_message: str | None
    refund_requested_at: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def final(self) -> bool:
        """Whether no further state can follow the current one."""
        return is_final(self.kind, self.state)

    @property
    def settled(self) -> Money:
        """The amount that moved: what the provider reported, or the request's."""
        minor = (
            self.amount.minor if self.settled_amount is None else self.settled_amount
        )
        return Money(minor, self.amount.currency)

    def record(self) -> PaymentRecord:
        """Return what an adapter is told of the payment for refund and status."""
        return PaymentRecord(
            payment_id=self.id,
            kind=self.kind,
            state=self.state,
            amount=self.amount,
            provider_reference=self.provider_reference,
            player=f"{self.operator}:{self.player}",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class NewPayment:
    """A payment the operator API asks for, before it is stored."""

    kind: PaymentKind
    operator: str
    player: str
    amount: Money
    method: PaymentMethod
    country: str | None
    reference: str
    idempotency_key: str
    request: Mapping[str, Any]

    @property
    def fingerprint(self) -> str:
        """A digest of the request's content, compared on an idempotent replay."""
        content = orjson.dumps(
            {"kind": self.kind.value, **self.request}, option=orjson.OPT_SORT_KEYS
        )
        return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One event that may move a payment: from a webhook, an answer, the gateway.

    `instance` and `event_id` identify a provider's event, the dedup key;
    `source` says where it came from (`webhook`, `provider`, `status`, `api`,
    `gateway`). `amount` is what the event says moved, where it says so.
    """

    target: PaymentState
    source: str
    instance: str | None = None
    event_id: str | None = None
    reason: str = ""
    amount: Money | None = None
    provider_reference: str | None = None
    next_action: NextAction | None = None
    failure: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    """What one change did to one payment, and the payment after it."""

    outcome: Outcome
    payment: Payment
    movement: bool = False


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One row of a payment's state history."""

    sequence: int
    from_state: str | None
    to_state: str
    outcome: str
    source: str
    event_id: str | None
    reason: str
    at: str


@dataclass(frozen=True, slots=True)
class Movement:
    """One money movement of the built-in wallet that a payment implies."""

    id: int
    payment_id: str
    effect: str
    wanted: int
    operation: str
    ledger_key: str
    amount: int
    attempt: int
    state: str
    taken: int
    shortfall: int
    status: str | None


def new_payment_id() -> str:
    """Return a new gateway payment id, also the provider's merchant reference."""
    return f"pay_{secrets.token_hex(12)}"


def ledger_key(payment_id: str, effect: str, attempt: int = 0) -> str:
    """Return the ledger's transaction id of one movement of a payment."""
    return (
        f"{payment_id}:{effect}" if attempt == 0 else f"{payment_id}:{effect}-{attempt}"
    )


@dataclass
class PaymentStore:
    """Reads and writes the payments tables; `apply` moves states.

    `builtin` says balances live in the gateway, so moves enqueue money
    movements; `currencies` returns the table in force, for notifications.
    """

    db: Database
    builtin: bool
    currencies: Callable[[], CurrencyTable]
    on_enqueued: Callable[[], None] = field(default=lambda: None)

    @property
    def _lock(self) -> str:
        return " FOR UPDATE" if self.db.dialect == "postgresql" else ""

    async def claim(self, new: NewPayment) -> tuple[Payment, bool]:
        """Store a new payment under its idempotency key, or find the one there.

        Returns the payment and whether it is new. A payout with the built-in
        wallet is stored with its reserve movement, applied by the caller.
        """
        payment_id = new_payment_id()
        now = clock.to_text(clock.now())
        state = INITIAL[new.kind]
        try:
            async with self.db.transaction() as tx:
                await tx.run(
                    f"INSERT INTO payments ({_COLUMNS}) VALUES ({_PLACES})",
                    payment_id,
                    new.kind.value,
                    new.operator,
                    new.player,
                    new.amount.minor,
                    new.amount.currency,
                    new.method.value,
                    new.country,
                    new.reference,
                    new.idempotency_key,
                    new.fingerprint,
                    orjson.dumps(dict(new.request)).decode(),
                    None,
                    None,
                    state.value,
                    None,
                    None,
                    None,
                    None,
                    None,
                    now,
                    now,
                )
                await _history(
                    tx,
                    payment_id,
                    None,
                    state.value,
                    Outcome.MOVED,
                    "api",
                    now,
                    reason="requested by the operator",
                )
                if new.kind is PaymentKind.PAYOUT and self.builtin:
                    await _enqueue_movement(
                        tx, payment_id, RESERVE, "debit", new.amount.minor, now
                    )
        except Conflict:
            existing = await self.find_by_key(new.operator, new.idempotency_key)
            if existing is None:
                raise
            return existing, False

        stored = await self.get(payment_id)
        assert stored is not None  # written just above

        return stored, True

    async def get(self, payment_id: str) -> Payment | None:
        """Return a payment by its gateway id, or None."""
        row = await self.db.one(f"{_SELECT} WHERE id = ?", payment_id)
        return None if row is None else _payment(row)

    async def find_by_key(self, operator: str, key: str) -> Payment | None:
        """Return the operator's payment stored under an idempotency key."""
        row = await self.db.one(
            f"{_SELECT} WHERE operator = ? AND idempotency_key = ?", operator, key
        )
        return None if row is None else _payment(row)

    async def find_by_provider_reference(
        self, instance: str, reference: str
    ) -> Payment | None:
        """Return the payment a provider instance knows by its own reference."""
        row = await self.db.one(
            f"{_SELECT} WHERE provider = ? AND provider_reference = ?",
            instance,
            reference,
        )
        return None if row is None else _payment(row)

    async def take_provider(
        self, payment_id: str, instance: str, previous: str | None, reason: str
    ) -> bool:
        """Record the instance about to be asked; False when another took it.

        The instance is written before the call, so a payment whose outcome
        is unknown keeps the provider that may hold it.
        """
        now = clock.to_text(clock.now())
        async with self.db.transaction() as tx:
            guard = "provider IS NULL" if previous is None else "provider = ?"
            changed = await tx.run(
                f"UPDATE payments SET provider = ?, updated_at = ? WHERE id = ?"
                f" AND {guard} AND failure_code IS NULL",
                instance,
                now,
                payment_id,
                *(() if previous is None else (previous,)),
            )
            if changed:
                state = await _locked_state(tx, payment_id, self._lock)
                await _history(
                    tx,
                    payment_id,
                    state,
                    state,
                    Outcome.NOTED,
                    "gateway",
                    now,
                    reason=reason,
                )

        return bool(changed)

    async def note(self, payment_id: str, source: str, reason: str) -> None:
        """Write a history row that changes no state."""
        now = clock.to_text(clock.now())
        async with self.db.transaction() as tx:
            state = await _locked_state(tx, payment_id, self._lock)
            await _history(
                tx, payment_id, state, state, Outcome.NOTED, source, now, reason=reason
            )

    async def set_refund_requested(self, payment_id: str, requested: bool) -> bool:
        """Mark a refund as asked for (once), or clear the mark; return if changed."""
        now = clock.to_text(clock.now())
        async with self.db.transaction() as tx:
            if requested:
                changed = await tx.run(
                    "UPDATE payments SET refund_requested_at = ? WHERE id = ?"
                    " AND refund_requested_at IS NULL",
                    now,
                    payment_id,
                )
            else:
                changed = await tx.run(
                    "UPDATE payments SET refund_requested_at = NULL WHERE id = ?",
                    payment_id,
                )
        return bool(changed)

    async def apply(self, payment_id: str, change: Change) -> Applied:
        """Apply one change to a payment under its row lock; see the module doc."""
        now = clock.to_text(clock.now())
        async with self.db.transaction() as tx:
            row = await tx.one(f"{_SELECT} WHERE id = ?{self._lock}", payment_id)
            if row is None:
                raise LookupError(payment_id)
            payment = _payment(row)
            if change.event_id is not None and not await _first_sighting(
                tx, payment_id, change, now
            ):
                return Applied(Outcome.DUPLICATE, payment)

            outcome, reason = _judge(payment, change)
            await self._record_answer(tx, payment, change, now)
            if outcome is Outcome.MOVED:
                movement = await self._move(tx, payment, change, reason, now)
            else:
                movement = False
                await _history(
                    tx,
                    payment_id,
                    payment.state.value,
                    change.target.value,
                    outcome,
                    change.source,
                    now,
                    reason=reason,
                    event_id=change.event_id,
                )
            after = await tx.one(f"{_SELECT} WHERE id = ?", payment_id)
            assert after is not None  # locked above

        if outcome is Outcome.MOVED:
            self.on_enqueued()
        return Applied(outcome, _payment(after), movement)

    async def _record_answer(
        self, tx: Transaction, payment: Payment, change: Change, now: str
    ) -> None:
        # What a provider told about the payment is kept whatever the state
        # does, but a reference once known is never replaced.
        if change.provider_reference and payment.provider_reference is None:
            await tx.run(
                "UPDATE payments SET provider_reference = ?, updated_at = ?"
                " WHERE id = ?",
                change.provider_reference,
                now,
                payment.id,
            )
        if change.next_action is not None:
            await tx.run(
                "UPDATE payments SET next_action = ?, updated_at = ? WHERE id = ?",
                _action_text(change.next_action),
                now,
                payment.id,
            )

    async def _move(
        self, tx: Transaction, payment: Payment, change: Change, reason: str, now: str
    ) -> bool:
        settled = _settled(payment, change)
        failure = change.failure or (None, None)
        await tx.run(
            "UPDATE payments SET state = ?, settled_amount = ?,"
            " failure_code = COALESCE(?, failure_code),"
            " failure_message = COALESCE(?, failure_message), updated_at = ?"
            " WHERE id = ?",
            change.target.value,
            settled,
            failure[0],
            failure[1],
            now,
            payment.id,
        )
        sequence = await _history(
            tx,
            payment.id,
            payment.state.value,
            change.target.value,
            Outcome.MOVED,
            change.source,
            now,
            reason=reason,
            event_id=change.event_id,
        )
        moved = replace(payment, state=change.target, settled_amount=settled)
        await self._notify(tx, moved, payment.state, change, sequence, now)
        if not self.builtin:
            return False

        return await _enqueue_effect(tx, moved, payment.state, now)

    async def _notify(
        self,
        tx: Transaction,
        payment: Payment,
        previous: PaymentState,
        change: Change,
        sequence: int,
        now: str,
    ) -> None:
        notification_id = f"ntf_{secrets.token_hex(12)}"
        payload = notification(
            notification_id, payment, previous, change, sequence, now, self.currencies()
        )
        await tx.insert(
            "INSERT INTO outbox (notification_id, payment_id, operator, payload,"
            " attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            notification_id,
            payment.id,
            payment.operator,
            orjson.dumps(payload).decode(),
            0,
            now,
            now,
        )

    async def history(self, payment_id: str) -> list[HistoryEntry]:
        """Return every history row of a payment, oldest first."""
        rows = await self.db.all(
            "SELECT id, from_state, to_state, outcome, source, event_id, reason,"
            " created_at FROM payment_state_history WHERE payment_id = ? ORDER BY id",
            payment_id,
        )
        return [HistoryEntry(*row) for row in rows]

    async def movements(
        self, payment_id: str | None = None, *, pending: bool = False
    ) -> list[Movement]:
        """Return a payment's movements, or every pending one, in order."""
        where, params = [], []
        if payment_id is not None:
            where.append("payment_id = ?")
            params.append(payment_id)
        if pending:
            where.append("state = 'pending'")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self.db.all(
            "SELECT id, payment_id, effect, wanted, operation, ledger_key, amount,"
            " attempt, state, taken, shortfall, status FROM payment_movements"
            f"{clause} ORDER BY id",
            *params,
        )
        return [Movement(*row) for row in rows]


def notification(
    notification_id: str,
    payment: Payment,
    previous: PaymentState,
    change: Change,
    sequence: int,
    now: str,
    currencies: CurrencyTable,
) -> dict[str, Any]:
    """Return the casino's notification of one state change, as plain data."""
    return {
        "id": notification_id,
        "type": "payment.state_changed",
        "occurred_at": now,
        "sequence": sequence,
        "payment": {
            "id": payment.id,
            "kind": payment.kind.value,
            "operator": payment.operator,
            "player": payment.player,
            "reference": payment.reference,
            "amount": currencies.format(payment.amount),
            "settled_amount": currencies.format(payment.settled),
            "currency": payment.amount.currency,
            "method": payment.method.value,
            "provider": payment.provider,
            "provider_reference": change.provider_reference
            or payment.provider_reference,
            "state": payment.state.value,
            "previous_state": previous.value,
            "final": payment.final,
        },
        "reason": change.reason,
        "source": change.source,
    }


def _judge(payment: Payment, change: Change) -> tuple[Outcome, str]:
    if change.instance is not None and change.instance != payment.provider:
        return Outcome.IGNORED, (
            f"from {change.instance}, which does not hold the payment"
            f" ({payment.provider or 'none'} does)"
        )
    if change.target is payment.state and change.event_id is None:
        return Outcome.NOTED, change.reason or f"the provider says {change.target}"
    if change.target is payment.state:
        return Outcome.IGNORED, f"already {payment.state.value}"
    if not can_move(payment.kind, payment.state, change.target):
        return Outcome.IGNORED, (
            f"a {payment.kind.value} cannot move from {payment.state.value}"
            f" to {change.target.value}"
        )
    reason = change.reason
    reported = change.amount
    if reported is not None and change.target in _SETTLING:
        if reported.currency != payment.amount.currency:
            reason = _join(reason, f"amount in {reported.currency}, kept the request's")
        elif reported.minor != payment.amount.minor:
            reason = _join(
                reason, f"settled {reported.minor}, not {payment.amount.minor}"
            )

    return Outcome.MOVED, reason


_SETTLING = frozenset({PaymentState.SUCCEEDED})


def _settled(payment: Payment, change: Change) -> int | None:
    # A deposit credits what the provider says arrived, in its own currency,
    # never more than the gateway has seen reported; a payout moves what
    # the casino asked for.
    if payment.kind is not PaymentKind.DEPOSIT or change.target not in _SETTLING:
        return payment.settled_amount
    reported = change.amount
    if reported is not None and reported.currency == payment.amount.currency:
        return reported.minor
    return payment.amount.minor


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second


async def _history(
    tx: Transaction,
    payment_id: str,
    from_state: str | None,
    to_state: str,
    outcome: Outcome,
    source: str,
    now: str,
    *,
    reason: str = "",
    event_id: str | None = None,
) -> int:
    return await tx.insert(
        _INSERT_HISTORY,
        payment_id,
        from_state,
        to_state,
        outcome.value,
        source,
        event_id,
        reason,
        now,
    )


async def _first_sighting(
    tx: Transaction, payment_id: str, change: Change, now: str
) -> bool:
    inserted = await tx.run(
        "INSERT INTO payment_events (provider, event_id, payment_id, state,"
        " received_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (provider, event_id) DO NOTHING",
        change.instance or "",
        change.event_id,
        payment_id,
        change.target.value,
        now,
    )
    return inserted == 1


async def _locked_state(tx: Transaction, payment_id: str, lock: str) -> str:
    row = await tx.one(f"SELECT state FROM payments WHERE id = ?{lock}", payment_id)
    if row is None:
        raise LookupError(payment_id)
    return str(row[0])


async def _enqueue_effect(
    tx: Transaction, payment: Payment, previous: PaymentState, now: str
) -> bool:
    state = payment.state
    if payment.kind is PaymentKind.DEPOSIT and state is PaymentState.SUCCEEDED:
        return await _enqueue_movement(
            tx, payment.id, DEPOSIT, "credit", payment.settled.minor, now
        )
    if payment.kind is PaymentKind.DEPOSIT and state in _REVERSING:
        return await _enqueue_movement(
            tx, payment.id, REVERSAL, "rollback", payment.settled.minor, now
        )
    if payment.kind is PaymentKind.PAYOUT and state in _RELEASING:
        reserve = await tx.one(
            "SELECT state FROM payment_movements WHERE payment_id = ? AND effect = ?",
            payment.id,
            RESERVE,
        )
        # A reserve the ledger refused took nothing, so nothing is given back.
        if reserve is None or reserve[0] == "refused":
            return False
        return await _enqueue_movement(
            tx, payment.id, RELEASE, "rollback", payment.amount.minor, now
        )
    return False


async def _enqueue_movement(
    tx: Transaction, payment_id: str, effect: str, operation: str, amount: int, now: str
) -> bool:
    inserted = await tx.run(
        "INSERT INTO payment_movements (payment_id, effect, wanted, operation,"
        " ledger_key, amount, attempt, state, taken, shortfall, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (payment_id, effect) DO NOTHING",
        payment_id,
        effect,
        amount,
        operation,
        ledger_key(payment_id, effect),
        amount,
        0,
        "pending",
        0,
        0,
        now,
    )
    return inserted == 1


def _action_text(action: NextAction) -> str:
    return orjson.dumps(
        {"kind": action.kind, "value": action.value, "details": dict(action.details)}
    ).decode()


def _action(text: str | None) -> NextAction | None:
    if not text:
        return None
    data = orjson.loads(text)
    return NextAction(data["kind"], data["value"], data.get("details") or {})


def _payment(row: tuple[Any, ...]) -> Payment:
    return Payment(
        id=row[0],
        kind=PaymentKind(row[1]),
        operator=row[2],
        player=row[3],
        amount=Money(int(row[4]), row[5]),
        method=PaymentMethod(row[6]),
        country=row[7],
        reference=row[8],
        idempotency_key=row[9],
        fingerprint=row[10],
        request=orjson.loads(row[11]),
        provider=row[12],
        provider_reference=row[13],
        state=PaymentState(row[14]),
        settled_amount=None if row[15] is None else int(row[15]),
        next_action=_action(row[16]),
        failure_code=row[17],
        failure_message=row[18],
        refund_requested_at=row[19],
        created_at=clock.from_text(row[20]),
        updated_at=clock.from_text(row[21]),
    )
