"""Exactly-once money under racing webhooks, across gateway processes.

Two gateways share one PostgreSQL database, each with its own connection
pool, as two processes on two hosts would; the same webhook reaching both
at once moves the money once. On one gateway the same holds on both
backends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from payment_fakes import config_data, running_gateway

from examples.payments_fake import FakeProvider, run_provider
from gateway import db as database

SECRET = "provider-secret-0123456789"


@pytest.fixture
async def fake_a() -> AsyncIterator[FakeProvider]:
    """A fake provider."""
    async with run_provider(SECRET) as provider:
        yield provider


async def test_two_gateways_on_postgresql_credit_a_deposit_once(
    postgres_url: str, fake_a: FakeProvider
) -> None:
    """The same webhook racing into two gateways' pools credits it exactly once."""
    database.upgrade(postgres_url)
    data = config_data(postgres_url, {"fake-a": fake_a.url})
    async with running_gateway(data) as first, running_gateway(data) as second:
        payment_id = (await first.deposit()).json()["id"]
        event = fake_a.event(payment_id, "succeeded", event_id="evt-shared")

        answers = await asyncio.gather(
            *(
                fake_a.send(gateway.url, "fake-a", event)
                for gateway in (first, second) * 10
            )
        )

        assert all(answer.content == b"[accepted]" for answer in answers)
        assert await first.balance() == await second.balance() == "25.00"


async def test_two_gateways_on_postgresql_release_a_payout_once(
    postgres_url: str, fake_a: FakeProvider
) -> None:
    """Distinct failure events in two gateways give a payout's reserve back once."""
    database.upgrade(postgres_url)
    data = config_data(postgres_url, {"fake-a": fake_a.url})
    async with running_gateway(data) as first, running_gateway(data) as second:
        await first.fund("100.00")
        payment_id = (await first.payout(amount="40.00")).json()["id"]

        await asyncio.gather(
            *(
                fake_a.send(gateway.url, "fake-a", fake_a.event(payment_id, "failed"))
                for gateway in (first, second) * 10
            )
        )

        assert await first.balance() == "100.00"
