"""The simulated Trustly: its API and notifications, against the real adapter.

Everything here runs over real HTTP on loopback: the adapter calls the
simulator's JSON-RPC API, and the simulator posts its notifications to a small
merchant server that hands them to the adapter and applies the events to an
in-memory book with the contract's `can_move` and deduplication rules.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from click.testing import CliRunner
from pydantic import SecretStr

from adapters.trustly import TrustlyAdapter, TrustlyConfig
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
from examples.trustly_simulator import (
    Fault,
    KeyPair,
    SimulatorRun,
    TrustlySimulator,
    run_simulator,
)
from examples.trustly_simulator.__main__ import main as cli

INSTANCE = "trustly-main"
PLAYER = "casino-a:player-1"
_S = PaymentState


@pytest.fixture(scope="session")
def merchant_keys() -> KeyPair:
    """The merchant's key pair, made once per test session."""
    return KeyPair.generate()


@pytest.fixture(scope="session")
def trustly_keys() -> KeyPair:
    """Trustly's key pair, made once per test session."""
    return KeyPair.generate()


@pytest.fixture(scope="session")
def stranger_keys() -> KeyPair:
    """A key pair that belongs to neither side."""
    return KeyPair.generate()


@pytest.fixture(scope="session")
def tls() -> ssl.SSLContext:
    """One TLS context for every test's client: building one takes a while."""
    return httpx.create_ssl_context()


@pytest.fixture
async def http(tls: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the one the gateway hands to adapters."""
    async with httpx.AsyncClient(verify=tls) as client:
        yield client


@dataclass
class Book:
    """The gateway's side in miniature: payment states, moved only by `can_move`."""

    payments: dict[str, tuple[PaymentKind, PaymentState, str | None]] = field(
        default_factory=dict
    )
    seen: set[str] = field(default_factory=set)
    applied: list[PaymentEvent] = field(default_factory=list)

    def open(self, payment_id: str, kind: PaymentKind, state: PaymentState) -> None:
        """Record a payment the gateway started."""
        self.payments[payment_id] = (kind, state, None)

    def started(self, payment_id: str, state: PaymentState, order: str | None) -> None:
        """Record the state and order a provider's answer gave."""
        kind, _, _ = self.payments[payment_id]
        self.payments[payment_id] = (kind, state, order)

    def apply(self, events: tuple[PaymentEvent, ...] | list[PaymentEvent]) -> None:
        """Apply each new event whose move the state machine allows."""
        for event in events:
            if event.event_id in self.seen or event.payment_id is None:
                continue
            self.seen.add(event.event_id)
            kind, state, order = self.payments[event.payment_id]
            if can_move(kind, state, event.state):
                self.payments[event.payment_id] = (kind, event.state, order)
                self.applied.append(event)

    def state(self, payment_id: str) -> PaymentState:
        """Return a payment's current state."""
        return self.payments[payment_id][1]

    def record(self, payment_id: str, amount: Money) -> PaymentRecord:
        """Return what the gateway knows of a payment, for refund and void."""
        kind, state, order = self.payments[payment_id]
        return PaymentRecord(
            payment_id=payment_id,
            kind=kind,
            state=state,
            amount=amount,
            provider_reference=order,
            player=PLAYER,
        )


@dataclass
class Merchant:
    """A webhook server on loopback that hands notifications to the adapter."""

    book: Book = field(default_factory=Book)
    adapter: TrustlyAdapter | None = None

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Serve the webhook and yield its base URL."""
        app = web.Application()
        app.router.add_post(f"/providers/{INSTANCE}/{{path}}", self._notification)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()

    async def _notification(self, request: web.Request) -> web.Response:
        assert self.adapter is not None
        callback = Callback(
            path=request.match_info["path"],
            method=request.method,
            headers=dict(request.headers),
            query=dict(request.query),
            body=await request.read(),
        )
        try:
            events = self.adapter.parse_webhook(callback)
            self.book.apply(list(events))
            answer = self.adapter.acknowledge(callback, events)
        except GamegateError as error:
            answer = self.adapter.render_webhook_error(callback, error)

        return web.Response(
            status=answer.status, body=answer.body, content_type="application/json"
        )


def adapter_for(
    api_url: str,
    notification_url: str,
    http: httpx.AsyncClient,
    merchant_keys: KeyPair,
    trustly_public_pem: str,
    **changes: Any,
) -> TrustlyAdapter:
    """Build a trustly adapter pointed at a simulator and a webhook base."""
    values: dict[str, Any] = {
        "api_url": api_url,
        "username": "merchant",
        "password": SecretStr("merchant-password"),
        "private_key": SecretStr(merchant_keys.private_pem),
        "trustly_public_key": trustly_public_pem,
        "notification_url": notification_url,
        **changes,
    }
    context = AdapterContext(instance=INSTANCE, currencies=CurrencyTable(), http=http)
    return TrustlyAdapter(TrustlyConfig(**values), context)


@dataclass
class World:
    """A simulator, a merchant webhook and an adapter wired to both."""

    run: SimulatorRun
    adapter: TrustlyAdapter
    book: Book
    http: httpx.AsyncClient
    webhook: str

    @property
    def simulator(self) -> TrustlySimulator:
        """The simulated Trustly, with its orders and the replies it got."""
        return self.run.simulator

    async def deposit(self, **changes: Any) -> PaymentRequest:
        """Start a deposit of SEK 20.00 through the adapter and book it."""
        request = deposit(**changes)
        self.book.open(request.payment_id, PaymentKind.DEPOSIT, _S.CREATED)
        result = await self.adapter.create_deposit(request)
        self.book.started(request.payment_id, result.state, result.provider_reference)
        return request

    async def payout(self, **changes: Any) -> PaymentRequest:
        """Start a payout of SEK 50.00 through the adapter and book it."""
        request = deposit(
            **{
                "payment_id": "pay-2",
                "kind": PaymentKind.PAYOUT,
                "idempotency_key": "idem-2",
                "amount": Money(5000, "SEK"),
                **changes,
            }
        )
        self.book.open(request.payment_id, PaymentKind.PAYOUT, _S.REQUESTED)
        result = await self.adapter.create_payout(request)
        self.book.started(request.payment_id, result.state, result.provider_reference)
        return request

    def order(self, payment_id: str) -> str:
        """Return Trustly's orderid for one of the gateway's payments."""
        order = self.book.payments[payment_id][2]
        assert order is not None
        return order

    async def notify(self, payment_id: str, method: str, **data: Any) -> Any:
        """Have Trustly send notification `method` about a payment."""
        notification = self.simulator.notification(
            self.order(payment_id), method, **data
        )
        return await self.simulator.notify(notification, self.http)


def deposit(**changes: Any) -> PaymentRequest:
    """Build a deposit request of SEK 20.00, with the given changes."""
    values: dict[str, Any] = {
        "payment_id": "pay-1",
        "kind": PaymentKind.DEPOSIT,
        "reference": "casino-ref-1",
        "idempotency_key": "idem-1",
        "player": PLAYER,
        "amount": Money(2000, "SEK"),
        "method": PaymentMethod.BANK_TRANSFER,
        "country": "SE",
        "locale": "sv_SE",
        "return_url": "https://casino.example/ok",
        "kyc": {"first_name": "Steve", "last_name": "Smith"},
        **changes,
    }
    return PaymentRequest(**values)


@pytest.fixture
async def world(
    http: httpx.AsyncClient, merchant_keys: KeyPair, trustly_keys: KeyPair
) -> AsyncIterator[World]:
    """The simulator and a merchant webhook on loopback, and an adapter for both."""
    merchant = Merchant()
    run = run_simulator(merchant_keys.public_pem, keys=trustly_keys)
    async with run, merchant.serve() as base:
        webhook = f"{base}/providers/{INSTANCE}"
        adapter = adapter_for(run.api_url, webhook, http, merchant_keys, run.public_pem)
        merchant.adapter = adapter
        yield World(run, adapter, merchant.book, http, webhook)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class TestApi:
    async def test_deposit(self, world: World) -> None:
        """The simulator verifies the signed Deposit and answers a checkout URL."""
        request = deposit()

        result = await world.adapter.create_deposit(request)

        (order,) = world.simulator.orders.values()
        assert (order.method, order.message_id) == ("Deposit", "pay-1")
        assert (order.amount, order.currency) == ("20.00", "SEK")
        assert order.notification_url == f"{world.webhook}/deposit"
        assert result.state is _S.REQUIRES_ACTION
        assert result.provider_reference == order.order_id
        assert result.action is not None
        page = await world.http.get(result.action.value)
        assert page.status_code == 200
        assert order.order_id in page.text

    async def test_withdraw(self, world: World) -> None:
        """A Withdraw is requested with a fixed amount, at the payout webhook."""
        await world.payout()

        (order,) = world.simulator.orders.values()
        assert (order.method, order.amount) == ("Withdraw", "50.00")
        assert order.notification_url == f"{world.webhook}/payout"
        assert world.book.state("pay-2") is _S.REQUESTED

    async def test_account_payout(self, world: World) -> None:
        """An AccountPayout to a known account is processing at once."""
        await world.payout(kyc={"account_id": "9988776655"})

        (order,) = world.simulator.orders.values()
        assert (order.method, order.account_id) == ("AccountPayout", "9988776655")
        assert world.book.state("pay-2") is _S.PROCESSING

    async def test_calls_are_recorded_with_credentials(self, world: World) -> None:
        """Each verified call is kept, with the credentials inside its data."""
        await world.deposit()

        (call,) = world.simulator.calls
        assert call.method == "Deposit"
        assert call.data["Username"] == "merchant"

    async def test_stranger_signature_is_refused(
        self, world: World, merchant_keys: KeyPair, stranger_keys: KeyPair
    ) -> None:
        """A call signed with another key is refused with 636, not an order."""
        adapter = adapter_for(
            world.run.api_url,
            world.webhook,
            world.http,
            stranger_keys,
            world.run.public_pem,
        )

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit())

        assert raised.value.context["code"] == 636
        assert raised.value.outcome == "declined"
        assert world.simulator.orders == {}

    async def test_wrong_password_is_refused(
        self, world: World, merchant_keys: KeyPair
    ) -> None:
        """A call with the wrong password is refused with 616."""
        adapter = adapter_for(
            world.run.api_url,
            world.webhook,
            world.http,
            merchant_keys,
            world.run.public_pem,
            password=SecretStr("guess"),
        )

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit())

        assert raised.value.context["code"] == 616
        assert raised.value.may_fall_back

    async def test_duplicate_message_id_is_unknown(self, world: World) -> None:
        """A second order for one payment id may mean the first exists: unknown."""
        await world.adapter.create_deposit(deposit())

        with pytest.raises(PaymentFailure) as raised:
            await world.adapter.create_deposit(deposit(idempotency_key="idem-again"))

        assert raised.value.context["code"] == 637
        assert raised.value.outcome == "unknown"
        assert not raised.value.may_fall_back

    async def test_blocked_player_is_not_tried_elsewhere(self, world: World) -> None:
        """A queued 638 is a decline that belongs to the player."""
        world.simulator.refuse_next(638, "ERROR_ENDUSER_IS_BLOCKED")

        with pytest.raises(PaymentFailure) as raised:
            await world.adapter.create_deposit(deposit())

        assert raised.value.outcome == "declined"
        assert raised.value.shareable
        assert not raised.value.may_fall_back

    @pytest.mark.parametrize(
        "fault",
        [
            Fault("status", 500),
            Fault("status", 502),
            Fault("unsigned"),
            Fault("foreign_uuid"),
            Fault("hang"),
        ],
        ids=["500", "502", "unsigned", "foreign-uuid", "hang"],
    )
    async def test_faults_are_unknown(
        self, world: World, merchant_keys: KeyPair, fault: Fault
    ) -> None:
        """Errors, unsigned or foreign answers and timeouts after sending: unknown."""
        adapter = adapter_for(
            world.run.api_url,
            world.webhook,
            world.http,
            merchant_keys,
            world.run.public_pem,
            timeout_seconds=0.5,
        )
        world.simulator.inject(fault)

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit())

        world.simulator.release()
        assert raised.value.outcome == "unknown"
        assert not raised.value.may_fall_back

    async def test_closed_port_is_unreachable(
        self, world: World, merchant_keys: KeyPair
    ) -> None:
        """Nobody listening is unreachable: another provider may be tried."""
        adapter = adapter_for(
            f"http://127.0.0.1:{_closed_port()}/api/1",
            world.webhook,
            world.http,
            merchant_keys,
            world.run.public_pem,
        )

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit())

        assert raised.value.outcome == "unreachable"
        assert raised.value.may_fall_back

    async def test_keys_are_fresh(self, merchant_keys: KeyPair) -> None:
        """Each simulator started without keys makes a key pair of its own."""
        first = run_simulator(merchant_keys.public_pem)
        second = run_simulator(merchant_keys.public_pem)

        assert first.public_pem != second.public_pem
        assert "PRIVATE" not in first.public_pem


class TestDepositNotifications:
    async def test_pending_then_credit(self, world: World) -> None:
        """Pending then credit settle the deposit; each reply is signed OK."""
        await world.deposit()

        pending = await world.notify("pay-1", "pending")
        assert world.book.state("pay-1") is _S.PENDING
        credit = await world.notify("pay-1", "credit")

        assert pending.ok and credit.ok
        assert world.book.state("pay-1") is _S.SUCCEEDED
        assert world.book.applied[-1].amount == Money(2000, "SEK")

    async def test_repeat_is_applied_once(self, world: World) -> None:
        """A credit sent twice is acknowledged twice and applied once."""
        await world.deposit()
        credit = world.simulator.notification(world.order("pay-1"), "credit")

        first = await world.simulator.notify(credit, world.http)
        again = await world.simulator.notify(credit, world.http)

        assert first.ok and again.ok
        assert len(world.book.applied) == 1

    async def test_out_of_order(self, world: World) -> None:
        """A pending that arrives after the credit never moves the deposit back."""
        await world.deposit()

        await world.notify("pay-1", "credit")
        late = await world.notify("pay-1", "pending")

        assert late.ok
        assert world.book.state("pay-1") is _S.SUCCEEDED

    async def test_debit_after_credit_reverses(self, world: World) -> None:
        """A debit after the credit is a reversal: the money never settled."""
        await world.deposit()

        await world.notify("pay-1", "credit")
        await world.notify("pay-1", "debit")

        assert world.book.state("pay-1") is _S.REVERSED

    async def test_cancel(self, world: World) -> None:
        """A deposit the player abandons is canceled."""
        await world.deposit()

        reply = await world.notify("pay-1", "cancel")

        assert reply.ok
        assert world.book.state("pay-1") is _S.CANCELED

    async def test_forged_is_refused(
        self, world: World, stranger_keys: KeyPair
    ) -> None:
        """A credit signed by another key is refused, unsigned, and moves nothing."""
        await world.deposit()
        credit = world.simulator.notification(world.order("pay-1"), "credit")

        reply = await world.simulator.notify(credit.forged(stranger_keys), world.http)

        assert reply.http_status == 401
        assert not reply.verified
        assert world.book.state("pay-1") is _S.REQUIRES_ACTION

    async def test_tampered_is_refused(self, world: World) -> None:
        """A credit whose amount was changed after signing is refused."""
        await world.deposit()
        credit = world.simulator.notification(world.order("pay-1"), "credit")

        reply = await world.simulator.notify(
            credit.tampered(amount="2000.00"), world.http
        )

        assert reply.http_status == 401
        assert world.book.applied == []

    async def test_unreadable_amount_is_failed(self, world: World) -> None:
        """A genuine credit with an amount finer than SEK allows is answered FAILED."""
        await world.deposit()

        reply = await world.notify("pay-1", "credit", amount="20.005")

        assert reply.verified
        assert reply.status == "FAILED"
        assert world.book.state("pay-1") is _S.REQUIRES_ACTION

    async def test_refund_then_confirmation(self, world: World) -> None:
        """A partial refund leaves the deposit succeeded until Trustly confirms it."""
        await world.deposit()
        await world.notify("pay-1", "credit")
        payment = world.book.record("pay-1", Money(2000, "SEK"))

        result = await world.adapter.refund(payment, Money(500, "SEK"))
        confirmed = await world.notify("pay-1", "payoutconfirmation", amount="5.00")

        assert result.state is _S.SUCCEEDED
        assert world.simulator.orders[world.order("pay-1")].refunded == 5
        assert confirmed.ok
        assert world.book.state("pay-1") is _S.REFUNDED

    async def test_refund_beyond_the_deposit_is_declined(self, world: World) -> None:
        """Refunding more than was deposited is Trustly's 615."""
        await world.deposit()
        payment = world.book.record("pay-1", Money(2000, "SEK"))

        with pytest.raises(PaymentFailure) as raised:
            await world.adapter.refund(payment, Money(2001, "SEK"))

        assert raised.value.context["code"] == 615


class TestPayoutNotifications:
    async def test_withdraw_approved_and_paid(self, world: World) -> None:
        """Debit awaits approval, approval processes, confirmation pays."""
        await world.payout()

        debit = await world.notify("pay-2", "debit")
        assert world.book.state("pay-2") is _S.PENDING_APPROVAL
        approved = await world.adapter.approve_payout(
            world.book.record("pay-2", Money(5000, "SEK"))
        )
        world.book.started("pay-2", approved.state, approved.provider_reference)
        paid = await world.notify("pay-2", "payoutconfirmation")

        assert debit.ok and paid.ok
        assert approved.state is _S.PROCESSING
        assert world.simulator.orders[world.order("pay-2")].status == "paid"
        assert world.book.state("pay-2") is _S.PAID

    async def test_credit_after_paid_is_a_return(self, world: World) -> None:
        """A credit after the payout was paid means the bank sent the money back."""
        await world.payout()
        await world.notify("pay-2", "debit")
        world.book.started("pay-2", _S.PROCESSING, world.order("pay-2"))
        await world.notify("pay-2", "payoutconfirmation")

        reply = await world.notify("pay-2", "credit")

        assert reply.ok
        assert world.book.state("pay-2") is _S.RETURNED

    async def test_denied_withdrawal(self, world: World) -> None:
        """Voiding a withdrawal that awaits approval denies it: canceled."""
        await world.payout()
        await world.notify("pay-2", "debit")

        result = await world.adapter.void(
            world.book.record("pay-2", Money(5000, "SEK"))
        )
        world.book.started("pay-2", result.state, result.provider_reference)
        cancel = await world.notify("pay-2", "cancel")

        assert result.state is _S.CANCELED
        assert world.simulator.orders[world.order("pay-2")].status == "denied"
        assert cancel.ok

    async def test_approval_before_the_debit_is_not_accepted(
        self, world: World
    ) -> None:
        """Trustly does not approve a withdrawal the player has not confirmed."""
        await world.payout()
        payment = world.book.record("pay-2", Money(5000, "SEK"))
        early = PaymentRecord(
            payment_id=payment.payment_id,
            kind=payment.kind,
            state=_S.PENDING_APPROVAL,
            amount=payment.amount,
            provider_reference=payment.provider_reference,
            player=payment.player,
        )

        with pytest.raises(PaymentFailure) as raised:
            await world.adapter.approve_payout(early)

        assert raised.value.outcome == "declined"

    async def test_failed_account_payout(self, world: World) -> None:
        """A credit on a processing AccountPayout says it failed."""
        await world.payout(kyc={"account_id": "9988776655"})

        reply = await world.notify("pay-2", "credit")

        assert reply.ok
        assert world.book.state("pay-2") is _S.FAILED

    async def test_account_notification_moves_nothing(self, world: World) -> None:
        """An account notification is acknowledged and moves no payment."""
        await world.payout()

        reply = await world.notify(
            "pay-2", "account", accountid="1234567890", verified="1"
        )

        assert reply.ok
        assert world.book.applied == []


class TestCli:
    def test_serve_prints_its_public_key(
        self, tmp_path: Path, merchant_keys: KeyPair, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`serve` prints Trustly's public key and API URL and writes its key 0600."""
        served: list[web.Application] = []
        monkeypatch.setattr(web, "run_app", lambda app, **_: served.append(app))
        merchant_pem = tmp_path / "merchant.pem"
        merchant_pem.write_text(merchant_keys.public_pem)
        private_out = tmp_path / "trustly.key"

        result = CliRunner().invoke(
            cli,
            [
                "serve",
                "--merchant-public-key",
                str(merchant_pem),
                "--port",
                "9191",
                "--private-key-out",
                str(private_out),
            ],
        )

        assert result.exit_code == 0, result.output
        assert "http://127.0.0.1:9191/api/1" in result.output
        assert "BEGIN PUBLIC KEY" in result.output
        assert "PRIVATE" not in result.output
        assert len(served) == 1
        assert "PRIVATE KEY" in private_out.read_text()
        assert os.stat(private_out).st_mode & 0o777 == 0o600


def test_public_api_is_documented() -> None:
    """Every class and function the simulator package exports has a docstring."""
    import examples.trustly_simulator as simulator

    exported = [getattr(simulator, name) for name in simulator.__all__]
    undocumented = [
        thing for thing in exported if callable(thing) and not thing.__doc__
    ]

    assert undocumented == []
