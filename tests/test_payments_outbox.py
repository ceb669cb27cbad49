"""The casino's notifications: signed, retried with backoff, never lost.

A real casino endpoint on loopback answers 503 for a while; the gateway
keeps the notifications in the outbox until they are delivered, across a
restart of the gateway on the same database, in order per payment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from payment_fakes import (
    NOTIFY_SECRET,
    config_data,
    eventually,
    running_casino,
    running_gateway,
    succeed,
    verifies,
)

from contracts.money import CurrencyTable, Money
from contracts.payments import PaymentKind, PaymentMethod, PaymentState
from examples.payments_fake import FakeProvider, run_provider
from gateway.db import Database
from gateway.payments.config import OutboxConfig, PaymentsConfig
from gateway.payments.outbox import Notifier, backoff
from gateway.payments.store import Change, NewPayment, PaymentStore

SECRET = "provider-secret-0123456789"


@pytest.fixture
async def fake_a() -> AsyncIterator[FakeProvider]:
    """A fake provider."""
    async with run_provider(SECRET) as provider:
        yield provider


async def _undelivered(db: Database) -> int:
    row = await db.one("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
    assert row is not None
    return int(row[0])


async def test_a_casino_down_for_a_while_gets_every_notification(
    db: Database, fake_a: FakeProvider
) -> None:
    """Six 503s in a row delay the notifications; none is lost, all verify."""
    async with running_casino(failures=6) as casino:
        data = config_data(db.url, {"fake-a": fake_a.url}, notify_url=casino.url)
        async with running_gateway(data) as gateway:
            payment_id = (await gateway.deposit()).json()["id"]
            await succeed(gateway, fake_a, "fake-a", payment_id)

            async def delivered() -> bool:
                return len(casino.received) == 2

            await eventually(delivered)

    documents = casino.documents()
    assert casino.refused == 6
    assert [d["payment"]["state"] for d in documents] == [
        "requires_action",
        "succeeded",
    ]
    assert all(verifies(headers, body) for headers, body in casino.received)
    row = await db.one("SELECT max(attempts) FROM outbox")
    assert row is not None and int(row[0]) >= 4


async def test_notifications_survive_a_gateway_restart(
    db: Database, fake_a: FakeProvider
) -> None:
    """Rows left undelivered are sent by a new gateway on the same database."""
    async with running_casino(failures=10**6) as casino:
        data = config_data(db.url, {"fake-a": fake_a.url}, notify_url=casino.url)
        async with running_gateway(data) as first:
            payment_id = (await first.deposit()).json()["id"]
            await succeed(first, fake_a, "fake-a", payment_id)

            async def tried() -> bool:
                return casino.refused >= 2

            await eventually(tried)
        assert await _undelivered(db) == 2

        casino.failures = 0
        async with running_gateway(data):

            async def delivered() -> bool:
                return await _undelivered(db) == 0

            await eventually(delivered)

    assert [d["payment"]["id"] for d in casino.documents()] == [payment_id] * 2
    assert [d["sequence"] for d in casino.documents()] == sorted(
        d["sequence"] for d in casino.documents()
    )


async def test_a_notification_names_the_change(
    db: Database, fake_a: FakeProvider
) -> None:
    """Each notification carries the payment, its new and previous state."""
    async with running_casino() as casino:
        data = config_data(db.url, {"fake-a": fake_a.url}, notify_url=casino.url)
        async with running_gateway(data) as gateway:
            payment_id = (await gateway.deposit()).json()["id"]

            async def delivered() -> bool:
                return len(casino.received) == 1

            await eventually(delivered)

    headers, _ = casino.received[0]
    document = casino.documents()[0]
    assert document["type"] == "payment.state_changed"
    assert document["payment"]["id"] == payment_id
    assert (document["payment"]["previous_state"], document["payment"]["state"]) == (
        "created",
        "requires_action",
    )
    assert headers["X-Gamegate-Notification-Id"] == document["id"]


async def test_deliver_due_runs_once_on_its_own(db: Database) -> None:
    """`deliver_due` sends what is due in one pass, without the background loop."""
    store = PaymentStore(db, builtin=False, currencies=CurrencyTable)
    payment, _ = await store.claim(
        NewPayment(
            kind=PaymentKind.DEPOSIT,
            operator="casino-a",
            player="player-1",
            amount=Money(500, "EUR"),
            method=PaymentMethod.CARD,
            country=None,
            reference="r",
            idempotency_key="k",
            request={"reference": "r"},
        )
    )
    await store.apply(payment.id, Change(target=PaymentState.PENDING, source="test"))

    async with running_casino(failures=1) as casino:
        settings = PaymentsConfig.model_validate(
            {"notify": {"url": casino.url, "secret": NOTIFY_SECRET}}
        )
        notifier = Notifier(db, lambda: settings)
        try:
            assert await notifier.deliver_due() == 0
            await db_due_now(db)
            assert await notifier.deliver_due() == 1
            assert await notifier.deliver_due() == 0
        finally:
            await notifier.stop()

    assert await _undelivered(db) == 0


async def db_due_now(db: Database) -> None:
    """Make every undelivered notification due at once."""
    async with db.transaction() as tx:
        await tx.run(
            "UPDATE outbox SET next_attempt_at = ? WHERE delivered_at IS NULL",
            "1970-01-01T00:00:00.000000Z",
        )


@pytest.mark.parametrize(
    ("attempts", "ceiling"), [(0, 2.0), (1, 4.0), (3, 16.0), (10, 600.0), (40, 600.0)]
)
def test_backoff_doubles_up_to_its_cap_with_jitter(
    attempts: int, ceiling: float
) -> None:
    """The wait doubles per attempt up to the cap, jittered to half of it at least."""
    outbox = OutboxConfig()

    assert backoff(outbox, attempts, rand=lambda: 0.0) == ceiling / 2
    assert backoff(outbox, attempts, rand=lambda: 1.0) == ceiling
