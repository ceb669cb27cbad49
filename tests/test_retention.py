"""Retention: settled history past the period is pruned, everything else kept."""

from __future__ import annotations

from datetime import timedelta

from contracts.wallet import Operation, Profile, WalletOperation, WalletRequest
from gateway import clock
from gateway.db import Database
from gateway.ledger import Ledger, player_ref
from gateway.retention import DEFAULT_RETENTION_DAYS, prune

PLAYER = player_ref("casino-a", "player-1")


def bet(tx: str, round_id: str, closed: bool) -> WalletRequest:
    """Return a request with one debit in a round."""
    return WalletRequest(
        player=PLAYER,
        currency="EUR",
        round_id=round_id,
        round_closed=closed,
        operations=(
            WalletOperation(operation=Operation.DEBIT, transaction_id=tx, amount=10),
        ),
    )


async def age(db: Database, days: int) -> None:
    """Make every transaction and closed round `days` old."""
    old = clock.to_text(clock.now() - timedelta(days=days))
    async with db.transaction() as tx:
        await tx.run("UPDATE transactions SET processed_at = ?", old)
        await tx.run("UPDATE rounds SET closed_at = ? WHERE closed = ?", old, True)


async def test_default_retention_is_well_past_four_months() -> None:
    """Rows are kept for more than a year unless configured otherwise."""
    assert DEFAULT_RETENTION_DAYS > 365


async def test_prune_removes_settled_history_older_than_retention(
    ledger: Ledger, db: Database
) -> None:
    """Old settled rounds go; old open rounds and voids stay; balances stay."""
    await ledger.transfer(
        "casino-a",
        "player-1",
        operation=Operation.CREDIT,
        amount=100,
        currency="EUR",
        reference="f1",
    )
    profile = Profile()
    await ledger.apply("studio", profile, bet("settled", "r1", closed=True))
    await ledger.apply("studio", profile, bet("open", "r2", closed=False))
    rollback = WalletOperation(
        operation=Operation.ROLLBACK,
        transaction_id="rb",
        reference_transaction_id="gone",
    )
    await ledger.apply(
        "studio",
        profile,
        WalletRequest(
            player=PLAYER, currency="EUR", round_id="r3", operations=(rollback,)
        ),
    )
    await age(db, DEFAULT_RETENTION_DAYS + 1)

    pruned = await prune(db, DEFAULT_RETENTION_DAYS)

    kept = {
        tx for (tx,) in await db.all("SELECT provider_transaction_id FROM transactions")
    }
    assert pruned.rounds == 1
    assert "settled" not in kept
    assert {"open", "gone"} <= kept
    assert await ledger.balance("casino-a", "player-1", "EUR") == 80


async def test_prune_keeps_history_inside_retention(
    ledger: Ledger, db: Database
) -> None:
    """Nothing younger than the retention period is removed."""
    await ledger.transfer(
        "casino-a",
        "player-1",
        operation=Operation.CREDIT,
        amount=100,
        currency="EUR",
        reference="f1",
    )
    await ledger.apply("studio", Profile(), bet("settled", "r1", closed=True))

    pruned = await prune(db, DEFAULT_RETENTION_DAYS)

    assert pruned.transactions == 0
    assert pruned.rounds == 0
