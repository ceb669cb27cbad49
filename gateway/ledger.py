"""The ledger: every money rule, once, for every adapter.

A provider callback arrives as a `WalletRequest` of operations. The ledger
applies them in order inside one database transaction, all or none, against
the built-in wallet, and answers with a `WalletOutcome`. The rules:

- Identity: a transaction is (provider instance, provider transaction id);
  two providers using the same id never collide.
- Replays: the same id with the same content answers the stored outcome (the
  same gateway transaction id) and moves no money; the same id with other
  content (operation, kind, amount, currency, player, round, game, referenced
  transaction) is refused as a mismatch.
- A rollback of a known debit returns its money once; a rollback of a
  transaction never seen moves nothing and leaves a void in its place, so the
  original, if it arrives later, is answered without moving money. The
  adapter's profile says whether such an unknown rollback is answered as
  success or as not found.
- A rollback after the round was settled is refused unless the profile allows
  reversing settled rounds; a credit on a rolled-back debit is refused; a
  credit with no debit in its round follows the profile.
- Only debits check the session and the player: credits, rollbacks and round
  ends are taken on expired sessions and for blocked players.
- Zero amounts are valid and recorded; a closed round takes no new money.
- A debit, credit or rollback needs a transaction id, and a rollback cannot
  name itself. A transaction named by one player's rollback or credit is
  not another player's to fill in or settle.
- The profile's answer to an unknown rollback is given to a request that
  holds that rollback alone; with other operations beside it the request
  is answered OK, so applied money never looks refused.
- Balances never go below zero, and operations on one balance are serialized
  by the database: SQLite's write lock, or PostgreSQL's lock on the balance
  row, taken when the request first reads it.
- Two requests recording the same new transaction id at once end as one
  applied and the other judged again after it: a replay or a mismatch, never
  an error.

A refused request writes nothing: refusals are answered, not recorded, so the
same request sent again is judged afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Final

import orjson

from contracts.money import MAX_MINOR
from contracts.wallet import (
    CreditKind,
    Operation,
    OperationOutcome,
    Profile,
    Status,
    WalletOperation,
    WalletOutcome,
    WalletRequest,
)
from gateway import clock
from gateway.db import Conflict, Database, Transaction

if TYPE_CHECKING:
    from gateway.settlement import RemoteWallet

APPLIED: Final = "applied"
PENDING: Final = "pending"  # sent to the casino's wallet, its outcome not yet known
FENCING: Final = "fencing"  # claimed by reconcile while it asks the casino's wallet
UNDOING: Final = "undoing"  # applied, its undo sent, the undo's outcome not known
ROLLED_BACK: Final = "rolled_back"
VOID: Final = "void"  # rolled back before it arrived; its content is filled in later
UNKNOWN: Final = "unknown"  # the operation of a void whose original never came

OPERATOR_PROFILE: Final = Profile(credit_without_debit=True)
_MOVEMENTS: Final = (Operation.DEBIT, Operation.CREDIT, Operation.ROLLBACK)
MAX_ID_LENGTH: Final = 256  # what the operator wallet contract carries, too

_FIND_TRANSACTION = (
    "SELECT id, operation, player_id, currency, amount, round_id, fingerprint,"
    " state, processed_at FROM transactions"
    " WHERE provider = ? AND provider_transaction_id = ?"
)
CLOSE_ROUND: Final = (
    "INSERT INTO rounds"
    " (provider, round_id, player_id, closed, opened_at, closed_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, round_id) DO UPDATE"
    " SET closed = excluded.closed, closed_at = excluded.closed_at"
    " WHERE rounds.closed = ?"
)
_FIND_ACCOUNT = (
    "SELECT p.id, p.blocked, b.amount FROM players p JOIN balances b"
    " ON b.player_id = p.id AND b.currency = ?"
    " WHERE p.operator = ? AND p.external_id = ?"
)
_INSERT_TRANSACTION = (
    "INSERT INTO transactions (provider, provider_transaction_id, operation,"
    " credit_kind, player_id, currency, amount, round_id, game,"
    " reference_transaction_id, refs, fingerprint, state, balance_after, raw,"
    " processed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def player_ref(operator: str, player: str) -> str:
    """Return the player reference the gateway gives providers at launch."""
    return f"{operator}:{player}"


def split_player_ref(ref: str) -> tuple[str, str] | None:
    """Return (operator, player) of a player reference, or None if malformed."""
    operator, separator, player = ref.partition(":")
    if not separator or not operator or not player:
        return None
    return operator, player


class Refused(Exception):
    """An operation was refused; the whole request is rolled back."""

    def __init__(self, status: Status, transaction_id: str | None, message: str):
        super().__init__(message)
        self.status = status
        self.transaction_id = transaction_id
        self.message = message


@dataclass(frozen=True, slots=True)
class Pending:
    """An operation recorded in the ledger and still to be sent to the wallet.

    `key` is the idempotency key the casino's wallet sees, derived from the
    ledger row, so every retry and every reconciliation sends the same one.
    `original_row_id` and `original_amount` describe the transaction a
    rollback undoes. `fresh` is False for a row an earlier request left
    pending.
    """

    row_id: int
    operation: WalletOperation
    fresh: bool
    original_row_id: int | None = None
    original_amount: int = 0

    @property
    def key(self) -> str:
        """The idempotency key of this operation at the casino's wallet."""
        return wallet_key(self.row_id)

    @property
    def original_key(self) -> str:
        """The idempotency key of the transaction a rollback undoes."""
        assert self.original_row_id is not None  # only rollbacks have an original
        return wallet_key(self.original_row_id)


def wallet_key(row_id: int) -> str:
    """Return the casino wallet's idempotency key for a ledger row."""
    return f"gg-{row_id}"


@dataclass(frozen=True, slots=True)
class _Stored:
    id: int
    operation: str
    player_id: int
    currency: str
    amount: int
    round_id: str | None
    fingerprint: str
    state: str
    processed_at: str


class _Batch:
    """The state of one request while its operations are applied."""

    def __init__(
        self,
        tx: Transaction,
        provider: str,
        profile: Profile,
        request: WalletRequest,
        player_id: int,
        blocked: bool,
        balance: int,
        remote: bool = False,
    ) -> None:
        self.tx = tx
        self.provider = provider
        self.profile = profile
        self.request = request
        self.player_id = player_id
        self.blocked = blocked
        self.balance = balance
        self.now = clock.now()
        self.now_text = clock.to_text(self.now)
        self.debit_checked = False
        self.answer_status = Status.OK
        self.remote = remote
        self.pending: list[Pending] = []


class Ledger:
    """Applies wallet requests with every money rule.

    Balances live in the built-in wallet (the `balances` table) unless a
    `RemoteWallet` is given: then the rules are still checked and recorded
    here, and each money movement is sent to the casino's wallet with an
    idempotency key derived from its ledger row.
    """

    def __init__(self, db: Database, wallet: RemoteWallet | None = None) -> None:
        self._db = db
        self._wallet = wallet
        self._find_account = _FIND_ACCOUNT + db.lock_clause
        self._locks: dict[str, asyncio.Lock] = {}

    async def apply(
        self, provider: str, profile: Profile, request: WalletRequest
    ) -> WalletOutcome:
        """Apply a request's operations in order, all or none, and answer it."""
        if not all(map(_storable, _request_texts(request))):
            return _refused(
                request, Status.BAD_REQUEST, "an id holds NUL or is too long"
            )
        if request.session_token and (
            not request.player or not request.currency or request.authenticate
        ):
            found = await self._from_session(provider, request)
            if isinstance(found, WalletOutcome):
                return found
            outcome = await self._apply_locked(provider, profile, found)
            return replace(outcome, player=found.player)

        return await self._apply_locked(provider, profile, request)

    async def _apply_locked(
        self, provider: str, profile: Profile, request: WalletRequest
    ) -> WalletOutcome:
        if self._wallet is not None:
            async with (
                self._player_lock(request.player),
                self._db.exclusive(f"player:{request.player}"),
            ):
                return await self._apply_guarded(provider, profile, request)

        return await self._apply_guarded(provider, profile, request)

    async def _from_session(
        self, provider: str, request: WalletRequest
    ) -> WalletRequest | WalletOutcome:
        row = await self._db.one(
            "SELECT p.operator, p.external_id, s.currency, s.provider, s.expires_at"
            " FROM game_sessions s JOIN players p ON p.id = s.player_id"
            " WHERE s.token = ?",
            request.session_token,
        )
        if row is None or row[3] != provider:
            return _refused(request, Status.INVALID_SESSION, "invalid session")
        player = player_ref(row[0], row[1])
        if request.player and request.player != player:
            return _refused(request, Status.INVALID_SESSION, "not this player's")
        if request.currency and request.currency != row[2]:
            return _refused(request, Status.WRONG_CURRENCY, "not the session's")
        if request.authenticate and row[4] <= clock.to_text(clock.now()):
            return _refused(request, Status.SESSION_EXPIRED, "session expired")

        return replace(request, player=player, currency=row[2])

    async def _apply_guarded(
        self, provider: str, profile: Profile, request: WalletRequest
    ) -> WalletOutcome:
        if not request.operations and not request.round_closed:
            return await self._balance(request)

        try:
            return await self._apply(provider, profile, request)
        except Conflict:
            # Another process recorded one of these transaction ids between our
            # look-up and our insert; judged again, the request sees its row.
            return await self._apply(provider, profile, request)

    @asynccontextmanager
    async def _player_lock(self, player: str) -> AsyncIterator[None]:
        # The casino's wallet is called outside any database transaction, so
        # one process keeps a player's requests in order with a lock of its
        # own, and processes sharing PostgreSQL with an advisory lock.
        lock = self._locks.setdefault(player, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._locks.get(player) is lock:
                del self._locks[player]

    async def _apply(
        self, provider: str, profile: Profile, request: WalletRequest
    ) -> WalletOutcome:
        before: int | None = None
        try:
            async with self._db.transaction() as tx:
                player_id, blocked, before = await self._account(tx, request)
                batch = _Batch(
                    tx,
                    provider,
                    profile,
                    request,
                    player_id,
                    blocked,
                    before,
                    remote=self._wallet is not None,
                )
                outcomes = [await _apply_one(batch, op) for op in request.operations]
                if request.round_closed and request.round_id and not batch.remote:
                    await _close_round(batch, request.round_id)
                if batch.balance != before and not batch.remote:
                    await _store_balance(batch)
        except Refused as refusal:
            return WalletOutcome(
                status=refusal.status,
                currency=request.currency,
                balance=before,
                failed_transaction_id=refusal.transaction_id,
                message=refusal.message,
            )

        if self._wallet is not None:
            return await self._wallet.settle(
                provider,
                request,
                batch.player_id,
                batch.pending,
                outcomes,
                batch.answer_status,
            )
        return WalletOutcome(
            status=batch.answer_status,
            currency=request.currency,
            balance=batch.balance,
            operations=tuple(outcomes),
        )

    async def open_account(self, operator: str, player: str, currency: str) -> None:
        """Create the player and a zero balance in the currency where missing."""
        async with self._db.transaction() as tx:
            await tx.run(
                "INSERT INTO players (operator, external_id, blocked, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (operator, external_id) DO NOTHING",
                operator,
                player,
                False,
                clock.to_text(clock.now()),
            )
            await tx.run(
                "INSERT INTO balances (player_id, currency, amount)"
                " SELECT id, ?, 0 FROM players WHERE operator = ? AND external_id = ?"
                " ON CONFLICT (player_id, currency) DO NOTHING",
                currency,
                operator,
                player,
            )

    async def set_blocked(self, operator: str, player: str, blocked: bool) -> None:
        """Block or unblock a player's debits; credits are still taken."""
        async with self._db.transaction() as tx:
            await tx.run(
                "UPDATE players SET blocked = ? WHERE operator = ? AND external_id = ?",
                blocked,
                operator,
                player,
            )

    async def transfer(
        self,
        operator: str,
        player: str,
        *,
        operation: Operation,
        amount: int,
        currency: str,
        reference: str,
    ) -> WalletOutcome:
        """Move money in or out of a built-in balance for the operator, once.

        The operator's `reference` is the idempotency key, under the reserved
        provider name `operator/{operator}` that no provider instance can take.
        """
        if operation is Operation.CREDIT:
            await self.open_account(operator, player, currency)
        request = WalletRequest(
            player=player_ref(operator, player),
            currency=currency,
            operations=(
                WalletOperation(
                    operation=operation,
                    transaction_id=reference,
                    amount=amount,
                    credit_kind=CreditKind.ADJUSTMENT
                    if operation is Operation.CREDIT
                    else None,
                ),
            ),
        )

        return await self.apply(f"operator/{operator}", OPERATOR_PROFILE, request)

    async def balance(self, operator: str, player: str, currency: str) -> int | None:
        """Return a player's balance in minor units, or None if there is none."""
        if self._wallet is not None:
            request = WalletRequest(
                player=player_ref(operator, player), currency=currency
            )
            outcome = await self._wallet.balance(request)
            return outcome.balance if outcome.status is Status.OK else None
        row = await self._db.one(
            "SELECT b.amount FROM balances b JOIN players p ON p.id = b.player_id"
            " WHERE p.operator = ? AND p.external_id = ? AND b.currency = ?",
            operator,
            player,
            currency,
        )
        return None if row is None else int(row[0])

    async def _balance(self, request: WalletRequest) -> WalletOutcome:
        if self._wallet is not None:
            return await self._wallet.balance(request)
        try:
            async with self._db.transaction() as tx:
                _, _, amount = await self._account(tx, request)
        except Refused as refusal:
            return WalletOutcome(
                status=refusal.status,
                currency=request.currency,
                balance=None,
                message=refusal.message,
            )

        return WalletOutcome(
            status=Status.OK, currency=request.currency, balance=amount
        )

    async def _account(
        self, tx: Transaction, request: WalletRequest
    ) -> tuple[int, bool, int]:
        ref = split_player_ref(request.player)
        if ref is None:
            raise Refused(Status.UNKNOWN_PLAYER, None, "unknown player")
        if self._wallet is not None:
            return await _remote_account(tx, ref)
        row = await tx.one(self._find_account, request.currency, *ref)
        if row is not None:
            return int(row[0]), bool(row[1]), int(row[2])

        player = await tx.one(
            "SELECT id FROM players WHERE operator = ? AND external_id = ?", *ref
        )
        if player is None:
            raise Refused(Status.UNKNOWN_PLAYER, None, "unknown player")
        raise Refused(Status.WRONG_CURRENCY, None, "no balance in that currency")


def _request_texts(request: WalletRequest) -> tuple[str | None, ...]:
    return (
        request.player,
        request.currency,
        request.round_id,
        request.game,
        request.session_token,
    )


def _storable(text: str | None) -> bool:
    return text is None or (len(text) <= MAX_ID_LENGTH and "\x00" not in text)


def _refused(request: WalletRequest, status: Status, message: str) -> WalletOutcome:
    return WalletOutcome(
        status=status,
        currency=request.currency,
        balance=None,
        player=request.player,
        message=message,
    )


async def _remote_account(
    tx: Transaction, ref: tuple[str, str]
) -> tuple[int, bool, int]:
    row = await tx.one(
        "SELECT id, blocked FROM players WHERE operator = ? AND external_id = ?", *ref
    )
    if row is None:
        raise Refused(Status.UNKNOWN_PLAYER, None, "unknown player")

    return int(row[0]), bool(row[1]), 0


async def _apply_one(batch: _Batch, op: WalletOperation) -> OperationOutcome:
    if not _storable(op.transaction_id) or not _storable(op.reference_transaction_id):
        raise Refused(Status.BAD_REQUEST, None, "an id holds NUL or is too long")
    if not op.transaction_id and op.operation in _MOVEMENTS:
        raise Refused(Status.BAD_REQUEST, None, "a money movement needs an id")
    if op.reference_transaction_id == op.transaction_id != "":
        raise Refused(Status.BAD_REQUEST, op.transaction_id, "it names itself")
    fingerprint = _fingerprint(batch, op)
    stored = await _find(batch, op.transaction_id) if op.transaction_id else None
    if stored is not None:
        return await _answer_known(batch, op, stored, fingerprint)

    if op.operation is Operation.DEBIT:
        return await _debit(batch, op, fingerprint)
    if op.operation is Operation.CREDIT:
        return await _credit(batch, op, fingerprint)
    if op.operation is Operation.ROLLBACK:
        return await _rollback(batch, op, fingerprint)
    if op.operation is Operation.END_ROUND:
        if batch.request.round_id:
            await _close_round(batch, batch.request.round_id)
        if op.transaction_id:
            return await _record(batch, op, fingerprint, amount=0, remote=False)

    return OperationOutcome(
        transaction_id=op.transaction_id,
        gateway_transaction_id="",
        processed_at=batch.now,
    )


async def _answer_known(
    batch: _Batch, op: WalletOperation, stored: _Stored, fingerprint: str
) -> OperationOutcome:
    if stored.state == VOID and stored.operation == UNKNOWN:
        if stored.player_id != batch.player_id:
            raise Refused(
                Status.TRANSACTION_MISMATCH,
                op.transaction_id,
                "another player's rollback named this transaction",
            )
        # The original of an earlier rollback: keep its content, move nothing.
        await batch.tx.run(
            "UPDATE transactions SET operation = ?, credit_kind = ?, amount = ?,"
            " round_id = ?, game = ?, fingerprint = ?, raw = ?, processed_at = ?"
            " WHERE id = ?",
            op.operation.value,
            op.credit_kind,
            op.amount,
            batch.request.round_id,
            batch.request.game,
            fingerprint,
            batch.request.raw,
            batch.now_text,
            stored.id,
        )
        return _outcome(op, stored.id, batch.now)
    if stored.fingerprint != fingerprint:
        raise Refused(
            Status.TRANSACTION_MISMATCH,
            op.transaction_id,
            "transaction id already used with different content",
        )
    if stored.state in (FENCING, UNDOING):
        raise Refused(
            Status.RETRYABLE_ERROR, op.transaction_id, "being resolved with the wallet"
        )
    if stored.state == PENDING:
        # The wallet's answer never came: send the same key again to learn it.
        batch.pending.append(await _pending(batch, stored.id, op, fresh=False))

    return _outcome(op, stored.id, clock.from_text(stored.processed_at), replay=True)


async def _debit(
    batch: _Batch, op: WalletOperation, fingerprint: str
) -> OperationOutcome:
    if not batch.debit_checked:
        await _check_player_and_session(batch, op)
        batch.debit_checked = True
    await _require_open_round(batch, op)
    if op.amount > batch.balance and not batch.remote:
        raise Refused(
            Status.INSUFFICIENT_FUNDS, op.transaction_id, "insufficient funds"
        )

    batch.balance -= op.amount
    await _open_round(batch)

    return await _record(batch, op, fingerprint, amount=op.amount)


async def _credit(
    batch: _Batch, op: WalletOperation, fingerprint: str
) -> OperationOutcome:
    await _require_open_round(batch, op)
    if op.reference_transaction_id:
        debit = await _find(batch, op.reference_transaction_id)
        if debit is not None and debit.player_id != batch.player_id:
            raise Refused(
                Status.TRANSACTION_NOT_FOUND, op.transaction_id, "not this player's"
            )
        if debit is not None:
            _require_same_currency(batch, op, debit)
        if debit is None and not batch.profile.credit_without_debit:
            raise Refused(
                Status.TRANSACTION_NOT_FOUND, op.transaction_id, "no such debit"
            )
        if debit is not None and debit.state in (ROLLED_BACK, VOID):
            raise Refused(
                Status.ALREADY_ROLLED_BACK,
                op.transaction_id,
                "the debit was rolled back",
            )
    elif batch.request.round_id:
        await _require_live_debit_in_round(batch, op)
    _require_room(batch, op, op.amount)

    batch.balance += op.amount
    await _open_round(batch)

    return await _record(batch, op, fingerprint, amount=op.amount)


async def _rollback(
    batch: _Batch, op: WalletOperation, fingerprint: str
) -> OperationOutcome:
    original_id = op.reference_transaction_id
    if not original_id:
        raise Refused(
            Status.BAD_REQUEST, op.transaction_id, "rollback names no transaction"
        )
    original = await _find(batch, original_id)

    if original is None:
        await _void_unknown(batch, original_id)
        # The profile's answer describes the rollback alone; a request that
        # also moved money is answered OK, so nothing applied looks refused.
        alone = len(batch.request.operations) == 1
        if batch.profile.unknown_rollback is not Status.OK and alone:
            batch.answer_status = batch.profile.unknown_rollback
        return await _record(batch, op, fingerprint, amount=0, remote=False)
    if original.player_id != batch.player_id:
        raise Refused(
            Status.TRANSACTION_NOT_FOUND, op.transaction_id, "not this player's"
        )
    _require_same_currency(batch, op, original)
    if original.state in (ROLLED_BACK, VOID):
        raise Refused(
            Status.ALREADY_ROLLED_BACK, op.transaction_id, "already rolled back"
        )
    if original.state in (FENCING, UNDOING):
        raise Refused(
            Status.RETRYABLE_ERROR, op.transaction_id, "being resolved with the wallet"
        )
    if original.operation not in (Operation.DEBIT, Operation.CREDIT):
        raise Refused(Status.BAD_REQUEST, op.transaction_id, "cannot roll that back")
    settled = original.operation == Operation.CREDIT or await _round_closed(
        batch, original.round_id
    )
    if settled and not batch.profile.reverse_settled:
        raise Refused(Status.ALREADY_SETTLED, op.transaction_id, "the round is settled")

    if original.operation == Operation.DEBIT:
        _require_room(batch, op, original.amount)
        batch.balance += original.amount
    elif original.amount > batch.balance and not batch.remote:
        raise Refused(
            Status.INSUFFICIENT_FUNDS, op.transaction_id, "insufficient funds"
        )
    else:
        batch.balance -= original.amount
    await batch.tx.run(
        "UPDATE transactions SET state = ? WHERE id = ?", ROLLED_BACK, original.id
    )

    return await _record(batch, op, fingerprint, amount=original.amount)


async def _check_player_and_session(batch: _Batch, op: WalletOperation) -> None:
    if batch.blocked:
        raise Refused(Status.PLAYER_BLOCKED, op.transaction_id, "player is blocked")
    token = batch.request.session_token
    if token is None:
        return
    row = await batch.tx.one(
        "SELECT player_id, provider, expires_at FROM game_sessions WHERE token = ?",
        token,
    )
    if row is None or row[0] != batch.player_id or row[1] != batch.provider:
        raise Refused(Status.INVALID_SESSION, op.transaction_id, "invalid session")
    if row[2] <= batch.now_text:
        raise Refused(Status.SESSION_EXPIRED, op.transaction_id, "session expired")


def _require_same_currency(batch: _Batch, op: WalletOperation, other: _Stored) -> None:
    if other.currency != batch.request.currency and other.operation != UNKNOWN:
        raise Refused(
            Status.TRANSACTION_MISMATCH,
            op.transaction_id,
            f"the transaction it names is in {other.currency}",
        )


def _require_room(batch: _Batch, op: WalletOperation, amount: int) -> None:
    if not batch.remote and batch.balance + amount > MAX_MINOR:
        raise Refused(
            Status.LIMIT_REACHED, op.transaction_id, "balance past the largest stored"
        )


async def _require_open_round(batch: _Batch, op: WalletOperation) -> None:
    if await _round_closed(batch, batch.request.round_id, op.transaction_id):
        raise Refused(Status.ROUND_CLOSED, op.transaction_id, "the round is closed")


async def _require_live_debit_in_round(batch: _Batch, op: WalletOperation) -> None:
    rows = await batch.tx.all(
        "SELECT state FROM transactions WHERE provider = ? AND round_id = ?"
        " AND operation = ? AND player_id = ?",
        batch.provider,
        batch.request.round_id,
        Operation.DEBIT.value,
        batch.player_id,
    )
    if not rows and not batch.profile.credit_without_debit:
        raise Refused(
            Status.TRANSACTION_NOT_FOUND, op.transaction_id, "no debit in round"
        )
    if rows and all(state in (ROLLED_BACK, VOID) for (state,) in rows):
        raise Refused(
            Status.ALREADY_ROLLED_BACK,
            op.transaction_id,
            "the round's debits were rolled back",
        )


async def _round_closed(
    batch: _Batch, round_id: str | None, transaction_id: str | None = None
) -> bool:
    if not round_id:
        return False
    row = await batch.tx.one(
        "SELECT closed, player_id FROM rounds WHERE provider = ? AND round_id = ?",
        batch.provider,
        round_id,
    )
    if row is not None and row[1] != batch.player_id:
        raise Refused(
            Status.TRANSACTION_MISMATCH, transaction_id, "another player's round"
        )
    return row is not None and bool(row[0])


async def _open_round(batch: _Batch) -> None:
    if batch.request.round_id:
        await batch.tx.run(
            "INSERT INTO rounds (provider, round_id, player_id, closed, opened_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (provider, round_id) DO NOTHING",
            batch.provider,
            batch.request.round_id,
            batch.player_id,
            False,
            batch.now_text,
        )


async def _store_balance(batch: _Batch) -> None:
    await batch.tx.run(
        "UPDATE balances SET amount = ? WHERE player_id = ? AND currency = ?",
        batch.balance,
        batch.player_id,
        batch.request.currency,
    )


async def _close_round(batch: _Batch, round_id: str) -> None:
    await _round_closed(batch, round_id)
    await batch.tx.run(
        CLOSE_ROUND,
        batch.provider,
        round_id,
        batch.player_id,
        True,
        batch.now_text,
        batch.now_text,
        False,
    )


async def _void_unknown(batch: _Batch, transaction_id: str) -> None:
    await batch.tx.insert(
        _INSERT_TRANSACTION,
        batch.provider,
        transaction_id,
        UNKNOWN,
        None,
        batch.player_id,
        batch.request.currency,
        0,
        None,
        None,
        None,
        None,
        "",
        VOID,
        None,
        None,
        batch.now_text,
    )


async def _record(
    batch: _Batch,
    op: WalletOperation,
    fingerprint: str,
    *,
    amount: int,
    remote: bool = True,
) -> OperationOutcome:
    request = batch.request
    pending = batch.remote and remote
    row_id = await batch.tx.insert(
        _INSERT_TRANSACTION,
        batch.provider,
        op.transaction_id,
        op.operation.value,
        op.credit_kind,
        batch.player_id,
        request.currency,
        amount,
        request.round_id,
        request.game,
        op.reference_transaction_id,
        orjson.dumps(dict(op.references)).decode() if op.references else None,
        fingerprint,
        PENDING if pending else APPLIED,
        None if batch.remote else batch.balance,
        request.raw,
        batch.now_text,
    )
    if pending:
        batch.pending.append(await _pending(batch, row_id, op, fresh=True))

    return _outcome(op, row_id, batch.now)


async def _pending(
    batch: _Batch, row_id: int, op: WalletOperation, *, fresh: bool
) -> Pending:
    if op.operation is not Operation.ROLLBACK or not op.reference_transaction_id:
        return Pending(row_id=row_id, operation=op, fresh=fresh)
    original = await _find(batch, op.reference_transaction_id)
    assert original is not None  # a rollback's original row is written first

    return Pending(
        row_id=row_id,
        operation=op,
        fresh=fresh,
        original_row_id=original.id,
        original_amount=original.amount,
    )


async def _find(batch: _Batch, transaction_id: str) -> _Stored | None:
    row = await batch.tx.one(_FIND_TRANSACTION, batch.provider, transaction_id)
    return None if row is None else _Stored(*row)


def _fingerprint(batch: _Batch, op: WalletOperation) -> str:
    request = batch.request
    parts = (
        op.operation.value,
        op.credit_kind,
        batch.player_id,
        request.currency,
        op.amount,
        request.round_id,
        request.game,
        op.reference_transaction_id,
    )
    return orjson.dumps(parts).decode()


def _outcome(
    op: WalletOperation, row_id: int, processed_at: datetime, *, replay: bool = False
) -> OperationOutcome:
    return OperationOutcome(
        transaction_id=op.transaction_id,
        gateway_transaction_id=str(row_id),
        processed_at=processed_at,
        replay=replay,
    )
