"""The ledger's money rules under random interleavings, against a model.

A hypothesis state machine sends debits, credits, rollbacks, replays,
mismatches, round ends, multi-operation requests and out-of-order arrivals to
the real ledger on a real migrated database. A small model of the rules in
the ledger's docstring predicts every answer, and after every step the machine
checks that money is conserved (by the model and by the `transactions` table),
that no transaction is applied twice, that no balance is below zero, and that
a refused request wrote nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final, NamedTuple, TypeVar

import psycopg
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from contracts.wallet import (
    CreditKind,
    Operation,
    Profile,
    Status,
    WalletOperation,
    WalletOutcome,
    WalletRequest,
)
from gateway import db as database
from gateway.ledger import (
    APPLIED,
    OPERATOR_PROFILE,
    ROLLED_BACK,
    UNKNOWN,
    VOID,
    Ledger,
    player_ref,
)

T = TypeVar("T")
Key = tuple[str, str]  # (provider, the provider's transaction or round id)

OPERATOR: Final = "casino-a"
CURRENCY: Final = "EUR"
GAME: Final = "studio:game"
PLAYERS: Final = ("p0", "p1", "p2")
FUNDING: Final = f"operator/{OPERATOR}"  # the provider name `Ledger.transfer` uses
PROFILES: Final = {
    "studio-a": Profile(),
    "studio-b": Profile(
        unknown_rollback=Status.TRANSACTION_NOT_FOUND,
        credit_without_debit=False,
        reverse_settled=True,
    ),
    FUNDING: OPERATOR_PROFILE,
}
MOVEMENTS: Final = (Operation.DEBIT, Operation.CREDIT, Operation.ROLLBACK)
TABLES: Final = ("transactions", "rounds", "game_sessions", "balances", "players")
_BALANCES: Final = (
    "SELECT p.external_id, b.amount FROM balances b"
    " JOIN players p ON p.id = b.player_id"
)
_TRANSACTIONS: Final = (
    "SELECT t.provider, t.provider_transaction_id, t.id, t.reference_transaction_id,"
    " t.operation, p.external_id, t.amount, t.round_id, t.state"
    " FROM transactions t JOIN players p ON p.id = t.player_id"
)

providers = st.sampled_from(["studio-a", "studio-b"])
players = st.sampled_from(PLAYERS)
amounts = st.integers(min_value=0, max_value=600)
picks = st.integers(min_value=0, max_value=40)
# Where a request plays: the player's current round, a new one, or none.
round_choices = st.sampled_from(["same", "new", "none"])
operation_specs = st.tuples(
    st.sampled_from(
        [
            "debit",
            "credit",
            "credit_on",
            "rollback",
            "rollback_unknown",
            "late",
            "end_round",
            "again",
            "unnamed_end_round",
            "unnamed_debit",
            "names_itself",
        ]
    ),
    amounts,
    picks,
)
changes = st.sampled_from(
    ["amount", "operation", "kind", "reference", "round", "game", "player"]
)

SETTINGS: Final = settings(max_examples=60, stateful_step_count=40, deadline=None)


async def _open_db(url: str) -> database.Database:
    """Migrate and open a database as tests/conftest.py does, emptied for a run."""
    database.upgrade(url)
    opened = database.Database(url)
    await opened.open()

    # A reused PostgreSQL schema still holds the previous run's rows.
    async with opened.transaction() as tx:
        for table in TABLES:
            await tx.run(f"DELETE FROM {table}")

    return opened


class _Refusal(Exception):
    def __init__(self, status: Status, transaction_id: str | None) -> None:
        super().__init__(status)
        self.status = status
        self.transaction_id = transaction_id


class _Stored(NamedTuple):
    """One row of the `transactions` table, as the invariants read it."""

    id: int
    reference: str | None
    operation: str
    player: str
    amount: int
    round_id: str | None
    state: str


@dataclass(frozen=True, slots=True)
class _Row:
    """What the model expects of one row of the `transactions` table."""

    operation: str
    player: str
    amount: int
    round_id: str | None
    state: str
    content: tuple[object, ...] | None  # None: a void whose original never came
    reversed: str | None = None  # the operation a rollback row undid
    sent: tuple[WalletOperation, WalletRequest] | None = None
    gateway_id: str | None = None
    answered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Prediction:
    """What the model says a request must answer, and whether it writes."""

    status: Status
    balance: int
    writes: bool
    failed_transaction_id: str | None = None
    replays: tuple[bool, ...] = ()


class _Model:
    """The ledger's rules over plain dicts, for one operator and currency."""

    def __init__(self) -> None:
        self.rows: dict[Key, _Row] = {}
        self.rounds: dict[Key, bool] = {}  # closed or not
        self.balances = dict.fromkeys(PLAYERS, 0)

    def apply(self, provider: str, request: WalletRequest) -> _Prediction:
        """Predict a request's answer, and take on its effects if it writes."""
        player = request.player.partition(":")[2]
        before = self.balances[player]
        if not request.operations and not request.round_closed:
            return _Prediction(Status.OK, before, writes=False)

        attempt = _Attempt(self, provider, request, player)
        try:
            replays = tuple(attempt.apply(op) for op in request.operations)
            if request.round_closed and request.round_id:
                attempt.close_round(request.round_id)
        except _Refusal as refusal:
            return _Prediction(
                refusal.status,
                before,
                writes=False,
                failed_transaction_id=refusal.transaction_id,
            )

        self.rows, self.rounds = attempt.rows, attempt.rounds
        self.balances[player] = attempt.balance

        return _Prediction(attempt.status, attempt.balance, True, replays=replays)

    def accounted(self, player: str) -> int:
        """Return credits in, debits out, and rollbacks undoing what they reversed."""
        total = 0
        for row in self.rows.values():
            if row.player != player or row.state == VOID:
                continue
            if row.operation == Operation.CREDIT or row.reversed == Operation.DEBIT:
                total += row.amount
            elif row.operation == Operation.DEBIT or row.reversed == Operation.CREDIT:
                total -= row.amount

        return total


class _Attempt:
    """One request applied to copies of the model's state, kept only if it writes."""

    def __init__(
        self, model: _Model, provider: str, request: WalletRequest, player: str
    ) -> None:
        self.rows = dict(model.rows)
        self.rounds = dict(model.rounds)
        self.provider = provider
        self.profile = PROFILES[provider]
        self.request = request
        self.player = player
        self.balance = model.balances[player]
        self.status = Status.OK

    def apply(self, op: WalletOperation) -> bool:
        """Apply one operation and return whether it was a replay."""
        if not op.transaction_id and op.operation in MOVEMENTS:
            raise _Refusal(Status.BAD_REQUEST, None)
        if op.transaction_id and op.reference_transaction_id == op.transaction_id:
            raise _Refusal(Status.BAD_REQUEST, op.transaction_id)
        key = (self.provider, op.transaction_id)
        stored = self.rows.get(key)
        if stored is not None and stored.content is None:
            if stored.player != self.player:
                raise _Refusal(Status.TRANSACTION_MISMATCH, op.transaction_id)
            self.rows[key] = replace(
                stored,
                operation=op.operation.value,
                amount=op.amount,
                round_id=self.request.round_id,
                content=self.content(op),
                sent=(op, self.request),
            )
            return False
        if stored is not None:
            if stored.content != self.content(op):
                raise _Refusal(Status.TRANSACTION_MISMATCH, op.transaction_id)
            return True

        if op.operation is Operation.DEBIT:
            self.debit(op)
        elif op.operation is Operation.CREDIT:
            self.credit(op)
        elif op.operation is Operation.ROLLBACK:
            self.rollback(op)
        else:
            if self.request.round_id:
                self.close_round(self.request.round_id)
            if op.transaction_id:
                self.record(op, 0)

        return False

    def debit(self, op: WalletOperation) -> None:
        """Take a bet from the balance."""
        self.require_open_round(op)
        if op.amount > self.balance:
            raise _Refusal(Status.INSUFFICIENT_FUNDS, op.transaction_id)

        self.balance -= op.amount
        self.open_round()
        self.record(op, op.amount)

    def credit(self, op: WalletOperation) -> None:
        """Pay a win, unless what it settles was rolled back or never was."""
        self.require_open_round(op)
        if op.reference_transaction_id:
            debit = self.rows.get((self.provider, op.reference_transaction_id))
            if debit is not None and debit.player != self.player:
                raise _Refusal(Status.TRANSACTION_NOT_FOUND, op.transaction_id)
            if debit is None and not self.profile.credit_without_debit:
                raise _Refusal(Status.TRANSACTION_NOT_FOUND, op.transaction_id)
            if debit is not None and debit.state in (ROLLED_BACK, VOID):
                raise _Refusal(Status.ALREADY_ROLLED_BACK, op.transaction_id)
        elif self.request.round_id:
            states = [
                row.state
                for (provider, _), row in self.rows.items()
                if provider == self.provider
                and row.round_id == self.request.round_id
                and row.operation == Operation.DEBIT
                and row.player == self.player
            ]
            if not states and not self.profile.credit_without_debit:
                raise _Refusal(Status.TRANSACTION_NOT_FOUND, op.transaction_id)
            if states and all(state in (ROLLED_BACK, VOID) for state in states):
                raise _Refusal(Status.ALREADY_ROLLED_BACK, op.transaction_id)

        self.balance += op.amount
        self.open_round()
        self.record(op, op.amount)

    def rollback(self, op: WalletOperation) -> None:
        """Undo a known transaction once, or leave a void for one never seen."""
        assert op.reference_transaction_id, "the machine always names the original"
        key = (self.provider, op.reference_transaction_id)
        original = self.rows.get(key)
        if original is None:
            self.rows[key] = _Row(UNKNOWN, self.player, 0, None, VOID, content=None)
            # The profile's status answers a rollback sent alone; with others
            # the request is answered OK, since they are applied.
            alone = len(self.request.operations) == 1
            if self.profile.unknown_rollback is not Status.OK and alone:
                self.status = self.profile.unknown_rollback
            self.record(op, 0)
            return

        if original.player != self.player:
            raise _Refusal(Status.TRANSACTION_NOT_FOUND, op.transaction_id)
        if original.state in (ROLLED_BACK, VOID):
            raise _Refusal(Status.ALREADY_ROLLED_BACK, op.transaction_id)
        if original.operation not in (Operation.DEBIT, Operation.CREDIT):
            raise _Refusal(Status.BAD_REQUEST, op.transaction_id)
        settled = original.operation == Operation.CREDIT or self.closed(
            original.round_id
        )
        if settled and not self.profile.reverse_settled:
            raise _Refusal(Status.ALREADY_SETTLED, op.transaction_id)
        if original.operation == Operation.CREDIT and original.amount > self.balance:
            raise _Refusal(Status.INSUFFICIENT_FUNDS, op.transaction_id)

        sign = 1 if original.operation == Operation.DEBIT else -1
        self.balance += sign * original.amount
        self.rows[key] = replace(original, state=ROLLED_BACK)
        self.record(op, original.amount, reversed=original.operation)

    def record(
        self, op: WalletOperation, amount: int, reversed: str | None = None
    ) -> None:
        """Add the operation's own row, applied."""
        self.rows[(self.provider, op.transaction_id)] = _Row(
            op.operation.value,
            self.player,
            amount,
            self.request.round_id,
            APPLIED,
            self.content(op),
            reversed,
            sent=(op, self.request),
        )

    def content(self, op: WalletOperation) -> tuple[object, ...]:
        """Return what a replay must repeat for the operation to be the same."""
        request = self.request
        return (
            op.operation,
            op.credit_kind,
            self.player,
            request.currency,
            op.amount,
            request.round_id,
            request.game,
            op.reference_transaction_id,
        )

    def closed(self, round_id: str | None) -> bool:
        """Return whether the provider's round has been closed."""
        return round_id is not None and self.rounds.get(
            (self.provider, round_id), False
        )

    def require_open_round(self, op: WalletOperation) -> None:
        """Refuse new money in a closed round."""
        if self.closed(self.request.round_id):
            raise _Refusal(Status.ROUND_CLOSED, op.transaction_id)

    def open_round(self) -> None:
        """Remember the request's round, open, if it is new."""
        if self.request.round_id:
            self.rounds.setdefault((self.provider, self.request.round_id), False)

    def close_round(self, round_id: str) -> None:
        """Close the round, remembering it if it is new."""
        self.rounds[(self.provider, round_id)] = True


def _pick(items: list[T], pick: int) -> T | None:
    """Return an item counted back from the newest, or None if there are none."""
    return items[-1 - pick % len(items)] if items else None


def _debit(transaction_id: str, amount: int) -> WalletOperation:
    """Return a bet."""
    return WalletOperation(
        operation=Operation.DEBIT, transaction_id=transaction_id, amount=amount
    )


def _credit(
    transaction_id: str, amount: int, reference: str | None = None
) -> WalletOperation:
    """Return a win, settling the named debit if there is one."""
    return WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=transaction_id,
        amount=amount,
        credit_kind=CreditKind.WIN,
        reference_transaction_id=reference,
    )


def _rollback(transaction_id: str, original: str) -> WalletOperation:
    """Return a rollback of the named transaction."""
    return WalletOperation(
        operation=Operation.ROLLBACK,
        transaction_id=transaction_id,
        reference_transaction_id=original,
    )


def _callback(*operations: WalletOperation, round_id: str = "r1") -> WalletRequest:
    """Return one request of player p0's, as a provider would send it."""
    return WalletRequest(
        player=player_ref(OPERATOR, "p0"),
        currency=CURRENCY,
        game=GAME,
        round_id=round_id,
        operations=operations,
    )


async def _fund(ledger: Ledger, amount: int) -> None:
    """Credit player p0 through the operator's transfer, opening the account."""
    await ledger.transfer(
        OPERATOR,
        "p0",
        operation=Operation.CREDIT,
        amount=amount,
        currency=CURRENCY,
        reference="funding-p0",
    )


async def _apply(
    ledger: Ledger, provider: str, *operations: WalletOperation
) -> WalletOutcome:
    """Send player p0's request of the operations from one provider."""
    return await ledger.apply(provider, PROFILES[provider], _callback(*operations))


def _changed(
    op: WalletOperation, request: WalletRequest, change: str
) -> tuple[WalletOperation, WalletRequest]:
    """Return the operation and its request with one part of their content changed."""
    if change == "amount":
        return replace(op, amount=op.amount + 1), request
    if change == "operation":
        other = Operation.CREDIT if op.operation is Operation.DEBIT else Operation.DEBIT
        return replace(op, operation=other), request
    if change == "kind":
        kind = CreditKind.BONUS if op.credit_kind is CreditKind.WIN else CreditKind.WIN
        return replace(op, credit_kind=kind), request
    if change == "reference":
        reference = f"{op.reference_transaction_id or 'none'}~other"
        return replace(op, reference_transaction_id=reference), request
    if change == "round":
        return op, replace(request, round_id=f"{request.round_id or 'none'}~other")
    if change == "game":
        return op, replace(request, game=f"{request.game or 'none'}~other")
    player = request.player.partition(":")[2]
    other_player = PLAYERS[(PLAYERS.index(player) + 1) % len(PLAYERS)]

    return op, replace(request, player=player_ref(OPERATOR, other_player))


class LedgerMachine(RuleBasedStateMachine):
    """Random requests to the real ledger, each answer predicted by the model."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.db = self._run(_open_db(url))
        self.ledger = Ledger(self.db)
        self.model = _Model()
        self.history: list[tuple[str, WalletRequest]] = []
        self.gateway_ids: set[str] = set()
        self.fresh_ids = {provider: itertools.count() for provider in PROFILES}
        self.rounds = dict.fromkeys(itertools.product(PROFILES, PLAYERS), 0)

    def teardown(self) -> None:
        self._run(self.db.close())
        self.loop.close()

    @initialize(funding=st.tuples(*[st.integers(0, 1000)] * len(PLAYERS)))
    def open_accounts(self, funding: tuple[int, ...]) -> None:
        for player, amount in zip(PLAYERS, funding, strict=True):
            self._transfer(player, Operation.CREDIT, amount, f"funding-{player}")

    @rule(player=players, withdraw=st.booleans(), amount=amounts, again=st.booleans())
    def transfer(self, player: str, withdraw: bool, amount: int, again: bool) -> None:
        operation = Operation.DEBIT if withdraw else Operation.CREDIT
        number = "0" if again else next(self.fresh_ids[FUNDING])
        self._transfer(player, operation, amount, f"transfer-{player}-{number}")

    @rule(provider=providers, player=players)
    def read_balance(self, provider: str, player: str) -> None:
        request = WalletRequest(player=player_ref(OPERATOR, player), currency=CURRENCY)
        self._send(provider, request)

    @rule(
        provider=providers,
        player=players,
        amount=amounts | st.sampled_from(["balance", "balance+1"]),
        round_choice=round_choices,
        closing=st.booleans(),
    )
    def debit(
        self,
        provider: str,
        player: str,
        amount: int | str,
        round_choice: str,
        closing: bool,
    ) -> None:
        """Bet an amount, or the whole balance, or one more than the balance."""
        if isinstance(amount, str):
            amount = self.model.balances[player] + (amount == "balance+1")
        self._play(provider, player, round_choice, [("debit", amount, 0)], closing)

    @rule(
        provider=providers,
        player=players,
        amount=amounts,
        on_debit=st.none() | picks,
        round_choice=round_choices,
        closing=st.booleans(),
    )
    def credit(
        self,
        provider: str,
        player: str,
        amount: int,
        on_debit: int | None,
        round_choice: str,
        closing: bool,
    ) -> None:
        spec = ("credit", amount, 0) if on_debit is None else ("credit_on", amount, 0)
        self._play(provider, player, round_choice, [spec], closing)

    @rule(
        provider=providers,
        player=players,
        undoing=st.sampled_from([Operation.DEBIT, Operation.CREDIT, None]),
        pick=picks,
        of_anyone=st.booleans(),
        spent_first=st.booleans(),
        round_choice=round_choices,
    )
    def rollback(
        self,
        provider: str,
        player: str,
        undoing: Operation | None,
        pick: int,
        of_anyone: bool,
        spent_first: bool,
        round_choice: str,
    ) -> None:
        """Roll back a debit, a credit or anything seen, perhaps once all is spent."""
        ids = self._ids(provider, None if of_anyone else player, undoing)
        if spent_first:
            spend = ("debit", self.model.balances[player], 0)
            self._play(provider, player, "new", [spend], False)
        original = _pick(ids, pick) or self._fresh_id(provider)
        op = _rollback(self._fresh_id(provider), original)
        self._send(provider, self._request(provider, player, round_choice, (op,)))

    @rule(provider=providers, player=players, round_choice=round_choices)
    def rollback_before_original(
        self, provider: str, player: str, round_choice: str
    ) -> None:
        spec = ("rollback_unknown", 0, 0)
        self._play(provider, player, round_choice, [spec], False)

    @precondition(lambda self: self._voids())
    @rule(
        pick=picks,
        credit=st.booleans(),
        amount=amounts,
        other_player=st.booleans(),
        round_choice=round_choices,
    )
    def original_after_rollback(
        self,
        pick: int,
        credit: bool,
        amount: int,
        other_player: bool,
        round_choice: str,
    ) -> None:
        """Send the debit or credit an earlier rollback named before it came."""
        key = _pick(self._voids(), pick)
        assert key is not None
        provider, transaction_id = key
        player = self.model.rows[key].player
        if other_player:
            player = PLAYERS[(PLAYERS.index(player) + 1) % len(PLAYERS)]
        op = (
            _credit(transaction_id, amount)
            if credit
            else _debit(transaction_id, amount)
        )
        self._send(provider, self._request(provider, player, round_choice, (op,)))

    @rule(
        provider=providers,
        player=players,
        round_choice=round_choices,
        by_operation=st.booleans(),
    )
    def end_round(
        self, provider: str, player: str, round_choice: str, by_operation: bool
    ) -> None:
        """Close a round by an end-round operation or by a request's round_closed."""
        specs = [("end_round", 0, 0)] if by_operation else []
        self._play(provider, player, round_choice, specs, not by_operation)

    @rule(
        provider=providers,
        player=players,
        specs=st.lists(operation_specs, min_size=2, max_size=4),
        round_choice=round_choices,
        closing=st.booleans(),
    )
    def several_operations(
        self,
        provider: str,
        player: str,
        specs: list[tuple[str, int, int]],
        round_choice: str,
        closing: bool,
    ) -> None:
        self._play(provider, player, round_choice, specs, closing)

    @rule(pick=picks)
    def replay(self, pick: int) -> None:
        """Send an earlier request again, exactly as it was."""
        sent = _pick(self.history, pick)
        assert sent is not None  # funding the accounts sent the first ones
        self._send(*sent)

    @precondition(lambda self: self._answered())
    @rule(pick=picks, change=changes, after_a_write=st.booleans())
    def mismatch(self, pick: int, change: str, after_a_write: bool) -> None:
        """Reuse a recorded id with other content, alone or after an operation."""
        key = _pick(self._answered(), pick)
        assert key is not None
        provider = key[0]
        sent = self.model.rows[key].sent
        assert sent is not None
        op, request = _changed(*sent, change)
        operations: tuple[WalletOperation, ...] = (op,)
        if after_a_write:
            # A rollback of an id never seen always writes two rows, and the
            # mismatch after it must take both back.
            first = _rollback(self._fresh_id(provider), self._fresh_id(provider))
            operations = (first, op)

        outcome = self._send(
            provider, replace(request, operations=operations, round_closed=False)
        )

        assert outcome.status is Status.TRANSACTION_MISMATCH
        assert outcome.failed_transaction_id == op.transaction_id

    @invariant()
    def money_is_conserved(self) -> None:
        """Each balance is its funding and credits less its debits, net of rollbacks."""
        balances: dict[str, int] = dict(self._run(self.db.all(_BALANCES)))
        rows = self._rows()

        for player in PLAYERS:
            assert balances[player] == self.model.balances[player]
            assert self.model.accounted(player) == balances[player]
            assert _applied_in_table(rows, player) == balances[player]

    @invariant()
    def no_transaction_is_applied_twice(self) -> None:
        """One row per provider and id, as the model says; each undone at most once."""
        twice = self._run(
            self.db.all(
                "SELECT provider, provider_transaction_id FROM transactions"
                " GROUP BY provider, provider_transaction_id HAVING count(*) > 1"
            )
        )
        rows = self._rows()

        assert twice == []
        expected = {
            key: (row.operation, row.player, row.amount, row.round_id, row.state)
            for key, row in self.model.rows.items()
        }
        assert {key: row[2:] for key, row in rows.items()} == expected
        for key, row in rows.items():
            assert self.model.rows[key].gateway_id in (None, str(row.id))
        undone = [
            (provider, row.reference)
            for (provider, _), row in rows.items()
            if row.operation == Operation.ROLLBACK
            and row.reference is not None
            and rows[(provider, row.reference)].state != VOID
        ]
        rolled_back = [key for key, row in rows.items() if row.state == ROLLED_BACK]
        assert sorted(undone) == sorted(rolled_back)

    @invariant()
    def no_balance_is_below_zero(self) -> None:
        """Neither the table nor the model holds a negative balance."""
        balances = self._run(self.db.all(_BALANCES))

        assert all(amount >= 0 for _, amount in balances)
        assert all(amount >= 0 for amount in self.model.balances.values())

    @invariant()
    def rounds_are_the_models(self) -> None:
        """Every round the ledger opened or closed is one the model expects so."""
        rows = self._run(self.db.all("SELECT provider, round_id, closed FROM rounds"))

        assert {(p, r): bool(closed) for p, r, closed in rows} == self.model.rounds

    def _play(
        self,
        provider: str,
        player: str,
        round_choice: str,
        specs: list[tuple[str, int, int]],
        closing: bool,
    ) -> WalletOutcome:
        """Send one request of operations built from (kind, amount, pick) specs."""
        operations: list[WalletOperation] = []
        for kind, amount, pick in specs:
            if kind == "again" and operations:
                operations.append(operations[-1])
                continue
            # The player's ids the ledger has seen, then this request's so far.
            seen = self._ids(provider, player)
            seen += [op.transaction_id for op in operations]
            operations.append(self._operation(provider, kind, amount, pick, seen))
        request = self._request(provider, player, round_choice, tuple(operations))

        return self._send(provider, replace(request, round_closed=closing))

    def _operation(
        self, provider: str, kind: str, amount: int, pick: int, seen: list[str]
    ) -> WalletOperation:
        """Build one operation; a pick chooses among seen ids, newest first."""
        transaction_id = self._fresh_id(provider)
        named = _pick(seen, pick) or self._fresh_id(provider)
        if kind == "credit":
            return _credit(transaction_id, amount)
        if kind == "credit_on":
            return _credit(transaction_id, amount, reference=named)
        if kind == "rollback":
            return _rollback(transaction_id, named)
        if kind == "rollback_unknown":
            return _rollback(transaction_id, self._fresh_id(provider))
        if kind == "end_round":
            return WalletOperation(
                operation=Operation.END_ROUND, transaction_id=transaction_id
            )
        if kind == "unnamed_end_round":
            return WalletOperation(operation=Operation.END_ROUND)
        if kind == "unnamed_debit":
            return _debit("", amount)
        if kind == "names_itself":
            return _rollback(transaction_id, transaction_id)
        if kind == "late":
            void = _pick([key for key in self._voids() if key[0] == provider], pick)
            transaction_id = transaction_id if void is None else void[1]

        return _debit(transaction_id, amount)

    def _request(
        self,
        provider: str,
        player: str,
        round_choice: str,
        operations: tuple[WalletOperation, ...],
    ) -> WalletRequest:
        """Build a request of the player's in a round of theirs, or in none."""
        if round_choice == "new":
            self.rounds[(provider, player)] += 1
        round_id = f"{player}-r{self.rounds[(provider, player)]}"

        return WalletRequest(
            player=player_ref(OPERATOR, player),
            currency=CURRENCY,
            game=GAME,
            round_id=None if round_choice == "none" else round_id,
            operations=operations,
        )

    def _transfer(
        self, player: str, operation: Operation, amount: int, reference: str
    ) -> None:
        """Move money as the operator, through the ledger's own transfer."""
        kind = CreditKind.ADJUSTMENT if operation is Operation.CREDIT else None
        op = WalletOperation(
            operation=operation,
            transaction_id=reference,
            amount=amount,
            credit_kind=kind,
        )
        request = WalletRequest(
            player=player_ref(OPERATOR, player), currency=CURRENCY, operations=(op,)
        )
        call = self.ledger.transfer(
            OPERATOR,
            player,
            operation=operation,
            amount=amount,
            currency=CURRENCY,
            reference=reference,
        )

        self._send(FUNDING, request, call)

    def _send(
        self,
        provider: str,
        request: WalletRequest,
        call: Coroutine[Any, Any, WalletOutcome] | None = None,
    ) -> WalletOutcome:
        """Send a request to the ledger and hold its answer to the model's."""
        before = self._snapshot()
        predicted = self.model.apply(provider, request)
        if call is None:
            call = self.ledger.apply(provider, PROFILES[provider], request)
        outcome = self._run(call)
        self.history.append((provider, request))

        assert outcome.status is predicted.status, (predicted, outcome)
        assert outcome.balance == predicted.balance
        assert outcome.currency == request.currency
        if not predicted.writes:
            assert outcome.failed_transaction_id == predicted.failed_transaction_id
            assert outcome.operations == ()
            assert self._snapshot() == before, "a refused request wrote something"
        else:
            self._check_operations(provider, request, predicted, outcome)

        return outcome

    def _check_operations(
        self,
        provider: str,
        request: WalletRequest,
        predicted: _Prediction,
        outcome: WalletOutcome,
    ) -> None:
        """Check each operation's answer: new ids are new, replays repeat the first."""
        sent = [op.transaction_id for op in request.operations]
        assert [answered.transaction_id for answered in outcome.operations] == sent

        for answered, replay in zip(outcome.operations, predicted.replays, strict=True):
            assert answered.replay is replay
            if not answered.transaction_id:
                assert answered.gateway_transaction_id == ""  # an end, not recorded
                continue
            key = (provider, answered.transaction_id)
            row = self.model.rows[key]
            if replay:
                assert answered.gateway_transaction_id == row.gateway_id
                assert answered.processed_at == row.answered_at
                continue
            assert answered.gateway_transaction_id not in self.gateway_ids
            self.gateway_ids.add(answered.gateway_transaction_id)
            self.model.rows[key] = replace(
                row,
                gateway_id=answered.gateway_transaction_id,
                answered_at=answered.processed_at,
            )

    def _fresh_id(self, provider: str) -> str:
        # Ids count up per provider, so the two providers use the same ids.
        return f"t{next(self.fresh_ids[provider])}"

    def _ids(
        self, provider: str, player: str | None, operation: str | None = None
    ) -> list[str]:
        return [
            transaction_id
            for (p, transaction_id), row in self.model.rows.items()
            if p == provider
            and player in (None, row.player)
            and operation in (None, row.operation)
        ]

    def _voids(self) -> list[Key]:
        return [key for key, row in self.model.rows.items() if row.content is None]

    def _answered(self) -> list[Key]:
        return [key for key, row in self.model.rows.items() if row.sent is not None]

    def _rows(self) -> dict[Key, _Stored]:
        rows = self._run(self.db.all(_TRANSACTIONS))
        return {(row[0], row[1]): _Stored(*row[2:]) for row in rows}

    def _snapshot(self) -> tuple[list[tuple[Any, ...]], ...]:
        """Return everything a request may write: transactions, rounds, balances."""
        return tuple(
            self._run(self.db.all(f"SELECT * FROM {table} ORDER BY 1, 2"))
            for table in ("transactions", "rounds", "balances")
        )

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(call)


def _applied_in_table(rows: dict[Key, _Stored], player: str) -> int:
    """Sum a player's credits less debits still applied; undone ones net to zero."""
    total = 0
    for row in rows.values():
        if row.player == player and row.state == APPLIED:
            if row.operation == Operation.CREDIT:
                total += row.amount
            elif row.operation == Operation.DEBIT:
                total -= row.amount

    return total


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Make a URL per state machine run: a new SQLite file, or the test's schema."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")  # skipped without a DSN
        return lambda: url
    numbers = itertools.count()

    return lambda: f"sqlite:///{tmp_path / f'ledger-{next(numbers)}.db'}"


def test_any_interleaving_keeps_every_money_rule(fresh_url: Callable[[], str]) -> None:
    """Any interleaving of requests is answered as the rules say, conserving money."""
    run_state_machine_as_test(
        # Typed as wanting the class, it calls any factory of a machine.
        lambda: LedgerMachine(fresh_url()),  # type: ignore[arg-type]
        settings=SETTINGS,
    )


async def test_the_balances_table_refuses_a_balance_below_zero(
    ledger: Ledger, db: database.Database
) -> None:
    """The database itself refuses a negative balance, whatever the ledger does."""
    await ledger.open_account(OPERATOR, "p0", CURRENCY)

    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.CheckViolation)):
        async with db.transaction() as tx:
            await tx.run("UPDATE balances SET amount = ?", -1)


async def test_replay_of_an_original_after_its_rollback_answers_its_time(
    ledger: Ledger,
) -> None:
    """A debit that came after its rollback is replayed with its first answer."""
    await _fund(ledger, 1000)
    await _apply(ledger, "studio-a", _rollback("t0", "t1"))

    first = await _apply(ledger, "studio-a", _debit("t1", 100))
    again = await _apply(ledger, "studio-a", _debit("t1", 100))

    assert again.operations[0].replay
    assert again.operations[0].gateway_transaction_id == (
        first.operations[0].gateway_transaction_id
    )
    assert again.operations[0].processed_at == first.operations[0].processed_at


async def test_a_request_answered_other_than_ok_moves_nothing(ledger: Ledger) -> None:
    """A request answered other than OK moves no money, whatever it holds."""
    await _fund(ledger, 1000)

    outcome = await _apply(ledger, "studio-b", _debit("t0", 100), _rollback("t1", "t2"))
    balance = await ledger.balance(OPERATOR, "p0", CURRENCY)

    assert outcome.status is Status.OK or balance == 1000


@pytest.mark.parametrize(
    ("operations", "statuses"),
    [
        pytest.param(
            [_rollback("t0", "t0")], [Status.BAD_REQUEST], id="rollback-naming-itself"
        ),
        pytest.param(
            [WalletOperation(operation=Operation.END_ROUND)] * 2,
            [Status.OK, Status.OK],
            id="end-rounds-without-ids",
        ),
        pytest.param([_debit("", 0)], [Status.BAD_REQUEST], id="debit-without-id"),
    ],
)
async def test_every_request_is_answered_not_raised(
    ledger: Ledger, operations: list[WalletOperation], statuses: list[Status]
) -> None:
    """A malformed operation is answered, once or again, and never raises."""
    await ledger.open_account(OPERATOR, "p0", CURRENCY)

    outcomes = [
        await ledger.apply(
            "studio-a", PROFILES["studio-a"], _callback(op, round_id=f"r{n}")
        )
        for n, op in enumerate(operations)
    ]

    assert [outcome.status for outcome in outcomes] == statuses
