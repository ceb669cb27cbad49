"""The payment state machines: the contract's table, and the store applying it.

Every pair of states is checked twice: `can_move` against the machines as
documented (written out here independently), and the store against
`can_move` on a real database of each backend, where a refused move must
leave the state, the outbox and the money alone and be written to the
history as ignored.
"""

from __future__ import annotations

import asyncio
from itertools import product

import pytest

from contracts.money import CurrencyTable, Money
from contracts.payments import (
    INITIAL,
    PaymentKind,
    PaymentMethod,
    PaymentState,
    can_move,
    is_final,
)
from gateway.db import Database
from gateway.payments.store import Change, NewPayment, Outcome, PaymentStore

S = PaymentState
DEPOSIT_STATES = (
    S.CREATED,
    S.REQUIRES_ACTION,
    S.PENDING,
    S.AUTHORIZED,
    S.SUCCEEDED,
    S.FAILED,
    S.CANCELED,
    S.EXPIRED,
    S.REFUNDED,
    S.REVERSED,
)
PAYOUT_STATES = (
    S.REQUESTED,
    S.PENDING_APPROVAL,
    S.PROCESSING,
    S.PAID,
    S.FAILED,
    S.CANCELED,
    S.RETURNED,
)
_DEPOSIT_ENDINGS = {S.FAILED, S.CANCELED, S.EXPIRED}
_DEPOSIT_PATH = (S.CREATED, S.REQUIRES_ACTION, S.PENDING, S.AUTHORIZED, S.SUCCEEDED)


def _deposit_allows(current: PaymentState, target: PaymentState) -> bool:
    if current in _DEPOSIT_PATH and current is not S.SUCCEEDED:
        later = _DEPOSIT_PATH[_DEPOSIT_PATH.index(current) + 1 :]
        return target in later or target in _DEPOSIT_ENDINGS
    return current is S.SUCCEEDED and target in (S.REFUNDED, S.REVERSED)


def _payout_allows(current: PaymentState, target: PaymentState) -> bool:
    allowed = {
        S.REQUESTED: {S.PENDING_APPROVAL, S.PROCESSING, S.PAID, S.FAILED, S.CANCELED},
        S.PENDING_APPROVAL: {S.PROCESSING, S.PAID, S.FAILED, S.CANCELED},
        S.PROCESSING: {S.PAID, S.FAILED},
        S.PAID: {S.RETURNED},
    }
    return target in allowed.get(current, set())


EXPECTED = {PaymentKind.DEPOSIT: _deposit_allows, PaymentKind.PAYOUT: _payout_allows}
ALL_PAIRS = [
    (kind, current, target)
    for kind in PaymentKind
    for current, target in product(PaymentState, repeat=2)
]


@pytest.mark.parametrize(("kind", "current", "target"), ALL_PAIRS)
def test_can_move_is_the_documented_machine(
    kind: PaymentKind, current: PaymentState, target: PaymentState
) -> None:
    """`can_move` allows exactly the documented forward moves of each machine."""
    assert can_move(kind, current, target) == EXPECTED[kind](current, target)


@pytest.mark.parametrize("kind", list(PaymentKind))
def test_finals_have_no_way_out(kind: PaymentKind) -> None:
    """A final state allows no move at all, and every machine reaches one."""
    states = DEPOSIT_STATES if kind is PaymentKind.DEPOSIT else PAYOUT_STATES
    for state in states:
        if is_final(kind, state):
            assert not any(can_move(kind, state, other) for other in PaymentState)
    assert any(is_final(kind, state) for state in states)


def _store(db: Database) -> PaymentStore:
    return PaymentStore(db, builtin=False, currencies=CurrencyTable)


async def _payment_in(
    store: PaymentStore, kind: PaymentKind, state: PaymentState, key: str
) -> str:
    new = NewPayment(
        kind=kind,
        operator="casino-a",
        player="player-1",
        amount=Money(1000, "EUR"),
        method=PaymentMethod.CARD,
        country="DE",
        reference=key,
        idempotency_key=key,
        request={"reference": key},
    )
    payment, fresh = await store.claim(new)
    assert fresh
    async with store.db.transaction() as tx:
        await tx.run(
            "UPDATE payments SET state = ?, provider = ? WHERE id = ?",
            state.value,
            "fake-a",
            payment.id,
        )
    return payment.id


async def _outbox_rows(db: Database, payment_id: str) -> int:
    row = await db.one("SELECT count(*) FROM outbox WHERE payment_id = ?", payment_id)
    assert row is not None
    return int(row[0])


STARTS = [(PaymentKind.DEPOSIT, s) for s in DEPOSIT_STATES] + [
    (PaymentKind.PAYOUT, s) for s in PAYOUT_STATES
]


@pytest.mark.parametrize(("kind", "current"), STARTS)
async def test_store_moves_exactly_where_can_move_allows(
    db: Database, kind: PaymentKind, current: PaymentState
) -> None:
    """From each state, the store moves to every target `can_move` allows, only."""
    store = _store(db)
    for number, target in enumerate(PaymentState):
        payment_id = await _payment_in(store, kind, current, f"k-{number}")
        applied = await store.apply(
            payment_id,
            Change(
                target=target,
                source="webhook",
                instance="fake-a",
                event_id=f"e-{number}",
            ),
        )

        allowed = can_move(kind, current, target)
        assert applied.outcome is (Outcome.MOVED if allowed else Outcome.IGNORED)
        assert applied.payment.state is (target if allowed else current)
        assert await _outbox_rows(db, payment_id) == (1 if allowed else 0)
        last = (await store.history(payment_id))[-1]
        assert (last.from_state, last.to_state) == (current.value, target.value)
        assert last.outcome == applied.outcome.value


async def test_a_repeated_event_changes_nothing(db: Database) -> None:
    """An event id seen before is a duplicate: no history, no outbox, no move."""
    store = _store(db)
    payment_id = await _payment_in(store, PaymentKind.DEPOSIT, S.PENDING, "k")
    change = Change(
        target=S.SUCCEEDED, source="webhook", instance="fake-a", event_id="e-1"
    )

    first = await store.apply(payment_id, change)
    history = await store.history(payment_id)
    second = await store.apply(payment_id, change)

    assert first.outcome is Outcome.MOVED
    assert second.outcome is Outcome.DUPLICATE
    assert await store.history(payment_id) == history
    assert await _outbox_rows(db, payment_id) == 1


async def test_a_late_event_never_moves_backwards(db: Database) -> None:
    """A `pending` arriving after `succeeded` is recorded as ignored, not applied."""
    store = _store(db)
    payment_id = await _payment_in(store, PaymentKind.DEPOSIT, S.CREATED, "k")

    for event_id, state in (("e-2", S.SUCCEEDED), ("e-1", S.PENDING)):
        await store.apply(
            payment_id,
            Change(
                target=state, source="webhook", instance="fake-a", event_id=event_id
            ),
        )

    payment = await store.get(payment_id)
    assert payment is not None and payment.state is S.SUCCEEDED
    outcomes = [(h.to_state, h.outcome) for h in await store.history(payment_id)]
    assert outcomes[-2:] == [("succeeded", "moved"), ("pending", "ignored")]


async def test_an_event_from_another_instance_is_ignored(db: Database) -> None:
    """An instance that does not hold the payment cannot move it."""
    store = _store(db)
    payment_id = await _payment_in(store, PaymentKind.DEPOSIT, S.PENDING, "k")

    applied = await store.apply(
        payment_id,
        Change(target=S.SUCCEEDED, source="webhook", instance="fake-b", event_id="x"),
    )

    assert applied.outcome is Outcome.IGNORED
    assert applied.payment.state is S.PENDING
    assert "does not hold" in (await store.history(payment_id))[-1].reason


async def test_concurrent_events_move_a_payment_once(db: Database) -> None:
    """Many different events racing from one state: one move, the rest ignored."""
    store = _store(db)
    payment_id = await _payment_in(store, PaymentKind.DEPOSIT, S.AUTHORIZED, "k")
    targets = [S.SUCCEEDED, S.FAILED, S.CANCELED, S.EXPIRED] * 5

    results = await asyncio.gather(
        *(
            store.apply(
                payment_id,
                Change(
                    target=target, source="webhook", instance="fake-a", event_id=f"e{i}"
                ),
            )
            for i, target in enumerate(targets)
        )
    )

    assert sum(r.outcome is Outcome.MOVED for r in results) == 1
    assert await _outbox_rows(db, payment_id) == 1


def test_initial_states_start_each_machine() -> None:
    """A deposit starts created and a payout requested, and neither is final."""
    assert INITIAL[PaymentKind.DEPOSIT] is S.CREATED
    assert INITIAL[PaymentKind.PAYOUT] is S.REQUESTED
    assert not any(is_final(kind, INITIAL[kind]) for kind in PaymentKind)
