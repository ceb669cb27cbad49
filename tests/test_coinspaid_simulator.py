"""The simulated CoinsPaid over real loopback HTTP, in both directions.

The adapter calls the simulator's API; the simulator posts its callbacks to a
small receiver that hands them to the adapter as the gateway would.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiohttp import web
from click.testing import CliRunner
from pydantic import SecretStr

from adapters.coinspaid import CoinspaidAdapter, CoinspaidConfig
from contracts import AdapterContext, Callback, CurrencyTable, GamegateError, Money
from contracts.payments import (
    PaymentEvent,
    PaymentFailure,
    PaymentKind,
    PaymentMethod,
    PaymentRequest,
    PaymentState,
    can_move,
)
from examples.coinspaid_simulator import Fault, Processing, run_simulator, serve
from examples.coinspaid_simulator.__main__ import main

PUBLIC_KEY = "placeholder-public-key"
SECRET = "placeholder-secret"
PLAYER = "player-0001"
BTC_ADDRESS = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
CURRENCIES = {"BTC": 8, "ETH": 18, "USDT": 6, "XRP": 6, "LTC": 8}


def adapter_for(
    api_url: str, http: httpx.AsyncClient, **overrides: Any
) -> CoinspaidAdapter:
    """Build a coinspaid adapter pointed at an API base URL."""
    settings: dict[str, Any] = {
        "api_url": api_url,
        "public_key": PUBLIC_KEY,
        "secret": SecretStr(SECRET),
        **overrides,
    }
    context = AdapterContext(
        instance="coinspaid-main", currencies=CurrencyTable(CURRENCIES), http=http
    )
    return CoinspaidAdapter(CoinspaidConfig(**settings), context)


def payment(
    kind: PaymentKind = PaymentKind.DEPOSIT,
    amount: Money | None = None,
    *,
    payment_id: str = "pay-0001",
    player: str = PLAYER,
    **kyc: str,
) -> PaymentRequest:
    """Return a crypto payment request with placeholder player data."""
    return PaymentRequest(
        payment_id=payment_id,
        kind=kind,
        reference=f"casino-{payment_id}",
        idempotency_key=f"idem-{payment_id}",
        player=player,
        amount=amount or Money(2_000_000, "BTC"),
        method=PaymentMethod.CRYPTO,
        kyc=kyc,
    )


def payout(
    amount: Money | None = None, payment_id: str = "pay-0001", **kyc: str
) -> PaymentRequest:
    """Return a payout request to a well-formed BTC address unless told otherwise."""
    kyc = {"crypto_address": BTC_ADDRESS, **kyc}
    return payment(PaymentKind.PAYOUT, amount, payment_id=payment_id, **kyc)


@dataclass
class Receiver:
    """The gateway's side of the callbacks: what was accepted and refused."""

    url: str
    events: list[PaymentEvent] = field(default_factory=list)
    refusals: list[GamegateError] = field(default_factory=list)

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        """Wait until `count` events have arrived."""
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                await asyncio.sleep(0.01)


RECEIVER = web.AppKey("receiver", Receiver)
ADAPTER = web.AppKey("adapter", CoinspaidAdapter)


async def _receive(request: web.Request) -> web.Response:
    receiver, adapter = request.app[RECEIVER], request.app[ADAPTER]
    incoming = Callback(
        path=request.match_info["path"],
        method=request.method,
        headers=dict(request.headers),
        query=dict(request.query),
        body=await request.read(),
        remote=request.remote,
    )
    try:
        events = adapter.parse_webhook(incoming)
    except GamegateError as error:
        receiver.refusals.append(error)
        answer = adapter.render_webhook_error(incoming, error)
    else:
        receiver.events.extend(events)
        answer = adapter.acknowledge(incoming, events)

    return web.Response(
        status=answer.status, body=answer.body, content_type=answer.content_type
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the one the gateway hands to adapters."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def receiver(http: httpx.AsyncClient) -> AsyncIterator[Receiver]:
    """A loopback callback endpoint that runs the adapter as the gateway does."""
    found = Receiver("")
    app = web.Application()
    app[RECEIVER] = found
    app[ADAPTER] = adapter_for("http://127.0.0.1:1/api", http)
    app.router.add_route("*", "/providers/coinspaid-main/{path}", _receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    found.url = f"http://127.0.0.1:{port}/providers/coinspaid-main/callback"
    try:
        yield found
    finally:
        await runner.cleanup()


@pytest.fixture
async def processing(receiver: Receiver) -> AsyncIterator[tuple[Processing, str]]:
    """A simulated CoinsPaid on a free loopback port, calling back the receiver."""
    simulated = Processing(PUBLIC_KEY, SECRET, webhook_url=receiver.url, seed=3)
    async with serve(simulated) as api_url:
        yield simulated, api_url


@pytest.fixture
def adapter(
    processing: tuple[Processing, str], http: httpx.AsyncClient
) -> CoinspaidAdapter:
    """A coinspaid adapter pointed at the simulator."""
    return adapter_for(processing[1], http)


class TestAddresses:
    async def test_same_player_same_address(
        self, adapter: CoinspaidAdapter, processing: tuple[Processing, str]
    ) -> None:
        """Taking an address twice for one player and currency gives the same one."""
        first = await adapter.create_deposit(payment())
        again = await adapter.create_deposit(payment(payment_id="pay-0002"))

        assert first.state is PaymentState.REQUIRES_ACTION
        assert first.action is not None and again.action is not None
        assert first.action.value == again.action.value
        assert first.provider_reference == again.provider_reference
        assert len(processing[0].addresses) == 1

    async def test_other_player_or_currency_other_address(
        self, adapter: CoinspaidAdapter
    ) -> None:
        """Another player, or another currency, gets an address of its own."""
        mine = await adapter.create_deposit(payment())
        theirs = await adapter.create_deposit(payment(player="player-0002"))
        ether = await adapter.create_deposit(payment(amount=Money(1, "ETH")))

        values = {
            result.action.value for result in (mine, theirs, ether) if result.action
        }
        assert len(values) == 3

    async def test_tag_for_memo_currencies(self, adapter: CoinspaidAdapter) -> None:
        """An XRP address comes with the tag the player must send."""
        result = await adapter.create_deposit(payment(amount=Money(1, "XRP")))

        assert result.action is not None
        assert result.action.details["currency"] == "XRP"
        assert result.action.details["tag"].isdigit()

    async def test_disabled_currency_declined_for_another_provider(
        self, adapter: CoinspaidAdapter
    ) -> None:
        """A currency not enabled for the merchant is CoinsPaid's decline, not ours."""
        with pytest.raises(PaymentFailure) as failure:
            await adapter.create_deposit(payment(amount=Money(1, "DOGE")))

        assert failure.value.outcome == "declined"
        assert failure.value.may_fall_back

    @pytest.mark.parametrize(
        "overrides",
        [{"secret": SecretStr("wrong-secret")}, {"public_key": "someone-else"}],
        ids=["secret", "key"],
    )
    async def test_simulator_checks_our_signature(
        self,
        processing: tuple[Processing, str],
        http: httpx.AsyncClient,
        overrides: dict[str, Any],
    ) -> None:
        """A request signed with the wrong secret or key is refused with a 403."""
        adapter = adapter_for(processing[1], http, **overrides)

        with pytest.raises(PaymentFailure, match="HTTP 403") as failure:
            await adapter.create_deposit(payment())

        assert failure.value.outcome == "declined"
        assert not processing[0].addresses


class TestWithdrawals:
    async def test_payout_accepted(
        self, adapter: CoinspaidAdapter, processing: tuple[Processing, str]
    ) -> None:
        """A payout is processing, under CoinsPaid's id, for exactly the amount."""
        result = await adapter.create_payout(payout(Money(2_000_001, "BTC")))

        recorded = processing[0].withdrawals["pay-0001"]
        assert result.state is PaymentState.PROCESSING
        assert result.provider_reference == str(recorded.id)
        assert recorded.amount == "0.02000001"
        assert recorded.address == BTC_ADDRESS

    async def test_over_approval_limit_pending(
        self, processing: tuple[Processing, str], adapter: CoinspaidAdapter
    ) -> None:
        """A payout above the merchant's withdrawal limit waits for approval."""
        processing[0].approval_limit = Decimal("0.01")

        result = await adapter.create_payout(payout())

        assert result.state is PaymentState.PENDING_APPROVAL

    async def test_repeated_payment_id_never_falls_back(
        self, adapter: CoinspaidAdapter
    ) -> None:
        """A second request for one payment id is unknown, never tried elsewhere."""
        await adapter.create_payout(payout())

        with pytest.raises(PaymentFailure) as failure:
            await adapter.create_payout(payout())

        assert failure.value.outcome == "unknown"
        assert not failure.value.may_fall_back

    @pytest.mark.parametrize(
        ("request_", "shareable"),
        [
            (payout(crypto_address="not-an-address"), True),
            (payout(Money(1_000_000, "XRP"), crypto_address="r" + "a" * 30), True),
            (payout(Money(1, "BTC")), False),
            (payout(Money(10**12, "BTC")), False),
        ],
        ids=["bad address", "missing tag", "below minimum", "over balance"],
    )
    async def test_refusals_say_whose(
        self, adapter: CoinspaidAdapter, request_: PaymentRequest, shareable: bool
    ) -> None:
        """The player's refusals stop there; CoinsPaid's let another provider try."""
        with pytest.raises(PaymentFailure) as failure:
            await adapter.create_payout(request_)

        assert failure.value.outcome == "declined"
        assert failure.value.shareable is shareable


class TestFaults:
    @pytest.mark.parametrize("operation", ["deposit", "payout"])
    @pytest.mark.parametrize(
        "fault",
        [Fault.error(500), Fault.error(503, {"error": "maintenance"}), Fault.reset()],
        ids=["500", "503", "reset"],
    )
    async def test_after_sending_unknown(
        self,
        adapter: CoinspaidAdapter,
        processing: tuple[Processing, str],
        fault: Fault,
        operation: str,
    ) -> None:
        """A 5xx or a dropped connection after sending leaves the outcome unknown."""
        processing[0].inject(fault)

        with pytest.raises(PaymentFailure) as failure:
            if operation == "deposit":
                await adapter.create_deposit(payment())
            else:
                await adapter.create_payout(payout())

        assert failure.value.outcome == "unknown"
        assert not failure.value.may_fall_back

    async def test_timeout_unknown(
        self, processing: tuple[Processing, str], http: httpx.AsyncClient
    ) -> None:
        """A request that reaches CoinsPaid and gets no answer in time is unknown."""
        adapter = adapter_for(processing[1], http, timeout_seconds=0.2)
        processing[0].inject(Fault.hang())

        with pytest.raises(PaymentFailure) as failure:
            await adapter.create_payout(payout())
        processing[0].release()

        assert failure.value.outcome == "unknown"
        assert processing[0].received["withdrawal/crypto"] == 1

    async def test_closed_port_unreachable(self, http: httpx.AsyncClient) -> None:
        """Nothing listening means nothing was sent: another provider may try."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        adapter = adapter_for(f"http://127.0.0.1:{port}/api", http)

        with pytest.raises(PaymentFailure) as failure:
            await adapter.create_payout(payout())

        assert failure.value.outcome == "unreachable"
        assert failure.value.may_fall_back

    async def test_run_simulator_yields_api_url(self, http: httpx.AsyncClient) -> None:
        """run_simulator serves a fresh CoinsPaid and yields the adapter's api_url."""
        async with run_simulator(PUBLIC_KEY, SECRET) as api_url:
            adapter = adapter_for(api_url, http)
            result = await adapter.create_deposit(payment())

        assert api_url.endswith("/api")
        assert result.action is not None and result.action.value


class TestCallbacks:
    async def test_deposit_seen_then_confirmed(
        self, processing: tuple[Processing, str], receiver: Receiver
    ) -> None:
        """A deposit arrives as pending, then succeeded, for the player, exactly."""
        deliveries = await processing[0].deposit(PLAYER, "BTC", "0.29000000")

        seen, confirmed = receiver.events
        assert [seen.state, confirmed.state] == [
            PaymentState.PENDING,
            PaymentState.SUCCEEDED,
        ]
        assert seen.provider_reference == confirmed.provider_reference
        assert seen.event_id != confirmed.event_id
        assert confirmed.payment_id is None
        assert confirmed.player == PLAYER
        assert confirmed.amount == Money(29_000_000, "BTC")
        assert [(d.status, d.answer) for d in deliveries] == [(200, b"")] * 2

    @pytest.mark.parametrize(
        ("amount", "minor"),
        [("0.29", 29_000_000), ("1.15", 115_000_000), ("6.53157512", 653_157_512)],
    )
    async def test_amounts_as_json_numbers_exact(
        self,
        processing: tuple[Processing, str],
        receiver: Receiver,
        amount: str,
        minor: int,
    ) -> None:
        """Amounts sent as JSON numbers arrive as exactly the same minor units."""
        deliveries = await processing[0].deposit(
            PLAYER, "BTC", amount, statuses=("confirmed",), amounts_as_numbers=True
        )

        assert f'"amount":{amount},'.encode() in deliveries[0].body
        assert receiver.events[0].amount == Money(minor, "BTC")

    async def test_out_of_order_settles_forward(
        self, processing: tuple[Processing, str], receiver: Receiver
    ) -> None:
        """A confirmed before its not_confirmed leaves the deposit succeeded."""
        await processing[0].deposit(
            PLAYER, "BTC", "0.01", statuses=("confirmed", "not_confirmed")
        )

        state = PaymentState.CREATED
        for event in receiver.events:
            if can_move(PaymentKind.DEPOSIT, state, event.state):
                state = event.state
        assert state is PaymentState.SUCCEEDED

    async def test_repeated_callback_same_event(
        self, processing: tuple[Processing, str], receiver: Receiver
    ) -> None:
        """A retried callback is accepted again and reads as the same event."""
        first = (
            await processing[0].deposit(PLAYER, "BTC", "0.01", statuses=("confirmed",))
        )[0]
        again = await processing[0].retransmit(first)

        assert again.accepted
        assert receiver.events[0] == receiver.events[1]
        assert len({event.event_id for event in receiver.events}) == 1

    @pytest.mark.parametrize("forgery", ["secret", "key", "unsigned", "tampered"])
    async def test_forged_callbacks_refused(
        self, processing: tuple[Processing, str], receiver: Receiver, forgery: Any
    ) -> None:
        """A callback not signed by this account's key pair gets a 403 and no event."""
        deliveries = await processing[0].deposit(
            PLAYER, "BTC", "0.01", statuses=("not_confirmed",), forge=forgery
        )

        assert deliveries[0].status == 403
        assert not receiver.events
        assert receiver.refusals

    async def test_cancelled_deposit_failed(
        self, processing: tuple[Processing, str], receiver: Receiver
    ) -> None:
        """A double-spent deposit fails, with CoinsPaid's reason."""
        await processing[0].deposit(
            PLAYER, "BTC", "0.01", statuses=("not_confirmed", "cancelled")
        )

        assert receiver.events[-1].state is PaymentState.FAILED
        assert receiver.events[-1].reason == "Double spend"

    async def test_converted_deposit_in_eur(
        self,
        processing: tuple[Processing, str],
        receiver: Receiver,
        http: httpx.AsyncClient,
    ) -> None:
        """A deposit converted to EUR reports what reached the balance, in EUR."""
        adapter = adapter_for(processing[1], http, convert_to="EUR")
        await adapter.create_deposit(payment())

        await processing[0].deposit(
            PLAYER, "BTC", "0.01000000", statuses=("confirmed",), received="84.17"
        )

        assert receiver.events[0].amount == Money(8417, "EUR")

    @pytest.mark.parametrize(
        ("statuses", "final"),
        [
            (("confirmed",), PaymentState.PAID),
            (("not_confirmed", "confirmed"), PaymentState.PAID),
            (("cancelled",), PaymentState.FAILED),
        ],
    )
    async def test_payout_settled_by_callback(
        self,
        adapter: CoinspaidAdapter,
        processing: tuple[Processing, str],
        receiver: Receiver,
        statuses: tuple[str, ...],
        final: PaymentState,
    ) -> None:
        """A payout's callbacks name its payment and carry it to its final state."""
        result = await adapter.create_payout(payout())

        await processing[0].settle_withdrawal("pay-0001", statuses)

        state = result.state
        for event in receiver.events:
            assert event.payment_id == "pay-0001"
            assert event.provider_reference == result.provider_reference
            if can_move(PaymentKind.PAYOUT, state, event.state):
                state = event.state
        assert state is final

    async def test_settle_after_confirms_by_itself(
        self, receiver: Receiver, http: httpx.AsyncClient
    ) -> None:
        """With settle_after, a served simulator confirms each payout on its own."""
        simulated = Processing(
            PUBLIC_KEY, SECRET, webhook_url=receiver.url, settle_after=0.05
        )
        async with serve(simulated) as api_url:
            await adapter_for(api_url, http).create_payout(payout())
            await receiver.wait_for(1)

        assert receiver.events[0].state is PaymentState.PAID

    async def test_unsolicited_deposits_open_payments(
        self,
        adapter: CoinspaidAdapter,
        processing: tuple[Processing, str],
        receiver: Receiver,
    ) -> None:
        """Two deposits to one address become two payments, keyed by reference."""
        await adapter.create_deposit(payment())
        await processing[0].deposit(PLAYER, "BTC", "0.01")
        await processing[0].deposit(PLAYER, "BTC", "0.02")

        payments: dict[str | None, tuple[str | None, PaymentState]] = {}
        for event in receiver.events:
            player, state = payments.get(
                event.provider_reference, (event.player, PaymentState.CREATED)
            )
            if can_move(PaymentKind.DEPOSIT, state, event.state):
                state = event.state
            payments[event.provider_reference] = (player, state)
        assert list(payments.values()) == [(PLAYER, PaymentState.SUCCEEDED)] * 2


class TestCommandLine:
    def test_serve_documented(self) -> None:
        """`serve` is a command with its key pair, address and webhook options."""
        result = CliRunner().invoke(main, ["serve", "--help"])

        assert result.exit_code == 0
        for option in ("--public-key", "--secret", "--port", "--webhook-url"):
            assert option in result.output

    async def test_deposit_command_sends_callbacks(self, receiver: Receiver) -> None:
        """`deposit` sends a deposit's signed callbacks and prints the answers."""
        arguments = [
            "deposit",
            f"--webhook-url={receiver.url}",
            f"--player={PLAYER}",
            "--amount=0.5",
            "--numbers",
        ]
        environment = {"COINSPAID_PUBLIC_KEY": PUBLIC_KEY, "COINSPAID_SECRET": SECRET}

        result = await asyncio.to_thread(
            CliRunner().invoke, main, arguments, env=environment
        )

        assert result.exit_code == 0, result.output
        assert "confirmed: HTTP 200" in result.output
        assert [event.amount for event in receiver.events] == [
            Money(50_000_000, "BTC")
        ] * 2
