"""The built-in wallet's side of payments: movements applied once, whoever applies.

A state move writes its movement in the same transaction; the ledger then
applies it under a key derived from the payment, so a crash before that,
a sweep after it, and settlers racing each other all end with the money
moved exactly once.
"""

from __future__ import annotations

import asyncio

from contracts.money import CurrencyTable, Money
from contracts.payments import PaymentKind, PaymentMethod, PaymentState
from contracts.wallet import Operation
from gateway.db import Database
from gateway.ledger import Ledger
from gateway.payments.funds import Funds, ledger_provider
from gateway.payments.store import Change, NewPayment, PaymentStore


def _new(kind: PaymentKind, key: str, minor: int = 2500) -> NewPayment:
    return NewPayment(
        kind=kind,
        operator="casino-a",
        player="player-1",
        amount=Money(minor, "EUR"),
        method=PaymentMethod.CARD,
        country=None,
        reference=key,
        idempotency_key=key,
        request={"reference": key},
    )


async def _balance(ledger: Ledger) -> int | None:
    return await ledger.balance("casino-a", "player-1", "EUR")


async def test_a_movement_left_pending_by_a_crash_is_applied_once(
    db: Database, ledger: Ledger
) -> None:
    """Settlers racing over a movement nobody applied yet credit it exactly once."""
    store = PaymentStore(db, builtin=True, currencies=CurrencyTable)
    funds = Funds(db, ledger, store)
    payment, _ = await store.claim(_new(PaymentKind.DEPOSIT, "k"))
    applied = await store.apply(
        payment.id, Change(target=PaymentState.SUCCEEDED, source="webhook")
    )
    assert applied.movement
    assert await _balance(ledger) is None

    await asyncio.gather(*(funds.settle(applied.payment) for _ in range(5)))
    await funds.settle(applied.payment)

    assert await _balance(ledger) == 2500
    rows = await db.all(
        "SELECT provider_transaction_id FROM transactions WHERE provider = ?",
        ledger_provider("casino-a"),
    )
    assert [row[0] for row in rows] == [f"{payment.id}:deposit"]


async def test_a_reversal_of_a_credit_never_applied_moves_nothing(
    db: Database, ledger: Ledger
) -> None:
    """A deposit reversed before its credit could apply takes nothing back."""
    store = PaymentStore(db, builtin=True, currencies=CurrencyTable)
    funds = Funds(db, ledger, store)
    await ledger.open_account("casino-a", "player-1", "EUR")
    payment, _ = await store.claim(_new(PaymentKind.DEPOSIT, "k", minor=10**6))
    async with db.transaction() as tx:
        await tx.run(
            "UPDATE balances SET amount = ? WHERE currency = 'EUR'", 2**63 - 100
        )
    await store.apply(payment.id, Change(target=PaymentState.SUCCEEDED, source="x"))
    await funds.settle(payment)
    await store.apply(payment.id, Change(target=PaymentState.REVERSED, source="x"))

    settled = await funds.settle(payment)

    movements = {m.effect: m for m in await store.movements(payment.id)}
    assert movements["deposit"].state == "refused"
    assert [m.state for m in settled] == ["skipped"]
    assert await _balance(ledger) == 2**63 - 100


async def test_a_payout_reserve_is_released_once_however_it_ends(
    db: Database, ledger: Ledger
) -> None:
    """A failed payout's reserve comes back once even when the release races."""
    store = PaymentStore(db, builtin=True, currencies=CurrencyTable)
    funds = Funds(db, ledger, store)
    await ledger.transfer(
        "casino-a",
        "player-1",
        operation=Operation.CREDIT,
        amount=5000,
        currency="EUR",
        reference="fund",
    )
    payment, _ = await store.claim(_new(PaymentKind.PAYOUT, "p", minor=3000))
    await funds.settle(payment)
    assert await _balance(ledger) == 2000

    await store.apply(payment.id, Change(target=PaymentState.FAILED, source="x"))
    await asyncio.gather(*(funds.settle(payment) for _ in range(4)))

    assert await _balance(ledger) == 5000
