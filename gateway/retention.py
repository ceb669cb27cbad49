"""How long the ledger keeps its rows, and the pruning that enforces it.

Aggregators ask for four months of history for reconciliation; the default
keeps more than a year. Only settled history is pruned: a transaction in a
round that is still open, or a void waiting for its original, is kept.
Pruning a transaction also forgets its idempotency key, so a provider that
replays a pruned transaction after the retention period would be applied
again; keep the period far beyond any provider's retry window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway import clock
from gateway.db import Database

DEFAULT_RETENTION_DAYS = 400


@dataclass(frozen=True, slots=True)
class Pruned:
    """How many rows one pruning removed, by table."""

    transactions: int
    rounds: int
    sessions: int


async def prune(db: Database, days: int, now: datetime | None = None) -> Pruned:
    """Delete settled transactions, closed rounds and sessions older than `days`."""
    cutoff = clock.to_text((now or clock.now()) - timedelta(days=days))
    async with db.transaction() as tx:
        transactions = await tx.run(
            "DELETE FROM transactions WHERE processed_at < ? AND state <> 'void'"
            " AND NOT EXISTS (SELECT 1 FROM rounds r WHERE r.provider ="
            " transactions.provider AND r.round_id = transactions.round_id"
            " AND r.closed = ?)",
            cutoff,
            False,
        )
        rounds = await tx.run(
            "DELETE FROM rounds WHERE closed = ? AND closed_at < ?", True, cutoff
        )
        sessions = await tx.run(
            "DELETE FROM game_sessions WHERE expires_at < ?", cutoff
        )

    return Pruned(transactions=transactions, rounds=rounds, sessions=sessions)
