"""The outbox: every payment state change told to the casino, until it is heard.

A move writes its notification in the same transaction (`store.apply`), so
none is lost to a crash; the rows are the queue and survive a restart. The
`Notifier` delivers due rows to `payments.notify.url`, signed like the
operator wallet contract: `X-Gamegate-Timestamp` (unix seconds) and
`X-Gamegate-Signature`, the hex HMAC-SHA256 of `{timestamp}.` and the body,
with the notification's id in `X-Gamegate-Notification-Id`. A 2xx answer
delivers it; anything else (a refusal, an error, a timeout) is tried again
after `backoff_seconds * 2**attempts`, capped at `max_backoff_seconds` and
jittered, for as long as it takes.

Notifications of one payment are delivered in order: a row waits while an
earlier one of its payment is undelivered. A row is claimed before it is
sent (its next attempt pushed past the delivery's timeout, compare-and-set),
so gateway processes sharing a database do not send it twice at once; the
casino still deduplicates on the notification id, since a delivery whose
answer was lost is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import structlog

from gateway import clock
from gateway.db import Database
from gateway.operator_wallet import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from gateway.payments.config import NotifyConfig, OutboxConfig, PaymentsConfig

log = structlog.get_logger(__name__)

NOTIFICATION_HEADER = "X-Gamegate-Notification-Id"

_DUE = (
    "SELECT o.id, o.notification_id, o.payload, o.attempts, o.next_attempt_at"
    " FROM outbox o WHERE o.delivered_at IS NULL AND o.next_attempt_at <= ?"
    " AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.payment_id = o.payment_id"
    " AND e.delivered_at IS NULL AND e.id < o.id) ORDER BY o.id LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class _Due:
    id: int
    notification_id: str
    payload: str
    attempts: int
    next_attempt_at: str


def backoff(
    outbox: OutboxConfig, attempts: int, rand: Callable[[], float] = random.random
) -> float:
    """Return the wait before the next try after `attempts` failed ones."""
    ceiling = min(outbox.max_backoff_seconds, outbox.backoff_seconds * 2**attempts)

    return float(ceiling * (0.5 + rand() / 2))


class Notifier:
    """Delivers the outbox to the casino: once with `deliver_due`, or in a loop.

    `settings` returns the `payments` config in force, read on every pass so
    a reload changes the URL or the secret for the next delivery. `before`
    runs at the start of each pass of the loop (the payments' sweep).
    """

    def __init__(
        self,
        db: Database,
        settings: Callable[[], PaymentsConfig],
        before: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._before = before
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Ask the loop for a pass now: a notification was just enqueued."""
        self._wake.set()

    async def start(self) -> None:
        """Start delivering in the background until `stop`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop and close the HTTP client; undelivered rows stay."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def deliver_due(self) -> int:
        """Send every notification due now, once each; return how many arrived."""
        settings = self._settings()
        if settings.notify is None:
            return 0
        now = clock.now()
        rows = await self._db.all(_DUE, clock.to_text(now), settings.outbox.batch)
        due = [_Due(*row) for row in rows]
        lease = now + timedelta(seconds=settings.outbox.timeout_seconds + 5)
        claimed = [row for row in due if await self._claim(row, lease)]
        results = await asyncio.gather(
            *(self._deliver(row, settings.notify, settings.outbox) for row in claimed)
        )

        return sum(results)

    async def _run(self) -> None:
        while True:
            try:
                if self._before is not None:
                    await self._before()
                await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("payment.outbox.pass_failed")
            self._wake.clear()
            poll = self._settings().outbox.poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll)

    async def _claim(self, row: _Due, lease: datetime) -> bool:
        async with self._db.transaction() as tx:
            changed = await tx.run(
                "UPDATE outbox SET next_attempt_at = ? WHERE id = ?"
                " AND next_attempt_at = ? AND delivered_at IS NULL",
                clock.to_text(lease),
                row.id,
                row.next_attempt_at,
            )
        return bool(changed)

    async def _deliver(
        self, row: _Due, notify: NotifyConfig, outbox: OutboxConfig
    ) -> bool:
        body = row.payload.encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(notify.secret.get_secret_value(), timestamp, body),
            NOTIFICATION_HEADER: row.notification_id,
        }
        error = None
        try:
            async with self._client().post(
                notify.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=outbox.timeout_seconds),
            ) as answer:
                await answer.read()
                if 200 <= answer.status < 300:
                    await self._delivered(row)
                    return True
                error = f"HTTP {answer.status}"
        except (aiohttp.ClientError, TimeoutError) as failure:
            error = f"{type(failure).__name__}: {failure}"[:200]

        await self._failed(row, error, outbox)
        return False

    async def _delivered(self, row: _Due) -> None:
        async with self._db.transaction() as tx:
            await tx.run(
                "UPDATE outbox SET delivered_at = ?, attempts = ?, last_error = NULL"
                " WHERE id = ?",
                clock.to_text(clock.now()),
                row.attempts + 1,
                row.id,
            )
        log.info("payment.outbox.delivered", notification_id=row.notification_id)

    async def _failed(self, row: _Due, error: str, outbox: OutboxConfig) -> None:
        wait = backoff(outbox, row.attempts)
        next_at = clock.now() + timedelta(seconds=wait)
        async with self._db.transaction() as tx:
            await tx.run(
                "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ?"
                " WHERE id = ? AND delivered_at IS NULL",
                row.attempts + 1,
                clock.to_text(next_at),
                error,
                row.id,
            )
        log.warning(
            "payment.outbox.retry",
            notification_id=row.notification_id,
            attempts=row.attempts + 1,
            wait=round(wait, 3),
            error=error,
        )

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session
