"""Operator wallet mode: every ledger rule holds while the casino keeps balances.

The casino's wallet is the reference wallet from `examples/operator_wallet`,
served on loopback over real signed HTTP; the ledger runs on the test
database (SQLite, and PostgreSQL when configured).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from contracts.wallet import (
    CreditKind,
    Operation,
    Profile,
    Status,
    WalletOperation,
    WalletOutcome,
    WalletRequest,
)
from examples.operator_wallet import WALLET, create_app, serve
from gateway.db import Database
from gateway.ledger import Ledger, player_ref
from gateway.operator_wallet import (
    OperatorWalletClient,
    WalletAnswer,
    WalletUnavailable,
)
from gateway.settlement import RemoteWallet

SECRET = "operator-wallet-test-secret"
PROVIDER = "studio-direct"
PROFILE = Profile()
PLAYER = player_ref("casino-a", "player-1")


@dataclass
class Casino:
    """The ledger in operator mode, and the casino's wallet behind it."""

    ledger: Ledger
    app: web.Application
    remote: RemoteWallet
    url: str

    async def balance(self) -> int | None:
        """Return the player's balance as the casino's wallet holds it."""
        return await self.ledger.balance("casino-a", "player-1", "EUR")

    async def apply(self, *ops: WalletOperation, **fields: object) -> WalletOutcome:
        """Apply a request of the test player in round r1 unless told otherwise."""
        values: dict[str, object] = {
            "player": PLAYER,
            "currency": "EUR",
            "round_id": "r1",
            "game": "studio:game",
            "operations": ops,
        }
        values.update(fields)
        request = WalletRequest(**values)  # type: ignore[arg-type]
        return await self.ledger.apply(PROVIDER, PROFILE, request)


@pytest.fixture
async def casino(db: Database, tmp_path: Path) -> AsyncIterator[Casino]:
    """A funded player at the reference wallet and the ledger in operator mode."""
    app = create_app(SECRET, str(tmp_path / "wallet.db"))
    async with serve(app) as url:
        client = OperatorWalletClient(url, SECRET, deadline=0.5, attempts=2)
        remote = RemoteWallet(db, client)
        await remote.start()
        app[WALLET].store.set_player("casino-a", "player-1", "EUR", 1000, False)
        ledger = Ledger(db, remote)
        await ledger.open_account("casino-a", "player-1", "EUR")
        yield Casino(ledger, app, remote, url)
        await remote.close()


def debit(tx: str, amount: int) -> WalletOperation:
    """Return a debit operation."""
    return WalletOperation(operation=Operation.DEBIT, transaction_id=tx, amount=amount)


def credit(tx: str, amount: int) -> WalletOperation:
    """Return a win credit."""
    return WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=tx,
        amount=amount,
        credit_kind=CreditKind.WIN,
    )


def rollback(tx: str, original: str) -> WalletOperation:
    """Return a rollback of `original`."""
    return WalletOperation(
        operation=Operation.ROLLBACK,
        transaction_id=tx,
        reference_transaction_id=original,
    )


async def states(db: Database) -> dict[str, str]:
    """Return each provider transaction id's ledger state."""
    rows = await db.all(
        "SELECT provider_transaction_id, state FROM transactions WHERE provider = ?",
        PROVIDER,
    )
    return {tx: state for tx, state in rows}


async def test_debit_and_credit_move_money_in_the_casinos_wallet(
    casino: Casino,
) -> None:
    """A bet and its win move the casino's balance and answer its balance."""
    outcome = await casino.apply(debit("b1", 300), credit("w1", 500), round_closed=True)

    assert outcome.status is Status.OK
    assert outcome.balance == 1200
    assert await casino.balance() == 1200


async def test_replay_in_operator_mode_calls_the_wallet_once_and_moves_no_money(
    casino: Casino,
) -> None:
    """A replayed debit is answered from the ledger; the wallet moves money once."""
    first = await casino.apply(debit("b1", 300))
    calls = casino.app[WALLET].faults.calls

    again = await casino.apply(debit("b1", 300))

    assert again.operations[0].replay
    assert (
        again.operations[0].gateway_transaction_id
        == first.operations[0].gateway_transaction_id
    )
    assert await casino.balance() == 700
    assert casino.app[WALLET].faults.calls - calls <= 2  # a balance read, no debit


async def test_mismatch_in_operator_mode_is_refused_before_the_wallet(
    casino: Casino,
) -> None:
    """The same id with other content is refused and the wallet is not asked."""
    await casino.apply(debit("b1", 300))
    calls = casino.app[WALLET].faults.calls

    outcome = await casino.apply(debit("b1", 999))

    assert outcome.status is Status.TRANSACTION_MISMATCH
    assert casino.app[WALLET].faults.calls == calls
    assert await casino.balance() == 700


async def test_insufficient_funds_at_the_wallet_writes_nothing(
    casino: Casino, db: Database
) -> None:
    """A debit the casino refuses leaves no ledger row and closes no round."""
    outcome = await casino.apply(debit("b1", 5000), round_closed=True)
    retry = await casino.apply(debit("b2", 100))

    assert outcome.status is Status.INSUFFICIENT_FUNDS
    assert "b1" not in await states(db)
    assert retry.status is Status.OK
    assert await casino.balance() == 900


async def test_refused_request_in_operator_mode_undoes_its_earlier_debits(
    casino: Casino, db: Database
) -> None:
    """When a request's second debit is refused, its first one is undone too."""
    outcome = await casino.apply(debit("b1", 600), debit("b2", 600))

    assert outcome.status is Status.INSUFFICIENT_FUNDS
    assert outcome.failed_transaction_id == "b2"
    assert await states(db) == {}
    assert await casino.balance() == 1000


async def test_rollback_in_operator_mode_returns_the_money_once(casino: Casino) -> None:
    """A rollback returns the debit at the wallet once; its replay moves nothing."""
    await casino.apply(debit("b1", 300))

    first = await casino.apply(rollback("rb1", "b1"))
    again = await casino.apply(rollback("rb1", "b1"))

    assert first.status is again.status is Status.OK
    assert again.operations[0].replay
    assert await casino.balance() == 1000


async def test_unknown_rollback_in_operator_mode_voids_the_late_debit(
    casino: Casino,
) -> None:
    """A rollback before its debit is remembered; the late debit moves nothing."""
    rolled = await casino.apply(rollback("rb1", "b1"))
    late = await casino.apply(debit("b1", 300))

    assert rolled.status is late.status is Status.OK
    assert await casino.balance() == 1000


async def test_debit_answered_after_deadline_is_retryable_and_rollback_returns_it_once(
    casino: Casino, db: Database
) -> None:
    """A debit whose answer comes too late is resolved once by the rollback."""
    casino.app[WALLET].faults.delay_seconds = 1.0

    late = await casino.apply(debit("b1", 300))
    casino.app[WALLET].faults.delay_seconds = 0.0
    rolled = await casino.apply(rollback("rb1", "b1"))
    again = await casino.apply(rollback("rb1", "b1"))

    assert late.status is Status.RETRYABLE_ERROR
    assert late.retry
    assert rolled.status is again.status is Status.OK
    assert await casino.balance() == 1000
    assert (await states(db))["b1"] == "rolled_back"


async def test_debit_answered_after_deadline_is_resolved_once_by_the_retry(
    casino: Casino, db: Database
) -> None:
    """The provider's retry of an unanswered debit sends the same key again."""
    casino.app[WALLET].faults.delay_seconds = 1.0
    late = await casino.apply(debit("b1", 300))
    casino.app[WALLET].faults.delay_seconds = 0.0

    retried = await casino.apply(debit("b1", 300))
    again = await casino.apply(debit("b1", 300))

    assert late.status is Status.RETRYABLE_ERROR
    assert retried.status is again.status is Status.OK
    assert await casino.balance() == 700
    assert (await states(db))["b1"] == "applied"


async def test_wallet_failure_leaves_the_debit_pending_for_reconcile(
    casino: Casino, db: Database
) -> None:
    """A debit that failed at the wallet is fenced by reconcile and forgotten."""
    casino.app[WALLET].faults.fail_next = 5

    failed = await casino.apply(debit("b1", 300))
    casino.app[WALLET].faults.fail_next = 0
    done = await casino.remote.reconcile(timedelta(0))
    retried = await casino.apply(debit("b1", 300))

    assert failed.status is Status.RETRYABLE_ERROR
    assert done.fenced == 1
    assert retried.status is Status.OK
    assert not retried.operations[0].replay
    assert await casino.balance() == 700


async def test_reconcile_marks_a_late_applied_debit_as_applied(
    casino: Casino, db: Database
) -> None:
    """A debit the wallet applied after the deadline is recorded as applied."""
    casino.app[WALLET].faults.delay_seconds = 1.0
    await casino.apply(debit("b1", 300))
    casino.app[WALLET].faults.delay_seconds = 0.0

    done = await casino.remote.reconcile(timedelta(0))
    replay = await casino.apply(debit("b1", 300))

    assert done.applied == 1
    assert (await states(db))["b1"] == "applied"
    assert replay.operations[0].replay
    assert await casino.balance() == 700


async def test_unanswered_credit_is_completed_by_reconcile(
    casino: Casino, db: Database
) -> None:
    """A win whose answer never came is paid exactly once by reconcile."""
    await casino.apply(debit("b1", 300))
    casino.app[WALLET].faults.fail_next = 5
    await casino.apply(credit("w1", 500))
    casino.app[WALLET].faults.fail_next = 0

    done = await casino.remote.reconcile(timedelta(0))
    again = await casino.remote.reconcile(timedelta(0))

    assert done.applied == 1
    assert again.applied == 0
    assert await casino.balance() == 1200


async def test_closed_round_in_operator_mode_takes_no_new_money(casino: Casino) -> None:
    """A round closed after a settled request refuses new debits."""
    await casino.apply(debit("b1", 100), round_closed=True)

    late = await casino.apply(debit("b2", 100))

    assert late.status is Status.ROUND_CLOSED
    assert await casino.balance() == 900


class UndoFails(OperatorWalletClient):
    """The real client, except that undo calls fail while `failing` is set."""

    failing = True

    async def rollback(self, **fields: Any) -> WalletAnswer:  # type: ignore[override]
        """Fail an undo as an unreachable wallet would; send anything else."""
        if self.failing and str(fields["idempotency_key"]).endswith(":undo"):
            raise WalletUnavailable("/rollback", "injected for the test")
        return await super().rollback(**fields)


async def test_unknown_undo_of_a_refused_request_is_retryable_and_finished_once(
    casino: Casino, db: Database
) -> None:
    """A refused request whose undo went unanswered is retried, never half-paid."""
    faulty = UndoFails(casino.url, SECRET, deadline=0.5, attempts=1)
    remote = RemoteWallet(db, faulty)
    await remote.start()
    ledger = Ledger(db, remote)
    twice = WalletRequest(
        player=PLAYER,
        currency="EUR",
        round_id="r1",
        operations=(debit("b1", 300), debit("b2", 5000)),
    )

    first = await ledger.apply(PROVIDER, PROFILE, twice)
    while_undoing = await ledger.apply(PROVIDER, PROFILE, twice)
    faulty.failing = False
    done = await remote.reconcile(timedelta(0))
    judged_again = await ledger.apply(PROVIDER, PROFILE, twice)
    await remote.close()

    assert first.status is Status.RETRYABLE_ERROR
    assert while_undoing.status is Status.RETRYABLE_ERROR
    assert done.fenced == 1
    assert judged_again.status is Status.INSUFFICIENT_FUNDS
    assert await states(db) == {}
    assert await casino.balance() == 1000


async def test_retry_while_reconcile_fences_is_told_to_come_back(
    casino: Casino, db: Database
) -> None:
    """A provider retry never gets OK for a debit that reconcile is fencing."""
    casino.app[WALLET].faults.fail_next = 5
    await casino.apply(debit("b1", 1000))
    casino.app[WALLET].faults.fail_next = 0
    casino.app[WALLET].faults.delay_seconds = 0.4

    reconciling = asyncio.create_task(casino.remote.reconcile(timedelta(0)))
    await asyncio.sleep(0.1)
    during = await casino.apply(debit("b1", 1000))
    done = await reconciling
    casino.app[WALLET].faults.delay_seconds = 0.0
    after = await casino.apply(debit("b1", 1000))

    assert during.status is Status.RETRYABLE_ERROR
    assert done.fenced == 1
    assert after.status is Status.OK
    assert await casino.balance() == 0
    assert (await states(db))["b1"] == "applied"


async def test_two_processes_in_operator_mode_keep_one_players_requests_in_order(
    postgres_url: str, tmp_path: Path
) -> None:
    """Gateways sharing PostgreSQL settle a win racing its bet's rollback once."""
    from gateway import db as database

    database.upgrade(postgres_url)
    first_db, second_db = Database(postgres_url), Database(postgres_url)
    await first_db.open()
    await second_db.open()
    app = create_app(SECRET, str(tmp_path / "wallet.db"))
    outcomes: list[tuple[Status, Status]] = []
    async with serve(app) as url:
        remotes = [
            RemoteWallet(pool, OperatorWalletClient(url, SECRET, deadline=2.0))
            for pool in (first_db, second_db)
        ]
        for remote in remotes:
            await remote.start()
        app[WALLET].store.set_player("casino-a", "player-1", "EUR", 10_000, False)
        first, second = (
            Ledger(pool, remote)
            for pool, remote in zip((first_db, second_db), remotes, strict=True)
        )
        await first.open_account("casino-a", "player-1", "EUR")
        for number in range(10):
            round_id = f"r{number}"
            bet = WalletRequest(
                player=PLAYER,
                currency="EUR",
                round_id=round_id,
                operations=(debit(f"b{number}", 100),),
            )
            await first.apply(PROVIDER, PROFILE, bet)
            win = WalletRequest(
                player=PLAYER,
                currency="EUR",
                round_id=round_id,
                round_closed=True,
                operations=(
                    WalletOperation(
                        operation=Operation.CREDIT,
                        transaction_id=f"w{number}",
                        amount=500,
                        credit_kind=CreditKind.WIN,
                        reference_transaction_id=f"b{number}",
                    ),
                ),
            )
            undo = WalletRequest(
                player=PLAYER,
                currency="EUR",
                round_id=round_id,
                operations=(rollback(f"rb{number}", f"b{number}"),),
            )
            paid, rolled = await asyncio.gather(
                first.apply(PROVIDER, PROFILE, win),
                second.apply(PROVIDER, PROFILE, undo),
            )
            outcomes.append((paid.status, rolled.status))
        balance = await first.balance("casino-a", "player-1", "EUR")
        for remote in remotes:
            await remote.close()
    await first_db.close()
    await second_db.close()

    assert all(
        (paid is Status.OK) != (rolled is Status.OK) for paid, rolled in outcomes
    )
    wins = sum(paid is Status.OK for paid, _ in outcomes)
    assert balance == 10_000 + 400 * wins
