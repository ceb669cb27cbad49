"""The simulated Adyen over loopback HTTP, driven by the `adyen` adapter."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from click.testing import CliRunner
from pydantic import SecretStr

from adapters.adyen import AdyenAdapter, AdyenConfig
from contracts import AdapterContext, Callback, CurrencyTable, GamegateError, Money
from contracts.payments import (
    PaymentEvent,
    PaymentFailure,
    PaymentKind,
    PaymentMethod,
    PaymentRecord,
    PaymentRequest,
    PaymentState,
    can_move,
)
from examples.adyen_simulator import (
    AdyenSimulator,
    run_simulator,
    signature,
    signing_string,
)
from examples.adyen_simulator.__main__ import main

API_KEY = "placeholder-api-key"
REVIEW_KEY = "placeholder-review-key"
HMAC_KEY = "74F490DD33F7327BAECC88B2947C011FC02D014A473AAA33A8EC93E4DC069174"
MERCHANT = "GamegateTestMerchant"
VECTORS = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "vectors"
    / "payment-signatures.json"
)
S = PaymentState


@dataclass
class Receiver:
    """A webhook endpoint on loopback that hands each batch to the adapter."""

    adapter: AdyenAdapter
    url: str = ""
    events: list[PaymentEvent] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        """Verify and read a batch, then answer it as the adapter says."""
        callback = Callback(
            path="notifications",
            method=request.method,
            headers=dict(request.headers),
            query=dict(request.query),
            body=await request.read(),
            remote=request.remote,
        )
        try:
            events = self.adapter.parse_webhook(callback)
        except GamegateError as error:
            answer = self.adapter.render_webhook_error(callback, error)
        else:
            self.events.extend(events)
            answer = self.adapter.acknowledge(callback, events)
        self.statuses.append(answer.status)

        return web.Response(
            status=answer.status, body=answer.body, content_type=answer.content_type
        )


def adapter_for(base_url: str, http: httpx.AsyncClient, **changes: Any) -> AdyenAdapter:
    """Build an adapter pointed at the simulator's base URL."""
    values: dict[str, Any] = {
        "checkout_url": base_url,
        "payout_url": base_url + "/pal/servlet",
        "api_key": SecretStr(API_KEY),
        "review_api_key": SecretStr(REVIEW_KEY),
        "merchant_account": MERCHANT,
        "hmac_key": SecretStr(HMAC_KEY),
        "timeout_seconds": 2.0,
        **changes,
    }
    context = AdapterContext(instance="adyen-eu", currencies=CurrencyTable(), http=http)
    return AdyenAdapter(AdyenConfig(**values), context)


def deposit(payment_id: str = "pay_0001", **changes: Any) -> PaymentRequest:
    """Return a card deposit for EUR 25.00."""
    values: dict[str, Any] = {
        "payment_id": payment_id,
        "kind": PaymentKind.DEPOSIT,
        "reference": f"order-{payment_id}",
        "idempotency_key": f"idem-{payment_id}",
        "player": "player-0001",
        "amount": Money(2500, "EUR"),
        "method": PaymentMethod.CARD,
        "return_url": "https://casino.example.test/return",
        **changes,
    }
    return PaymentRequest(**values)


def payout(payment_id: str = "out_0001") -> PaymentRequest:
    """Return a bank payout for EUR 40.00 with the details Adyen requires."""
    return deposit(
        payment_id,
        kind=PaymentKind.PAYOUT,
        amount=Money(4000, "EUR"),
        method=PaymentMethod.BANK_TRANSFER,
        kyc={
            "email": "player@example.test",
            "date_of_birth": "1990-01-01",
            "nationality": "NL",
            "iban": "NL32ABNA0515071439",
            "account_holder": "P. Layer",
        },
    )


def record(
    request: PaymentRequest, state: PaymentState, psp: str | None
) -> PaymentRecord:
    """Return the gateway's record of a payment it started."""
    return PaymentRecord(
        payment_id=request.payment_id,
        kind=request.kind,
        state=state,
        amount=request.amount,
        provider_reference=psp,
        player=request.player,
    )


def replay(
    kind: PaymentKind, start: PaymentState, events: list[PaymentEvent]
) -> PaymentState:
    """Apply events one by one as the gateway does: only moves `can_move` allows."""
    state = start
    for event in events:
        if can_move(kind, state, event.state):
            state = event.state
    return state


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the one the gateway hands to adapters."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def simulator() -> AsyncIterator[tuple[AdyenSimulator, str]]:
    """A simulated Adyen on a free loopback port."""
    simulator = AdyenSimulator(
        API_KEY, HMAC_KEY, review_api_key=REVIEW_KEY, merchant_account=MERCHANT, seed=3
    )
    async with simulator.serve() as base_url:
        yield simulator, base_url


@pytest.fixture
def adapter(
    simulator: tuple[AdyenSimulator, str], http: httpx.AsyncClient
) -> AdyenAdapter:
    """An adapter pointed at the simulator."""
    return adapter_for(simulator[1], http)


@pytest.fixture
async def receiver(adapter: AdyenAdapter) -> AsyncIterator[Receiver]:
    """A webhook endpoint on loopback that feeds the adapter."""
    receiver = Receiver(adapter)
    app = web.Application()
    app.router.add_post("/providers/adyen-eu/notifications", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/providers/adyen-eu/notifications"
    try:
        yield receiver
    finally:
        await runner.cleanup()


class TestDeposit:
    async def test_session_then_authorisation(
        self,
        simulator: tuple[AdyenSimulator, str],
        adapter: AdyenAdapter,
        receiver: Receiver,
    ) -> None:
        """A deposit opens a session; Adyen's AUTHORISATION batch then settles it."""
        sim, _ = simulator
        request = deposit()

        result = await adapter.create_deposit(request)
        delivery = await sim.notifier.notify(
            receiver.url, sim.authorisation("pay_0001")
        )

        assert result.state is S.REQUIRES_ACTION
        assert result.action is not None
        assert result.action.kind == "client_secret"
        assert result.action.details["session_id"] == sim.payment("pay_0001").session_id
        assert delivery.accepted
        assert delivery.answer == b"[accepted]"
        [event] = receiver.events
        assert event.state is S.SUCCEEDED
        assert event.payment_id == "pay_0001"
        assert event.provider_reference == sim.payment("pay_0001").psp_reference
        assert event.amount == Money(2500, "EUR")

    async def test_refused_authorisation(
        self,
        simulator: tuple[AdyenSimulator, str],
        adapter: AdyenAdapter,
        receiver: Receiver,
    ) -> None:
        """A failed AUTHORISATION reads as a failed deposit with its reason."""
        sim, _ = simulator
        await adapter.create_deposit(deposit())

        item = sim.authorisation("pay_0001", success=False, reason="Expired Card")
        await sim.notifier.notify(receiver.url, item)

        [event] = receiver.events
        assert (event.state, event.reason) == (S.FAILED, "Expired Card")

    async def test_hosted_page(
        self, simulator: tuple[AdyenSimulator, str], http: httpx.AsyncClient
    ) -> None:
        """A hosted session sends the player to a page the simulator serves."""
        adapter = adapter_for(simulator[1], http, session_mode="hosted")

        result = await adapter.create_deposit(deposit())

        assert result.action is not None
        assert result.action.kind == "redirect"
        assert (await http.get(result.action.value)).status_code == 200

    async def test_redirect_payment(
        self, simulator: tuple[AdyenSimulator, str], http: httpx.AsyncClient
    ) -> None:
        """A redirect method answers RedirectShopper with a page to send the player."""
        adapter = adapter_for(
            simulator[1], http, redirect_methods={"bank_transfer": "trustly"}
        )

        result = await adapter.create_deposit(
            deposit(method=PaymentMethod.BANK_TRANSFER)
        )

        assert result.state is S.REQUIRES_ACTION
        assert result.action is not None
        assert result.action.kind == "redirect"
        assert (await http.get(result.action.value)).status_code == 200
        assert simulator[0].payment("pay_0001").payment_method == "trustly"

    async def test_card_payment_authorised(
        self, simulator: tuple[AdyenSimulator, str], http: httpx.AsyncClient
    ) -> None:
        """A card through /payments answers Authorised with its pspReference."""
        adapter = adapter_for(simulator[1], http, redirect_methods={"card": "scheme"})

        result = await adapter.create_deposit(deposit())

        assert result.state is S.AUTHORIZED
        assert (
            result.provider_reference == simulator[0].payment("pay_0001").psp_reference
        )


class TestIdempotency:
    async def test_same_key_same_answer(
        self, simulator: tuple[AdyenSimulator, str], adapter: AdyenAdapter
    ) -> None:
        """A retry under the same Idempotency-Key gets the first session back."""
        sim, _ = simulator

        first = await adapter.create_deposit(deposit())
        again = await adapter.create_deposit(deposit())

        assert first == again
        assert len(sim.payments) == 1
        assert [call.idempotency_key for call in sim.calls] == ["idem-pay_0001"] * 2

    async def test_other_key_other_answer(
        self, simulator: tuple[AdyenSimulator, str], adapter: AdyenAdapter
    ) -> None:
        """Another Idempotency-Key starts another session."""
        first = await adapter.create_deposit(deposit())
        other = await adapter.create_deposit(deposit(idempotency_key="idem-other"))

        assert first.action is not None and other.action is not None
        assert first.action.details["session_id"] != other.action.details["session_id"]

    async def test_refund_retry_refunds_once(
        self, simulator: tuple[AdyenSimulator, str], http: httpx.AsyncClient
    ) -> None:
        """A refund retried after a dropped answer is done once at Adyen."""
        sim, base_url = simulator
        adapter = adapter_for(base_url, http, redirect_methods={"card": "scheme"})
        request = deposit()
        result = await adapter.create_deposit(request)
        payment = record(request, S.SUCCEEDED, result.provider_reference)

        first = await adapter.refund(payment, Money(1000, "EUR"))
        again = await adapter.refund(payment, Money(1000, "EUR"))

        assert first == again
        assert len(sim.payment("pay_0001").modifications) == 1


class TestFailures:
    async def test_server_error_is_unknown(
        self, simulator: tuple[AdyenSimulator, str], adapter: AdyenAdapter
    ) -> None:
        """A 500 from Adyen leaves the outcome unknown: never tried elsewhere."""
        simulator[0].fail_next(500)

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit())

        assert raised.value.outcome == "unknown"

    async def test_dropped_connection_is_unknown(
        self, simulator: tuple[AdyenSimulator, str], adapter: AdyenAdapter
    ) -> None:
        """A connection dropped after the request arrived leaves the outcome unknown."""
        simulator[0].fail_next(drop=True)

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit())

        assert raised.value.outcome == "unknown"
        assert simulator[0].received["/v71/sessions"] == 1

    async def test_not_running_is_unreachable(self, http: httpx.AsyncClient) -> None:
        """With nothing listening, the call never left: another provider may try."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        adapter = adapter_for(f"http://127.0.0.1:{port}", http)

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit())

        assert raised.value.outcome == "unreachable"
        assert raised.value.may_fall_back is True

    @pytest.mark.parametrize(
        ("reason", "shareable"),
        [
            ("Not enough balance", True),
            ("CVC Declined", True),
            ("Acquirer Error", False),
        ],
    )
    async def test_refusal(
        self,
        simulator: tuple[AdyenSimulator, str],
        http: httpx.AsyncClient,
        reason: str,
        shareable: bool,
    ) -> None:
        """A refusal is declined, shareable when it is about the player or card."""
        simulator[0].refuse_next(reason)
        adapter = adapter_for(simulator[1], http, redirect_methods={"card": "scheme"})

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit())

        assert (raised.value.outcome, raised.value.shareable) == ("declined", shareable)

    async def test_wrong_api_key(
        self, simulator: tuple[AdyenSimulator, str], http: httpx.AsyncClient
    ) -> None:
        """A wrong X-API-Key is refused with 401, a decline another route may pass."""
        adapter = adapter_for(simulator[1], http, api_key=SecretStr("wrong"))

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit())

        assert (raised.value.outcome, raised.value.shareable) == ("declined", False)
        assert "401" in raised.value.message


class TestPayout:
    async def test_review_then_paid(
        self,
        simulator: tuple[AdyenSimulator, str],
        adapter: AdyenAdapter,
        receiver: Receiver,
    ) -> None:
        """A payout is submitted, confirmed by the reviewer, and paid on notice."""
        sim, _ = simulator
        request = payout()

        submitted = await adapter.create_payout(request)
        pending = record(request, submitted.state, submitted.provider_reference)
        confirmed = await adapter.confirm_payout(pending)
        await sim.notifier.notify(
            receiver.url, sim.item("out_0001", "PAYOUT_THIRDPARTY")
        )

        assert submitted.state is S.PENDING_APPROVAL
        assert confirmed.state is S.PROCESSING
        assert sim.payment("out_0001").status == "confirmed"
        [event] = receiver.events
        assert (event.state, event.payment_id) == (S.PAID, "out_0001")
        states = [S.REQUESTED, submitted.state, confirmed.state, event.state]
        assert all(can_move(PaymentKind.PAYOUT, a, b) for a, b in pairwise(states))

    async def test_decline(
        self, simulator: tuple[AdyenSimulator, str], adapter: AdyenAdapter
    ) -> None:
        """Voiding a submitted payout declines it at Adyen."""
        request = payout()
        submitted = await adapter.create_payout(request)

        result = await adapter.void(
            record(request, submitted.state, submitted.provider_reference)
        )

        assert result.state is S.CANCELED
        assert simulator[0].payment("out_0001").status == "declined"

    async def test_submitter_key_cannot_review(
        self, simulator: tuple[AdyenSimulator, str], http: httpx.AsyncClient
    ) -> None:
        """The submitter's API key is refused on the review endpoints."""
        adapter = adapter_for(simulator[1], http, review_api_key=SecretStr(API_KEY))
        request = payout()
        submitted = await adapter.create_payout(request)

        with pytest.raises(PaymentFailure) as raised:
            await adapter.confirm_payout(
                record(request, submitted.state, submitted.provider_reference)
            )

        assert "403" in raised.value.message


class TestNotifications:
    async def test_repeated_batch_gives_one_event_id(
        self,
        simulator: tuple[AdyenSimulator, str],
        adapter: AdyenAdapter,
        receiver: Receiver,
    ) -> None:
        """A batch sent twice is accepted twice with the same event id."""
        sim, _ = simulator
        await adapter.create_deposit(deposit())

        deliveries = await sim.notifier.notify_repeated(
            receiver.url, sim.authorisation("pay_0001")
        )

        assert all(delivery.accepted for delivery in deliveries)
        assert len(receiver.events) == 2
        assert len({event.event_id for event in receiver.events}) == 1

    async def test_out_of_order_never_moves_back(
        self,
        simulator: tuple[AdyenSimulator, str],
        adapter: AdyenAdapter,
        receiver: Receiver,
    ) -> None:
        """A late AUTHORISATION after a chargeback does not undo the chargeback."""
        sim, _ = simulator
        await adapter.create_deposit(deposit())
        authorisation = sim.authorisation("pay_0001")
        chargeback = sim.item("pay_0001", "CHARGEBACK")

        await sim.notifier.notify(receiver.url, authorisation)
        await sim.notifier.notify_out_of_order(receiver.url, authorisation, chargeback)

        states = [event.state for event in receiver.events]
        assert states == [S.SUCCEEDED, S.REVERSED, S.SUCCEEDED]
        final = replay(PaymentKind.DEPOSIT, S.REQUIRES_ACTION, receiver.events)
        assert final is S.REVERSED

    async def test_forged_item_refuses_the_batch(
        self,
        simulator: tuple[AdyenSimulator, str],
        adapter: AdyenAdapter,
        receiver: Receiver,
    ) -> None:
        """A batch with one forged item is answered 401 and gives no events."""
        sim, _ = simulator
        await adapter.create_deposit(deposit())
        items = (sim.authorisation("pay_0001"), sim.item("pay_0001", "REFUND"))

        delivery = await sim.notifier.notify_forged(receiver.url, *items, forged=1)

        assert (delivery.status, delivery.accepted) == (401, False)
        assert receiver.events == []

    async def test_tampered_item_refuses_the_batch(
        self,
        simulator: tuple[AdyenSimulator, str],
        adapter: AdyenAdapter,
        receiver: Receiver,
    ) -> None:
        """An amount raised after Adyen signed it is refused."""
        sim, _ = simulator
        await adapter.create_deposit(deposit())

        delivery = await sim.notifier.notify_tampered(
            receiver.url, sim.authorisation("pay_0001")
        )

        assert delivery.status == 401
        assert receiver.events == []

    async def test_refund_notification(
        self,
        simulator: tuple[AdyenSimulator, str],
        http: httpx.AsyncClient,
        receiver: Receiver,
    ) -> None:
        """A refund asked for through the API is settled by its REFUND notice."""
        sim, base_url = simulator
        adapter = adapter_for(base_url, http, redirect_methods={"card": "scheme"})
        receiver.adapter = adapter
        request = deposit()
        result = await adapter.create_deposit(request)
        await adapter.refund(
            record(request, S.SUCCEEDED, result.provider_reference), Money(2500, "EUR")
        )

        await sim.notifier.notify(receiver.url, sim.item("pay_0001", "REFUND"))

        [event] = receiver.events
        assert event.state is S.REFUNDED
        assert event.provider_reference == result.provider_reference


def published_vectors() -> list[Any]:
    """Return the published Adyen vectors, or a skip when they are absent."""
    if not VECTORS.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{VECTORS} missing"))]
    vectors = json.loads(VECTORS.read_text())["adyen_notification_hmac"]["vectors"]
    return [pytest.param(vector, id=vector["id"]) for vector in vectors]


class TestSimulatorSigning:
    @pytest.mark.parametrize("vector", published_vectors())
    def test_signs_like_adyen(self, vector: dict[str, Any]) -> None:
        """The simulator's own signer reproduces Adyen's published vectors."""
        psp, original, merchant, rest = vector["signing_string"].split(":", 3)
        reference, value, currency, code, success = rest.rsplit(":", 4)
        item = {
            "pspReference": psp,
            "originalReference": original or None,
            "merchantAccountCode": merchant,
            "merchantReference": reference,
            "amount": {"value": int(value), "currency": currency},
            "eventCode": code,
            "success": success,
        }

        assert signing_string(item) == vector["signing_string"]
        assert signature(vector["key_hex"], item) == vector["expected"]


class TestRunSimulator:
    async def test_yields_a_working_base_url(self, http: httpx.AsyncClient) -> None:
        """`run_simulator` serves a fresh simulator and yields its base URL."""
        async with run_simulator(API_KEY, HMAC_KEY, merchant_account=MERCHANT) as url:
            result = await adapter_for(url, http).create_deposit(deposit())

        assert result.state is S.REQUIRES_ACTION

    def test_command_line(self) -> None:
        """The click entry point offers `serve` and `notify`."""
        runner = CliRunner()

        shown = runner.invoke(main, ["--help"])
        serve = runner.invoke(main, ["serve", "--help"])

        assert shown.exit_code == 0
        assert "serve" in shown.output and "notify" in shown.output
        assert serve.exit_code == 0
        assert "--hmac-key" in serve.output
