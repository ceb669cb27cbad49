"""The real payment adapters through the real gateway, against their simulators.

Each test runs the gateway on loopback on a real database with the
built-in wallet, a casino endpoint that receives the signed outbox
notifications, and the simulator of Adyen, Trustly or CoinsPaid
(`payment_providers`), wired to each other over real HTTP: the adapter
calls the simulator, and the simulator posts its signed webhooks to the
gateway's `/providers/{instance}/{path}`.
"""

from __future__ import annotations

import socket
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from payment_fakes import (
    API_KEY,
    AUTH,
    NOTIFY_SECRET,
    OPERATOR,
    PLAYER,
    Casino,
    Gateway,
    closed_port_url,
    eventually,
    running_casino,
    verifies,
)
from payment_providers import (
    RETURN_URL,
    AdyenRig,
    CoinspaidRig,
    Rig,
    TrustlyRig,
)

from examples.adyen_simulator import DEFAULT_MERCHANT, notification_item
from gateway.app import build_app
from gateway.config import parse_config
from gateway.db import Database
from gateway.plugins import load_adapters

RIGS: dict[str, type[Rig]] = {
    "adyen": AdyenRig,
    "trustly": TrustlyRig,
    "coinspaid": CoinspaidRig,
}
TABLES = (
    "payments",
    "payment_state_history",
    "payment_events",
    "payment_movements",
    "outbox",
    "transactions",
)


@asynccontextmanager
async def running_gateway(
    database: str, rigs: Sequence[Rig], casino: Casino
) -> AsyncIterator[Gateway]:
    """Run the gateway with one instance per rig, the first preferred.

    The others are its fallback, in order. The socket is bound before the
    config is built, so Trustly's NotificationURL can name the gateway.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    names = [rig.instance for rig in rigs]
    data = {
        "database": database,
        "currencies": {"BTC": 8},
        "operators": [{"name": OPERATOR, "api_keys": [API_KEY]}],
        "providers": {rig.instance: rig.provider(url) for rig in rigs},
        "payments": {
            "routes": [{"name": "all", "use": names[0], "fallback": names[1:]}],
            "notify": {"url": casino.url, "secret": NOTIFY_SECRET},
            "outbox": {"poll_seconds": 0.05, "backoff_seconds": 0.02},
        },
    }
    adapters = load_adapters()
    runner = web.AppRunner(
        build_app(parse_config(data, adapters, {}), adapters), access_log=None
    )
    await runner.setup()
    try:
        await web.SockSite(runner, listener).start()
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10) as http:
            gateway = Gateway(url, runner.app, http)
            for rig in rigs:
                rig.connect(gateway)
            yield gateway
    finally:
        await runner.cleanup()
        listener.close()


@pytest.fixture(params=sorted(RIGS))
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    """One provider's simulator, served on loopback."""
    made = RIGS[request.param]()
    async with made.serve():
        yield made


@pytest.fixture
async def casino() -> AsyncIterator[Casino]:
    """The casino's notification endpoint."""
    async with running_casino() as running:
        yield running


@pytest.fixture
async def gateway(db: Database, rig: Rig, casino: Casino) -> AsyncIterator[Gateway]:
    """The gateway with the rig's provider as its only payment instance."""
    async with running_gateway(db.url, [rig], casino) as running:
        yield running


async def _deposit(gateway: Gateway, rig: Rig) -> dict[str, Any]:
    fields = {"amount": rig.amount, "currency": rig.currency, **rig.deposit_fields()}
    answer = await gateway.deposit(**fields)
    assert answer.status_code == 201, answer.text
    document: dict[str, Any] = answer.json()

    assert (document["state"], document["provider"]) == (
        "requires_action",
        rig.instance,
    )
    assert rig.received_deposit(document)
    return document


def _moves(payment: dict[str, Any]) -> list[str]:
    return [h["to"] for h in payment["history"] if h["outcome"] == "moved"]


async def _balance(gateway: Gateway, rig: Rig) -> Decimal:
    return Decimal(await gateway.balance(rig.currency) or "0")


async def _fund(gateway: Gateway, rig: Rig, amount: Decimal) -> None:
    answer = await gateway.http.post(
        "/v1/wallet/transfers",
        json={
            "player": PLAYER,
            "currency": rig.currency,
            "amount": str(amount),
            "direction": "credit",
            "reference": "fund-1",
        },
    )
    assert answer.status_code == 200, answer.text


async def _rows(gateway: Gateway) -> dict[str, int]:
    db = gateway.payments.runtime.db
    counts = {}
    for table in TABLES:
        row = await db.one(f"SELECT count(*) FROM {table}")
        assert row is not None
        counts[table] = int(row[0])

    return counts


async def _snapshot(gateway: Gateway, rig: Rig, payment_id: str) -> object:
    payment = await gateway.payment(payment_id)
    return (payment["history"], payment["funds"], await _balance(gateway, rig))


async def _each_change_notified(
    gateway: Gateway, casino: Casino, payment_ids: set[str]
) -> None:
    """Check the casino got one signed notification per state change, in order."""
    expected = {}
    for payment_id in payment_ids:
        payment = await gateway.payment(payment_id)
        expected[payment_id] = [
            h["to"]
            for h in payment["history"]
            if h["outcome"] == "moved" and h["from"] is not None
        ]
    total = sum(len(states) for states in expected.values())

    async def arrived() -> bool:
        return len(casino.received) >= total

    await eventually(arrived)
    notified: dict[str, list[str]] = defaultdict(list)
    for headers, body in casino.received:
        assert verifies(headers, body)
        payment = orjson.loads(body)["payment"]
        notified[payment["id"]].append(payment["state"])
    assert notified == expected


class TestEveryProvider:
    async def test_a_deposit_runs_through_the_simulator_and_credits_once(
        self, gateway: Gateway, rig: Rig, casino: Casino
    ) -> None:
        """The provider's success path moves the deposit step by step, credits once."""
        document = await _deposit(gateway, rig)

        credited, heard = await rig.succeed(document)

        assert all(h.accepted for h in heard), heard
        payment = await gateway.payment(credited)
        assert _moves(payment) == list(rig.deposit_moves)
        assert [f["state"] for f in payment["funds"]] == ["applied"]
        assert await _balance(gateway, rig) == Decimal(rig.amount)
        await _each_change_notified(gateway, casino, {document["id"], credited})

    async def test_a_repeated_webhook_changes_nothing(
        self, gateway: Gateway, rig: Rig
    ) -> None:
        """The provider's retry of its last webhook is acknowledged and ignored."""
        credited, _ = await rig.succeed(await _deposit(gateway, rig))
        before = await _snapshot(gateway, rig, credited)
        rows = await _rows(gateway)

        heard = await rig.repeat()

        assert heard.accepted, heard
        assert await _snapshot(gateway, rig, credited) == before
        assert await _rows(gateway) == rows

    async def test_an_out_of_order_webhook_changes_nothing(
        self, gateway: Gateway, rig: Rig, casino: Casino
    ) -> None:
        """An earlier step arriving after success is kept as ignored history only."""
        document = await _deposit(gateway, rig)

        credited, heard = await rig.succeed_out_of_order(document)

        assert all(h.accepted for h in heard), heard
        payment = await gateway.payment(credited)
        assert payment["state"] == "succeeded"
        assert _moves(payment) == [s for s in rig.deposit_moves if s != "pending"]
        ignored = [h for h in payment["history"] if h["outcome"] == "ignored"]
        assert [h["source"] for h in ignored] == ["webhook"]
        assert await _balance(gateway, rig) == Decimal(rig.amount)
        await _each_change_notified(gateway, casino, {document["id"], credited})

    async def test_a_forged_webhook_is_refused_and_writes_nothing(
        self, gateway: Gateway, rig: Rig
    ) -> None:
        """A webhook the provider did not sign is refused its way and writes no row."""
        document = await _deposit(gateway, rig)
        rows = await _rows(gateway)

        heard = await rig.forge(document)

        assert not heard.accepted
        assert rig.refused_in_form(heard), heard
        assert await _rows(gateway) == rows
        assert (await gateway.payment(document["id"]))["state"] == "requires_action"
        assert await _balance(gateway, rig) == 0

    async def test_a_payout_debits_once_and_ends_paid(
        self, gateway: Gateway, rig: Rig, casino: Casino
    ) -> None:
        """A payout reserves its amount at once, and the provider's flow pays it."""
        funded = Decimal(rig.amount) * 2
        await _fund(gateway, rig, funded)
        fields = {
            "amount": rig.payout_amount,
            "currency": rig.currency,
            **rig.payout_fields(),
        }
        answer = await gateway.payout(**fields)
        assert answer.status_code == 201, answer.text
        document = answer.json()
        assert document["provider"] == rig.instance
        left = funded - Decimal(rig.payout_amount)
        assert await _balance(gateway, rig) == left

        heard = await rig.pay_out(document)

        assert all(h.accepted for h in heard), heard
        payment = await gateway.payment(document["id"])
        assert _moves(payment) == list(rig.payout_moves)
        assert [(f["effect"], f["state"]) for f in payment["funds"]] == [
            ("reserve", "applied")
        ]
        assert await _balance(gateway, rig) == left
        await _each_change_notified(gateway, casino, {document["id"]})


class TestFallback:
    async def test_an_unreachable_first_provider_falls_back_to_the_second(
        self, db: Database, casino: Casino
    ) -> None:
        """Adyen refusing connections sends the deposit to Trustly, which credits it."""
        adyen, trustly = AdyenRig(), TrustlyRig()
        adyen.url = closed_port_url()
        async with (
            trustly.serve(),
            running_gateway(db.url, [adyen, trustly], casino) as gateway,
        ):
            answer = await gateway.deposit(
                method="bank_transfer", return_url=RETURN_URL
            )
            document = answer.json()
            assert answer.status_code == 201, answer.text
            assert (document["state"], document["provider"]) == (
                "requires_action",
                trustly.instance,
            )
            assert trustly.received_deposit(document)
            notes = [h["reason"] for h in document["history"]]
            assert any(f"{adyen.instance} failed safely" in n for n in notes)

            _, heard = await trustly.succeed(document)

            assert all(h.accepted for h in heard)
            assert await gateway.balance() == "25.00"

    async def test_an_unknown_outcome_at_the_first_provider_does_not_fall_back(
        self, db: Database, casino: Casino
    ) -> None:
        """Adyen answering 500 after receiving leaves the deposit pending there."""
        adyen, trustly = AdyenRig(), TrustlyRig()
        async with (
            adyen.serve(),
            trustly.serve(),
            running_gateway(db.url, [adyen, trustly], casino) as gateway,
        ):
            adyen.simulator.fail_next(500)
            answer = await gateway.deposit(
                method="bank_transfer", return_url=RETURN_URL
            )
            document = answer.json()
            assert answer.status_code == 202, answer.text
            assert (document["state"], document["provider"]) == (
                "created",
                adyen.instance,
            )
            assert adyen.simulator.received["/v71/sessions"] == 1
            assert trustly.simulator.calls == []

            item = notification_item(
                adyen.hmac_key,
                event_code="AUTHORISATION",
                psp_reference=adyen.simulator.new_psp_reference(),
                merchant_account=DEFAULT_MERCHANT,
                merchant_reference=document["id"],
                amount={"value": 2500, "currency": "EUR"},
            )
            url = f"{gateway.url}/providers/{adyen.instance}/notifications"
            delivery = await adyen.simulator.notifier.notify(url, item)

            assert delivery.accepted
            assert (await gateway.payment(document["id"]))["state"] == "succeeded"
            assert await gateway.balance() == "25.00"
