"""The built-in wallet's side of a payment: movements applied through the ledger.

A state move that implies money writes a movement row in the same
transaction (`gateway.payments.store`); this module then applies it with
`Ledger.apply` under the reserved provider name `payments/{operator}`, which
no provider instance can take (instance names have no `/`), with the
transaction id `{payment id}:{effect}`. The ledger's idempotency makes each
movement happen once, whoever applies it and however often: the request
that moved the state, a concurrent duplicate webhook, or the background
sweep after a crash.

- deposit: a succeeded deposit credits what arrived.
- reversal: a refunded or reversed deposit is taken back by rolling that
  credit back. Balances never go negative: when the player has already
  spent part of it, what is left is taken with a debit and the rest is
  recorded as the movement's `shortfall`, flagged for the operator. Each
  such debit's amount and key are written before it is sent, so a retry
  after a crash repeats that debit rather than choosing again.
- reserve: a requested payout debits the player at once, so the money
  cannot be played while the provider pays it; a refusal (insufficient
  funds, a blocked or unknown player) fails the payout.
- release: a failed, canceled or returned payout rolls the reserve back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import structlog

from contracts.wallet import (
    CreditKind,
    Operation,
    Profile,
    Status,
    WalletOperation,
    WalletRequest,
)
from gateway import clock
from gateway.db import Database
from gateway.ledger import Ledger, player_ref
from gateway.payments.store import (
    DEPOSIT,
    RESERVE,
    REVERSAL,
    Movement,
    Payment,
    PaymentStore,
    ledger_key,
)

log = structlog.get_logger(__name__)

PAYMENTS_PROFILE: Final = Profile(
    unknown_rollback=Status.OK, credit_without_debit=True, reverse_settled=True
)
PARTIAL_ATTEMPTS: Final = 3

APPLIED: Final = "applied"
SHORTFALL: Final = "shortfall"
REFUSED: Final = "refused"
SKIPPED: Final = "skipped"  # nothing to move: the credit it reverses never applied


def ledger_provider(operator: str) -> str:
    """Return the ledger's provider name for one operator's payments."""
    return f"payments/{operator}"


@dataclass
class Funds:
    """Applies the pending movements of payments through the ledger."""

    db: Database
    ledger: Ledger
    store: PaymentStore

    async def settle(self, payment: Payment) -> list[Movement]:
        """Apply a payment's pending movements in order; return them as they end."""
        settled = []
        for movement in await self.store.movements(payment.id, pending=True):
            settled.append(await self._settle(payment, movement))

        return settled

    async def _settle(self, payment: Payment, movement: Movement) -> Movement:
        if movement.effect == REVERSAL and not await self._credited(payment):
            return await self._finish(movement, SKIPPED, 0, None)
        if movement.effect == DEPOSIT:
            await self.ledger.open_account(
                payment.operator, payment.player, payment.amount.currency
            )

        for _ in range(PARTIAL_ATTEMPTS + 1):
            outcome = await self.ledger.apply(
                ledger_provider(payment.operator),
                PAYMENTS_PROFILE,
                _request(payment, movement),
            )
            if outcome.status is Status.OK:
                return await self._finish(movement, APPLIED, movement.amount, None)
            if movement.effect != REVERSAL:
                return await self._finish(movement, REFUSED, 0, outcome.status)
            if outcome.status is not Status.INSUFFICIENT_FUNDS:
                return await self._finish(movement, SHORTFALL, 0, outcome.status)

            available = await self.ledger.balance(
                payment.operator, payment.player, payment.amount.currency
            )
            if not available or movement.attempt >= PARTIAL_ATTEMPTS:
                return await self._finish(movement, SHORTFALL, 0, outcome.status)
            movement = await self._next_attempt(
                movement, min(available, movement.wanted)
            )
            if movement.state != "pending":
                return movement

        return await self._finish(movement, SHORTFALL, 0, Status.INSUFFICIENT_FUNDS)

    async def _credited(self, payment: Payment) -> bool:
        movements = await self.store.movements(payment.id)
        return any(m.effect == DEPOSIT and m.state == APPLIED for m in movements)

    async def _next_attempt(self, movement: Movement, amount: int) -> Movement:
        # The amount and key are written before the debit is sent: a retry
        # after a crash sends this same debit again, which the ledger replays.
        attempt = movement.attempt + 1
        async with self.db.transaction() as tx:
            await tx.run(
                "UPDATE payment_movements SET attempt = ?, operation = ?,"
                " ledger_key = ?, amount = ? WHERE id = ? AND attempt = ?"
                " AND state = 'pending'",
                attempt,
                Operation.DEBIT.value,
                ledger_key(movement.payment_id, movement.effect, attempt),
                amount,
                movement.id,
                movement.attempt,
            )

        return await self._reread(movement)

    async def _finish(
        self, movement: Movement, state: str, taken: int, status: Status | None
    ) -> Movement:
        shortfall = movement.wanted - taken if state == SHORTFALL else 0
        if state == APPLIED and movement.effect == REVERSAL:
            shortfall = movement.wanted - taken
            state = SHORTFALL if shortfall else APPLIED
        async with self.db.transaction() as tx:
            await tx.run(
                "UPDATE payment_movements SET state = ?, taken = ?, shortfall = ?,"
                " status = ?, settled_at = ? WHERE id = ? AND attempt = ?"
                " AND state = 'pending'",
                state,
                taken,
                shortfall,
                None if status is None else status.value,
                clock.to_text(clock.now()),
                movement.id,
                movement.attempt,
            )
        finished = await self._reread(movement)
        _log(finished)

        return finished

    async def _reread(self, movement: Movement) -> Movement:
        rows = await self.store.movements(movement.payment_id)
        return next(m for m in rows if m.id == movement.id)


def _request(payment: Payment, movement: Movement) -> WalletRequest:
    operation = Operation(movement.operation)
    reference = None
    if operation is Operation.ROLLBACK:
        undone = RESERVE if movement.effect != REVERSAL else DEPOSIT
        reference = ledger_key(payment.id, undone)
    credit_kind = CreditKind.ADJUSTMENT if operation is Operation.CREDIT else None

    return WalletRequest(
        player=player_ref(payment.operator, payment.player),
        currency=payment.amount.currency,
        operations=(
            WalletOperation(
                operation=operation,
                transaction_id=movement.ledger_key,
                amount=movement.amount,
                credit_kind=credit_kind,
                reference_transaction_id=reference,
                references={"payment": payment.id, "effect": movement.effect},
            ),
        ),
        raw=f'{{"payment":"{payment.id}","effect":"{movement.effect}"}}'.encode(),
    )


def _log(movement: Movement) -> None:
    fields = {
        "payment_id": movement.payment_id,
        "effect": movement.effect,
        "state": movement.state,
        "taken": movement.taken,
        "shortfall": movement.shortfall,
        "status": movement.status,
    }
    if movement.state == SHORTFALL:
        log.warning("payment.funds.shortfall", **fields)
    elif movement.state == REFUSED:
        log.info("payment.funds.refused", **fields)
    else:
        log.info("payment.funds.settled", **fields)
