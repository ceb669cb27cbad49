"""Settling the ledger's operations with the casino's own wallet.

In operator wallet mode the ledger checks every rule and records each money
movement as pending; this module then sends it to the casino's wallet with
the idempotency key of its ledger row and records what the wallet answered.

- An answer that never came (past the deadline, a failure, an unsigned
  answer) leaves the row pending and the provider is told to retry. The row
  is then resolved exactly once: by the provider's retry, which sends the
  same key again; by the provider's rollback, which the wallet applies or
  remembers; or by `reconcile`, which asks the wallet for the key's state.
- A refusal (insufficient funds, a blocked player...) removes the refused
  row and the request's later ones, and undoes the request's earlier debits
  and credits at the wallet, so a refused request moves nothing. A rollback
  the wallet already accepted stays accepted.
- A round the request closes is closed only once every operation settled.

Requests of one player are kept in order within a process by the ledger's
lock; across processes the casino's wallet is the authority on the balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import structlog

from contracts.money import MAX_MINOR
from contracts.wallet import (
    CreditKind,
    Operation,
    OperationOutcome,
    Status,
    WalletOperation,
    WalletOutcome,
    WalletRequest,
)
from gateway import clock
from gateway.db import Database
from gateway.ledger import (
    APPLIED,
    CLOSE_ROUND,
    FENCING,
    PENDING,
    ROLLED_BACK,
    UNDOING,
    Pending,
    split_player_ref,
    wallet_key,
)
from gateway.metrics import wallet_call
from gateway.operator_wallet import (
    OperatorWalletClient,
    TransactionState,
    WalletAnswer,
    WalletRejected,
    WalletStatus,
    WalletUnavailable,
)

log = structlog.get_logger(__name__)

_REFUSALS = {
    WalletStatus.INSUFFICIENT_FUNDS: Status.INSUFFICIENT_FUNDS,
    WalletStatus.UNKNOWN_PLAYER: Status.UNKNOWN_PLAYER,
    WalletStatus.PLAYER_BLOCKED: Status.PLAYER_BLOCKED,
    WalletStatus.LIMIT_REACHED: Status.LIMIT_REACHED,
    WalletStatus.ROLLED_BACK: Status.ALREADY_ROLLED_BACK,
    WalletStatus.MISMATCH: Status.FINAL_ERROR,
    WalletStatus.NOT_FOUND: Status.FINAL_ERROR,
}
# A rollback of something the wallet never applied, or already undid, is done.
_ROLLBACK_DONE = {WalletStatus.OK, WalletStatus.NOT_FOUND, WalletStatus.ROLLED_BACK}


_FENCED = "fenced"


@dataclass(frozen=True, slots=True)
class _Party:
    operator: str
    player: str
    currency: str


@dataclass(frozen=True, slots=True)
class _PendingRow:
    id: int
    provider: str
    transaction_id: str
    operation: str
    credit_kind: str | None
    amount: int
    currency: str
    round_id: str | None
    game: str | None
    reference: str | None
    operator: str
    player: str
    state: str


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What one reconciliation resolved, and what it could not reach."""

    applied: int
    fenced: int
    still_pending: int


class RemoteWallet:
    """The casino's wallet, as the ledger settles its operations with it."""

    def __init__(self, db: Database, client: OperatorWalletClient) -> None:
        self._db = db
        self._client = client

    async def start(self) -> None:
        """Open the client's connection pool."""
        await self._client.start()

    async def close(self) -> None:
        """Close the client's connection pool."""
        await self._client.close()

    async def balance(self, request: WalletRequest) -> WalletOutcome:
        """Ask the casino's wallet for the player's balance."""
        operator, player = _parts(request.player)
        try:
            with wallet_call("balance"):
                answer = await self._client.balance(
                    operator=operator, player=player, currency=request.currency
                )
        except (WalletUnavailable, WalletRejected) as error:
            return _unavailable(request, None, error)
        if answer.status is not WalletStatus.OK:
            status = _REFUSALS.get(answer.status, Status.FINAL_ERROR)
            return WalletOutcome(
                status=status, currency=request.currency, balance=answer.balance
            )

        return WalletOutcome(
            status=Status.OK, currency=request.currency, balance=answer.balance
        )

    async def settle(
        self,
        provider: str,
        request: WalletRequest,
        player_id: int,
        pending: Sequence[Pending],
        outcomes: Sequence[OperationOutcome],
        status: Status,
    ) -> WalletOutcome:
        """Send the pending operations in order and answer the whole request."""
        party = _Party(*_parts(request.player), request.currency)
        balance: int | None = None
        settled: list[Pending] = []
        for index, item in enumerate(pending):
            try:
                with wallet_call(item.operation.operation.value):
                    answer = await self._send(
                        provider, party, item, request.round_id, request.game
                    )
            except (WalletUnavailable, WalletRejected) as error:
                return _unavailable(request, item, error)
            refusal = _refusal(item, answer)
            if refusal is not None:
                undone = await self._refuse(provider, party, settled, pending[index:])
                if not undone:
                    return _unavailable(request, item, RuntimeError("undo unknown"))
                return WalletOutcome(
                    status=refusal,
                    currency=request.currency,
                    balance=answer.balance,
                    failed_transaction_id=item.operation.transaction_id,
                    message=f"the casino's wallet answered {answer.status.value}",
                )
            if not await self._mark(item.row_id, APPLIED, answer.balance):
                # A reconciliation took this row while the wallet answered:
                # the provider's next retry sees how it was resolved.
                return _unavailable(request, item, RuntimeError("resolved elsewhere"))
            settled.append(item)
            balance = answer.balance if answer.balance is not None else balance

        if request.round_closed and request.round_id:
            await self._close_round(provider, request.round_id, player_id)
        if balance is None:
            current = await self.balance(request)
            if current.status is not Status.OK:
                return current
            balance = current.balance

        return WalletOutcome(
            status=status,
            currency=request.currency,
            balance=balance,
            operations=tuple(outcomes),
        )

    async def reconcile(self, older_than: timedelta) -> Reconciled:
        """Resolve every pending row older than `older_than` with the wallet."""
        cutoff = clock.to_text(clock.now() - older_than)
        rows = await self._db.all(
            "SELECT t.id, t.provider, t.provider_transaction_id, t.operation,"
            " t.credit_kind, t.amount, t.currency, t.round_id, t.game,"
            " t.reference_transaction_id, p.operator, p.external_id, t.state"
            " FROM transactions t JOIN players p ON p.id = t.player_id"
            " WHERE t.state IN (?, ?) AND t.processed_at < ? ORDER BY t.id",
            PENDING,
            UNDOING,
            cutoff,
        )
        applied = fenced = still = 0
        for row in rows:
            stored = _PendingRow(*row)
            try:
                resolved = await self._reconcile_row(stored)
            except (WalletUnavailable, WalletRejected):
                resolved = PENDING
            except Exception:
                # One row the wallet answers strangely must not stop the rest.
                log.exception("wallet.reconcile_failed", row=stored.id)
                resolved = PENDING
            applied += resolved == APPLIED
            fenced += resolved == _FENCED
            still += resolved == PENDING
        log.info("wallet.reconciled", applied=applied, fenced=fenced, pending=still)

        return Reconciled(applied=applied, fenced=fenced, still_pending=still)

    async def _reconcile_row(self, row: _PendingRow) -> str:
        party = _Party(row.operator, row.player, row.currency)
        key = wallet_key(row.id)
        if row.state == UNDOING:
            if not await self._undo(party, row.id, row.amount):
                return PENDING
            await self._delete([row.id], was=UNDOING)
            return _FENCED
        if row.operation == Operation.DEBIT:
            return await self._reconcile_debit(row, party, key)

        item = await self._pending_from_row(row)
        answer = await self._send(row.provider, party, item, row.round_id, row.game)
        if _refusal(item, answer) is not None:
            return PENDING
        await self._mark(row.id, APPLIED, answer.balance)

        return APPLIED

    async def _reconcile_debit(self, row: _PendingRow, party: _Party, key: str) -> str:
        # Claim the row first: a provider retry that finds it claimed is told
        # to come back, so it cannot be answered while the key is fenced.
        if not await self._mark(row.id, FENCING, None):
            return PENDING
        try:
            state = await self._client.transaction_state(key)
            if state is TransactionState.APPLIED:
                await self._mark(row.id, APPLIED, None, was=FENCING)
                return APPLIED
            # Never applied: fence the key so a delayed request cannot apply
            # it, then forget the row so the provider's retry is judged afresh.
            await self._client.rollback(
                idempotency_key=f"{key}:fence",
                original_idempotency_key=key,
                operator=party.operator,
                player=party.player,
                currency=party.currency,
                amount=row.amount,
            )
        except (WalletUnavailable, WalletRejected):
            await self._mark(row.id, PENDING, None, was=FENCING)
            return PENDING
        await self._delete([row.id], was=FENCING)

        return _FENCED

    async def _pending_from_row(self, row: _PendingRow) -> Pending:
        operation = Operation(row.operation)
        op = WalletOperation(
            operation=operation,
            transaction_id=row.transaction_id,
            amount=row.amount,
            credit_kind=CreditKind(row.credit_kind) if row.credit_kind else None,
            reference_transaction_id=row.reference,
        )
        if operation is not Operation.ROLLBACK:
            return Pending(row_id=row.id, operation=op, fresh=False)
        original = await self._db.one(
            "SELECT id, amount FROM transactions WHERE provider = ?"
            " AND provider_transaction_id = ?",
            row.provider,
            row.reference,
        )
        assert original is not None  # a rollback's original row is kept with it

        return Pending(
            row_id=row.id,
            operation=op,
            fresh=False,
            original_row_id=int(original[0]),
            original_amount=int(original[1]),
        )

    async def _send(
        self,
        provider: str,
        party: _Party,
        item: Pending,
        round_id: str | None,
        game: str | None,
    ) -> WalletAnswer:
        op = item.operation
        if op.operation is Operation.ROLLBACK:
            return await self._client.rollback(
                idempotency_key=item.key,
                original_idempotency_key=item.original_key,
                operator=party.operator,
                player=party.player,
                currency=party.currency,
                amount=item.original_amount,
            )
        if op.operation is Operation.DEBIT:
            return await self._client.debit(
                idempotency_key=item.key,
                operator=party.operator,
                player=party.player,
                currency=party.currency,
                amount=op.amount,
                provider=provider,
                transaction_id=op.transaction_id,
                round_id=round_id,
                game=game,
            )

        return await self._client.credit(
            idempotency_key=item.key,
            operator=party.operator,
            player=party.player,
            currency=party.currency,
            amount=op.amount,
            provider=provider,
            transaction_id=op.transaction_id,
            round_id=round_id,
            game=game,
            kind=str(op.credit_kind or CreditKind.WIN),
        )

    async def _refuse(
        self,
        provider: str,
        party: _Party,
        settled: Sequence[Pending],
        unsettled: Sequence[Pending],
    ) -> bool:
        undone: list[int] = []
        certain = True
        for item in reversed(settled):
            if not item.fresh or item.operation.operation is Operation.ROLLBACK:
                continue
            if await self._undo(party, item.row_id, item.operation.amount):
                undone.append(item.row_id)
                continue
            # The undo's outcome is unknown: the row waits as `undoing`, its
            # replays are answered retryable, and reconcile finishes the undo.
            log.warning("wallet.undo_unavailable", provider=provider)
            await self._mark(item.row_id, UNDOING, None, was=APPLIED)
            certain = False
        refused = [unsettled[0].row_id] + [i.row_id for i in unsettled[1:] if i.fresh]
        await self._restore_originals([i for i in unsettled if i.fresh])
        await self._delete(undone + refused)

        return certain

    async def _undo(self, party: _Party, row_id: int, amount: int) -> bool:
        key = wallet_key(row_id)
        try:
            with wallet_call("rollback"):
                answer = await self._client.rollback(
                    idempotency_key=f"{key}:undo",
                    original_idempotency_key=key,
                    operator=party.operator,
                    player=party.player,
                    currency=party.currency,
                    amount=amount,
                )
        except (WalletUnavailable, WalletRejected):
            return False

        return answer.status in _ROLLBACK_DONE

    async def _restore_originals(self, items: Sequence[Pending]) -> None:
        originals = [
            i.original_row_id
            for i in items
            if i.operation.operation is Operation.ROLLBACK and i.original_row_id
        ]
        if not originals:
            return
        async with self._db.transaction() as tx:
            for row_id in originals:
                await tx.run(
                    "UPDATE transactions SET state = ? WHERE id = ? AND state = ?",
                    APPLIED,
                    row_id,
                    ROLLED_BACK,
                )

    async def _mark(
        self,
        row_id: int,
        state: str,
        balance: int | None,
        *,
        was: str = PENDING,
    ) -> bool:
        # Conditional on the state the caller saw, so two resolutions of one
        # row (a retry and a reconciliation) can never both take effect.
        if balance is not None and not 0 <= balance <= MAX_MINOR:
            balance = None
        async with self._db.transaction() as tx:
            changed = await tx.run(
                "UPDATE transactions SET state = ?, balance_after = ?"
                " WHERE id = ? AND state = ?",
                state,
                balance,
                row_id,
                was,
            )

        return changed == 1

    async def _delete(self, row_ids: Sequence[int], *, was: str | None = None) -> None:
        if not row_ids:
            return
        async with self._db.transaction() as tx:
            for row_id in row_ids:
                if was is None:
                    await tx.run("DELETE FROM transactions WHERE id = ?", row_id)
                else:
                    await tx.run(
                        "DELETE FROM transactions WHERE id = ? AND state = ?",
                        row_id,
                        was,
                    )

    async def _close_round(self, provider: str, round_id: str, player_id: int) -> None:
        now = clock.to_text(clock.now())
        async with self._db.transaction() as tx:
            await tx.run(
                CLOSE_ROUND,
                provider,
                round_id,
                player_id,
                True,
                now,
                now,
                False,
            )


def _refusal(item: Pending, answer: WalletAnswer) -> Status | None:
    if item.operation.operation is Operation.ROLLBACK:
        return None if answer.status in _ROLLBACK_DONE else Status.FINAL_ERROR
    if answer.status is WalletStatus.OK:
        return None

    return _REFUSALS.get(answer.status, Status.FINAL_ERROR)


def _unavailable(
    request: WalletRequest, item: Pending | None, error: Exception
) -> WalletOutcome:
    log.warning("wallet.unavailable", reason=str(error)[:200])
    return WalletOutcome(
        status=Status.RETRYABLE_ERROR,
        currency=request.currency,
        balance=None,
        failed_transaction_id=item.operation.transaction_id if item else None,
        message="the casino's wallet did not answer in time",
    )


def _parts(player: str) -> tuple[str, str]:
    parts = split_player_ref(player)
    assert parts is not None  # the ledger found this player before settling
    return parts
