"""Payments over real HTTP: the operator API, provider webhooks, the money.

The gateway runs on loopback on a real database (both backends where the
database decides), each provider instance is a fake provider on loopback,
and every webhook is signed as the provider signs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from payment_fakes import (
    Gateway,
    closed_port_url,
    config_data,
    running_gateway,
    succeed,
)

from examples.payments_fake import FakeProvider, run_provider
from gateway.db import Database

SECRET = "provider-secret-0123456789"


@pytest.fixture
async def fake_a() -> AsyncIterator[FakeProvider]:
    """The first fake provider."""
    async with run_provider(SECRET) as provider:
        yield provider


@pytest.fixture
async def fake_b() -> AsyncIterator[FakeProvider]:
    """The second fake provider."""
    async with run_provider(SECRET) as provider:
        yield provider


@pytest.fixture
async def gateway(
    db: Database, fake_a: FakeProvider, fake_b: FakeProvider
) -> AsyncIterator[Gateway]:
    """The gateway on the test database, routing to fake-a then fake-b."""
    data = config_data(db.url, {"fake-a": fake_a.url, "fake-b": fake_b.url})
    async with running_gateway(data) as running:
        yield running


@pytest.fixture
async def sqlite_gateway(
    tmp_path: Path, fake_a: FakeProvider
) -> AsyncIterator[Gateway]:
    """The gateway on a SQLite file, for rules the database does not decide."""
    data = config_data(f"sqlite:///{tmp_path / 'g.db'}", {"fake-a": fake_a.url})
    async with running_gateway(data) as running:
        yield running


async def _count(db: Database, table: str) -> int:
    row = await db.one(f"SELECT count(*) FROM {table}")
    assert row is not None
    return int(row[0])


async def _deposit_id(gateway: Gateway, key: str = "dep-1", **fields: Any) -> str:
    answer = await gateway.deposit(key, **fields)
    assert answer.status_code == 201, answer.text
    payment_id: str = answer.json()["id"]
    return payment_id


class TestDeposits:
    async def test_a_succeeded_deposit_credits_the_player_once(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """A deposit waits for the player, then its webhook credits the amount."""
        answer = await gateway.deposit()
        document = answer.json()

        assert answer.status_code == 201
        assert document["state"] == "requires_action"
        assert document["provider"] == "fake-a"
        assert document["next_action"]["kind"] == "redirect"
        webhook = await succeed(gateway, fake_a, "fake-a", document["id"])
        assert (webhook.status_code, webhook.content) == (200, b"[accepted]")
        assert await gateway.balance() == "25.00"
        after = await gateway.payment(document["id"])
        assert after["state"] == "succeeded"
        assert [f["state"] for f in after["funds"]] == ["applied"]
        assert [h["to"] for h in after["history"] if h["outcome"] == "moved"] == [
            "created",
            "requires_action",
            "succeeded",
        ]

    async def test_a_deposit_credits_what_the_provider_says_arrived(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """The event's amount, in the payment's currency, is what is credited."""
        payment_id = await _deposit_id(gateway)

        event = fake_a.event(payment_id, "succeeded", amount="20.50")
        await fake_a.send(gateway.url, "fake-a", event)

        document = await gateway.payment(payment_id)
        assert document["settled_amount"] == "20.50"
        assert await gateway.balance() == "20.50"

    async def test_no_rule_matching_is_refused_and_writes_nothing(
        self, db: Database, fake_a: FakeProvider, fake_b: FakeProvider
    ) -> None:
        """A payment no rule takes is `no_route`, and no payment is stored."""
        routes = [{"match": {"currency": "USD"}, "use": "fake-a"}]
        data = config_data(db.url, {"fake-a": fake_a.url}, routes=routes)
        async with running_gateway(data) as gateway:
            answer = await gateway.deposit()

        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "no_route"
        assert await _count(db, "payments") == 0

    @pytest.mark.parametrize(
        ("field", "value", "code"),
        [
            ("amount", "1.001", "bad_amount"),
            ("amount", "0", "bad_amount"),
            ("amount", "-5", "bad_amount"),
            ("currency", "XXQ", "unknown_currency"),
            ("method", "cheque", "bad_request"),
        ],
    )
    async def test_bad_bodies_are_refused_with_stable_codes(
        self, sqlite_gateway: Gateway, field: str, value: str, code: str
    ) -> None:
        """Amounts are exact decimals, currencies and methods from known sets."""
        answer = await sqlite_gateway.deposit(**{field: value})

        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == code

    async def test_refresh_asks_the_provider_for_the_state(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """`?refresh=true` applies the provider's status answer like an event."""
        payment_id = await _deposit_id(gateway)
        held = next(iter(fake_a.payments.values()))
        held["state"] = "succeeded"

        answer = await gateway.http.get(
            f"/v1/payments/{payment_id}", params={"refresh": "true"}
        )

        assert answer.json()["state"] == "succeeded"
        assert await gateway.balance() == "25.00"


class TestIdempotency:
    async def test_the_same_key_and_body_answer_the_original(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """A replay answers the stored payment and asks no provider again."""
        first = await gateway.deposit("key-1")
        again = await gateway.deposit("key-1")

        assert again.status_code == 200
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        assert fake_a.calls["create"] == 1

    async def test_the_same_key_with_another_body_is_a_mismatch(
        self, gateway: Gateway
    ) -> None:
        """Reusing a key for a different payment is `idempotency_mismatch`."""
        await gateway.deposit("key-1")
        other = await gateway.deposit("key-1", amount="26.00")

        assert other.status_code == 409
        assert other.json()["error"]["code"] == "idempotency_mismatch"

    async def test_concurrent_requests_with_one_key_make_one_payment(
        self, db: Database, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """Ten requests racing with one key store one payment, sent once."""
        answers = await asyncio.gather(*(gateway.deposit("race") for _ in range(10)))

        assert len({a.json()["id"] for a in answers}) == 1
        assert all(a.status_code in (200, 201, 202) for a in answers)
        assert await _count(db, "payments") == 1
        assert fake_a.calls["create"] == 1

    async def test_the_key_may_come_in_the_body(self, sqlite_gateway: Gateway) -> None:
        """Without the header the `idempotency_key` field is the key."""
        body = {
            "reference": "r-1",
            "idempotency_key": "field-key",
            "player": "player-1",
            "amount": "5.00",
            "currency": "EUR",
            "method": "card",
        }
        first = await sqlite_gateway.http.post("/v1/payments/deposits", json=body)
        again = await sqlite_gateway.http.post("/v1/payments/deposits", json=body)

        assert first.status_code == 201
        assert again.json()["id"] == first.json()["id"]

    async def test_the_api_needs_an_operator_key(self, sqlite_gateway: Gateway) -> None:
        """Without a valid API key the payments API answers `unauthorized`."""
        answer = await sqlite_gateway.http.get(
            "/v1/payments/pay_x", headers={"Authorization": "Bearer wrong"}
        )

        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"


class TestWebhooks:
    @pytest.mark.parametrize("forgery", ["wrong_secret", "tampered", "unsigned"])
    async def test_forged_and_tampered_webhooks_write_nothing(
        self, db: Database, gateway: Gateway, fake_a: FakeProvider, forgery: str
    ) -> None:
        """A webhook that does not verify is refused and changes nothing."""
        payment_id = await _deposit_id(gateway)
        history = (await gateway.payment(payment_id))["history"]
        body, headers = fake_a.webhook(fake_a.event(payment_id, "succeeded"))
        if forgery == "wrong_secret":
            forged = FakeProvider("another-secret-0123456789")
            body, headers = forged.webhook(fake_a.event(payment_id, "succeeded"))
        elif forgery == "tampered":
            body = body.replace(b"25.00", b"99.00")
        else:
            headers.pop("X-Fake-Signature")

        answer = await gateway.http.post(
            "/providers/fake-a/webhook", content=body, headers=headers
        )

        assert answer.status_code == 401
        assert await _count(db, "payment_events") == 0
        assert (await gateway.payment(payment_id))["history"] == history
        assert await gateway.balance() is None

    async def test_repeated_webhooks_credit_once(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """The same event sent five times is acknowledged five times, applied once."""
        payment_id = await _deposit_id(gateway)
        event = fake_a.event(payment_id, "succeeded", event_id="evt-1")

        for _ in range(5):
            answer = await fake_a.send(gateway.url, "fake-a", event)
            assert answer.content == b"[accepted]"

        assert await gateway.balance() == "25.00"
        moved = [h for h in (await gateway.payment(payment_id))["history"]]
        assert sum(h["event_id"] == "evt-1" for h in moved) == 1

    async def test_out_of_order_webhooks_keep_the_latest_state(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """`succeeded` then a late `pending`: the payment stays succeeded."""
        payment_id = await _deposit_id(gateway)

        await fake_a.send(gateway.url, "fake-a", fake_a.event(payment_id, "succeeded"))
        late = await fake_a.send(
            gateway.url, "fake-a", fake_a.event(payment_id, "pending")
        )

        document = await gateway.payment(payment_id)
        assert late.content == b"[accepted]"
        assert document["state"] == "succeeded"
        assert document["history"][-1]["outcome"] == "ignored"

    async def test_concurrent_duplicate_webhooks_credit_once(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """Twenty copies of one webhook at once move the money exactly once."""
        payment_id = await _deposit_id(gateway)
        event = fake_a.event(payment_id, "succeeded", event_id="evt-race")

        answers = await asyncio.gather(
            *(fake_a.send(gateway.url, "fake-a", event) for _ in range(20))
        )

        assert all(a.content == b"[accepted]" for a in answers)
        assert await gateway.balance() == "25.00"

    async def test_a_batch_of_distinct_racing_events_credits_once(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """Distinct `succeeded` events racing (a provider's retries) credit once."""
        payment_id = await _deposit_id(gateway)

        await asyncio.gather(
            *(
                fake_a.send(
                    gateway.url, "fake-a", fake_a.event(payment_id, "succeeded")
                )
                for _ in range(10)
            )
        )

        assert await gateway.balance() == "25.00"

    async def test_an_unknown_payment_is_refused_for_a_retry(
        self, db: Database, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """An event naming no known payment is answered retryable, nothing written."""
        event = fake_a.event("pay_unknown", "succeeded")

        answer = await fake_a.send(gateway.url, "fake-a", event)

        assert answer.status_code == 503
        assert await _count(db, "payment_events") == 0

    async def test_a_deposit_the_provider_opens_is_credited(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """An event naming a player and no payment opens a deposit and credits it."""
        event = {
            "event_id": "evt-open",
            "id": "fp-address-1",
            "state": "succeeded",
            "amount": "12.00",
            "currency": "EUR",
            "player": "casino-a:player-1",
        }

        for _ in range(2):
            answer = await fake_a.send(gateway.url, "fake-a", event)
            assert answer.content == b"[accepted]"

        assert await gateway.balance() == "12.00"


class TestFallback:
    async def test_an_unreachable_provider_falls_back(
        self, db: Database, fake_b: FakeProvider
    ) -> None:
        """A provider that cannot be reached is skipped for the next one."""
        providers = {"fake-a": closed_port_url(), "fake-b": fake_b.url}
        async with running_gateway(config_data(db.url, providers)) as gateway:
            answer = await gateway.deposit()

        document = answer.json()
        assert answer.status_code == 201
        assert document["provider"] == "fake-b"
        assert any("fake-a failed safely" in h["reason"] for h in document["history"])

    async def test_a_decline_for_this_provider_only_falls_back(
        self, gateway: Gateway, fake_a: FakeProvider, fake_b: FakeProvider
    ) -> None:
        """A decline another provider may not share moves to the next one."""
        fake_a.mode = "refuse"

        answer = await gateway.deposit()

        assert answer.json()["provider"] == "fake-b"
        assert fake_b.calls["create"] == 1

    async def test_a_players_decline_does_not_fall_back(
        self, gateway: Gateway, fake_a: FakeProvider, fake_b: FakeProvider
    ) -> None:
        """A decline that belongs to the player fails it, tried nowhere else."""
        fake_a.mode = "decline"

        answer = await gateway.deposit()

        document = answer.json()
        assert document["state"] == "failed"
        assert document["failure"]["code"] == "declined"
        assert fake_b.calls["create"] == 0

    @pytest.mark.parametrize("mode", ["error", "hang"])
    async def test_an_unknown_outcome_never_tries_another_provider(
        self, gateway: Gateway, fake_a: FakeProvider, fake_b: FakeProvider, mode: str
    ) -> None:
        """A 5xx or a timeout leaves the payment initial, its provider kept."""
        fake_a.mode = mode

        answer = await gateway.deposit()

        document = answer.json()
        assert answer.status_code == 202
        assert (document["state"], document["provider"]) == ("created", "fake-a")
        assert fake_b.calls["create"] == 0

    async def test_an_unknown_outcome_is_resolved_by_the_webhook(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """The provider's later webhook settles a payment whose answer was lost."""
        fake_a.mode = "error"
        payment_id = (await gateway.deposit()).json()["id"]

        event = fake_a.event(payment_id, "succeeded", amount="25.00", currency="EUR")
        await fake_a.send(gateway.url, "fake-a", event)

        assert (await gateway.payment(payment_id))["state"] == "succeeded"
        assert await gateway.balance() == "25.00"

    async def test_every_provider_unreachable_fails_the_payment(
        self, db: Database
    ) -> None:
        """When no candidate can be reached the payment fails as unavailable."""
        providers = {"fake-a": closed_port_url(), "fake-b": closed_port_url()}
        async with running_gateway(config_data(db.url, providers)) as gateway:
            document = (await gateway.deposit()).json()

        assert document["state"] == "failed"
        assert document["failure"]["code"] == "unavailable"


class TestPayouts:
    async def test_a_payout_reserves_its_amount_at_once(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """A requested payout debits the player before the provider pays it."""
        await gateway.fund("100.00")

        answer = await gateway.payout(amount="30.00")

        assert answer.status_code == 201
        assert answer.json()["state"] == "processing"
        assert await gateway.balance() == "70.00"
        await fake_a.send(
            gateway.url, "fake-a", fake_a.event(answer.json()["id"], "paid")
        )
        assert await gateway.balance() == "70.00"

    async def test_a_payout_beyond_the_balance_is_refused(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """Insufficient funds refuse the payout, no provider asked, replay alike."""
        await gateway.fund("10.00")

        answer = await gateway.payout(amount="30.00")
        again = await gateway.payout(amount="30.00")

        assert answer.status_code == again.status_code == 409
        assert answer.json()["error"]["code"] == "insufficient_funds"
        assert fake_a.calls["create"] == 0
        assert await gateway.balance() == "10.00"

    @pytest.mark.parametrize("states", [["failed"], ["paid", "returned"]])
    async def test_a_payout_that_does_not_pay_gives_the_money_back(
        self, gateway: Gateway, fake_a: FakeProvider, states: list[str]
    ) -> None:
        """Failed, or paid then returned: the reserve is released once."""
        await gateway.fund("100.00")
        payment_id = (await gateway.payout(amount="30.00")).json()["id"]

        for state in states:
            event = fake_a.event(payment_id, state)
            await asyncio.gather(
                *(fake_a.send(gateway.url, "fake-a", event) for _ in range(5))
            )

        assert await gateway.balance() == "100.00"

    async def test_a_payout_failing_everywhere_gives_the_money_back(
        self, db: Database
    ) -> None:
        """A payout no provider could be reached for is failed and released."""
        providers = {"fake-a": closed_port_url()}
        async with running_gateway(config_data(db.url, providers)) as gateway:
            await gateway.fund("50.00")
            document = (await gateway.payout(amount="20.00")).json()

            assert document["state"] == "failed"
            assert await gateway.balance() == "50.00"


class TestRefunds:
    async def test_a_refunded_deposit_is_taken_back(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """A refund goes to the deposit's provider; its webhook debits the player."""
        payment_id = await _deposit_id(gateway)
        await succeed(gateway, fake_a, "fake-a", payment_id)

        answer = await gateway.http.post(f"/v1/payments/{payment_id}/refund")
        assert answer.status_code == 202
        await fake_a.send(gateway.url, "fake-a", fake_a.event(payment_id, "refunded"))

        assert await gateway.balance() == "0.00"
        assert fake_a.calls["refund"] == 1
        assert (await gateway.payment(payment_id))["state"] == "refunded"

    async def test_a_spent_deposit_reversed_records_the_shortfall(
        self, gateway: Gateway, fake_a: FakeProvider
    ) -> None:
        """A chargeback after play takes what is left and flags the rest."""
        payment_id = await _deposit_id(gateway)
        await succeed(gateway, fake_a, "fake-a", payment_id)
        await gateway.spend("15.00")

        await fake_a.send(gateway.url, "fake-a", fake_a.event(payment_id, "reversed"))

        document = await gateway.payment(payment_id)
        reversal = next(f for f in document["funds"] if f["effect"] == "reversal")
        assert await gateway.balance() == "0.00"
        assert (reversal["taken"], reversal["shortfall"]) == ("10.00", "15.00")
        assert document["flags"] == ["shortfall"]

    async def test_only_a_succeeded_deposit_is_refunded(self, gateway: Gateway) -> None:
        """A refund of a deposit not yet succeeded is `not_refundable`."""
        payment_id = await _deposit_id(gateway)

        answer = await gateway.http.post(f"/v1/payments/{payment_id}/refund")

        assert answer.status_code == 409
        assert answer.json()["error"]["code"] == "not_refundable"


async def test_the_casinos_own_wallet_moves_no_money_here(
    db: Database, fake_a: FakeProvider
) -> None:
    """In operator wallet mode a succeeded deposit is notified, nothing credited."""
    wallet = {
        "mode": "operator",
        "url": closed_port_url(),
        "secret": "wallet-secret-0123456789",
    }
    data = config_data(db.url, {"fake-a": fake_a.url}, wallet=wallet)
    async with running_gateway(data) as gateway:
        payment_id = await _deposit_id(gateway)
        await succeed(gateway, fake_a, "fake-a", payment_id)
        document = await gateway.payment(payment_id)

    assert document["state"] == "succeeded"
    assert (document["wallet"], document["funds"]) == ("operator", [])
    assert await _count(db, "payment_movements") == 0
    assert await _count(db, "outbox") == 2
