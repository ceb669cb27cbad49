"""The simulated aggregator: its API over loopback, its client, and a gateway run.

The last group runs the real gateway on loopback with a SQLite file, launches
a game through the simulator, and plays balance, bet, win, refund and
rollback callbacks signed as the aggregator signs them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

import adapters.slotegrator
from adapters.slotegrator import SlotegratorAdapter, SlotegratorConfig
from contracts import (
    AdapterContext,
    Callback,
    CreditKind,
    CurrencyTable,
    GamegateError,
    LaunchRequest,
    Mode,
    Operation,
    OperationOutcome,
    ProviderError,
    Status,
    WalletOperation,
    WalletOutcome,
    WalletRequest,
)
from contracts.testing.client import ProviderClient
from examples.slotegrator_simulator import (
    DEFAULT_GAMES,
    Aggregator,
    AggregatorGame,
    RolledBack,
    SlotegratorClient,
    http_build_query,
    ksort,
    parse_str,
    run_simulator,
    signature,
    urlencode,
)
from gateway.app import build_app
from gateway.config import parse_config
from gateway.plugins import load_adapters

KEY = "placeholder-merchant-key"
MERCHANT = "merchant-0001"
PLAYER = "casino-a:player-1"
GAME = DEFAULT_GAMES[0].uuid
PROCESSED = datetime(2024, 1, 1, tzinfo=UTC)

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


def adapter_for(
    base_url: str, http: httpx.AsyncClient, merchant: str = MERCHANT
) -> SlotegratorAdapter:
    """Build a slotegrator adapter pointed at a base URL."""
    config = SlotegratorConfig(
        base_url=base_url, merchant_id=merchant, merchant_key=SecretStr(KEY)
    )
    context = AdapterContext(
        instance="slotegrator-direct", currencies=CurrencyTable(), http=http
    )
    return SlotegratorAdapter(config, context)


def launch_request(mode: Mode = Mode.REAL, game: str = GAME) -> LaunchRequest:
    """Return a launch request with placeholder player data."""
    return LaunchRequest(
        session_token="gg-session-1",
        player=PLAYER,
        game=game,
        currency="EUR",
        mode=mode,
        lobby_url="https://casino.example.test/lobby",
    )


def signed_headers(params: dict[str, Any], merchant: str = MERCHANT) -> dict[str, str]:
    """Return the X-* headers of a merchant request to the aggregator."""
    headers = {
        "X-Merchant-Id": merchant,
        "X-Timestamp": str(int(time.time())),
        "X-Nonce": "n-1",
    }
    headers["X-Sign"] = signature(KEY, params, headers)
    return headers


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the one the gateway hands to adapters."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def aggregator() -> AsyncIterator[tuple[Aggregator, str]]:
    """An aggregator serving its API on a free loopback port, one game a page."""
    simulator = Aggregator(MERCHANT, KEY, per_page=1, seed=7)
    async with simulator.serve() as base_url:
        yield simulator, base_url


class TestSigning:
    @pytest.mark.parametrize(
        ("params", "query"),
        [
            ({"a": "b c"}, "a=b+c"),
            ({"a": "~*+"}, "a=%7E%2A%2B"),
            ({"a": ""}, "a="),
            ({"a": None, "b": "1"}, "b=1"),
            ({"a": True, "b": False}, "a=1&b=0"),
            (
                {"list": [{"x": "1", "y": "2"}, {"x": "3"}]},
                "list%5B0%5D%5Bx%5D=1&list%5B0%5D%5By%5D=2&list%5B1%5D%5Bx%5D=3",
            ),
        ],
        ids=["space", "reserved", "empty", "null", "booleans", "nested"],
    )
    def test_http_build_query(self, params: dict[str, Any], query: str) -> None:
        """The PHP model renders values as http_build_query does."""
        assert http_build_query(params) == query

    def test_parse_str_undoes_http_build_query(self) -> None:
        """Reading a rendered query gives back the nested parameters."""
        params = {"a": "x y", "list": {"0": {"k": "v", "j": "w"}, "1": {"k": "z"}}}

        assert parse_str(http_build_query(params)) == params

    def test_ksort_is_byte_wise(self) -> None:
        """Upper-case names sort before lower-case ones, as PHP's ksort does."""
        assert list(ksort({"b": 1, "X-Nonce": 2, "a": 3, "Z": 4})) == [
            "X-Nonce",
            "Z",
            "a",
            "b",
        ]

    def test_urlencode_non_ascii(self) -> None:
        """Non-ASCII text is encoded as its UTF-8 bytes."""
        assert urlencode("€") == "%E2%82%AC"


class TestAggregatorApi:
    async def test_run_simulator_serves_on_a_free_port(self) -> None:
        """run_simulator yields a loopback base URL that answers the game list."""
        async with (
            run_simulator(MERCHANT, KEY) as base_url,
            httpx.AsyncClient() as client,
        ):
            answer = await client.get(
                f"{base_url}/games",
                params={"page": "1"},
                headers=signed_headers({"page": "1"}),
            )

        assert base_url.startswith("http://127.0.0.1:")
        assert answer.status_code == 200
        assert answer.json()["_meta"]["totalCount"] == len(DEFAULT_GAMES)

    async def test_signed_launch_is_accepted(
        self, aggregator: tuple[Aggregator, str], http: httpx.AsyncClient
    ) -> None:
        """The adapter's signed games init opens a session with the gateway token."""
        simulator, base_url = aggregator

        result = await adapter_for(base_url, http).launch(launch_request())

        assert result.url.startswith(f"{base_url}/play/")
        session = simulator.session_for(result.url)
        assert (session.player_id, session.currency, session.session_id) == (
            PLAYER,
            "EUR",
            "gg-session-1",
        )
        assert session.demo is False
        page = await http.get(result.url)
        assert page.status_code == 200 and "Fruit Reels" in page.text

    async def test_demo_launch_is_accepted(
        self, aggregator: tuple[Aggregator, str], http: httpx.AsyncClient
    ) -> None:
        """A demo launch opens a session without player, currency or token."""
        simulator, base_url = aggregator

        result = await adapter_for(base_url, http).launch(launch_request(Mode.DEMO))

        session = simulator.session_for(result.url)
        assert (session.demo, session.player_id, session.session_id) == (
            True,
            None,
            None,
        )

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {**signed_headers({"game_uuid": GAME}), "X-Sign": "0" * 40},
            signed_headers({"game_uuid": "another"}),
            signed_headers({"game_uuid": GAME}, merchant="merchant-other"),
            {**signed_headers({"game_uuid": GAME}), "X-Timestamp": "1700000000"},
        ],
        ids=["unsigned", "zeros", "other-params", "other-merchant", "stale"],
    )
    async def test_bad_credentials_are_refused(
        self,
        aggregator: tuple[Aggregator, str],
        http: httpx.AsyncClient,
        headers: dict[str, str],
    ) -> None:
        """A launch without valid merchant credentials is refused with 403."""
        _, base_url = aggregator

        answer = await http.post(
            f"{base_url}/games/init-demo",
            content=http_build_query({"game_uuid": GAME}).encode(),
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        )

        assert answer.status_code == 403
        assert answer.json()["name"] == "Forbidden"

    @pytest.mark.parametrize(
        ("mode", "game", "merchant"),
        [
            (Mode.REAL, "missing-game", MERCHANT),
            (Mode.DEMO, DEFAULT_GAMES[2].uuid, MERCHANT),
            (Mode.REAL, GAME, "merchant-other"),
        ],
        ids=["unknown-game", "demo-not-offered", "other-merchant"],
    )
    async def test_refused_launch_is_not_retryable(
        self,
        aggregator: tuple[Aggregator, str],
        http: httpx.AsyncClient,
        mode: Mode,
        game: str,
        merchant: str,
    ) -> None:
        """A launch the aggregator refuses reaches the adapter as a final error."""
        _, base_url = aggregator

        with pytest.raises(ProviderError) as raised:
            await adapter_for(base_url, http, merchant).launch(
                launch_request(mode, game)
            )

        assert raised.value.retryable is False

    async def test_injected_failure_is_retryable(
        self, aggregator: tuple[Aggregator, str], http: httpx.AsyncClient
    ) -> None:
        """A launch failure the aggregator was told to fake is a retryable error."""
        simulator, base_url = aggregator
        simulator.fail_launches(503)
        adapter = adapter_for(base_url, http)

        with pytest.raises(ProviderError) as raised:
            await adapter.launch(launch_request())
        result = await adapter.launch(launch_request())

        assert raised.value.retryable is True
        assert result.url.startswith(base_url)

    async def test_game_list_across_pages(
        self, aggregator: tuple[Aggregator, str], http: httpx.AsyncClient
    ) -> None:
        """The adapter reads every page of the catalogue, one game a page here."""
        simulator, base_url = aggregator

        games = await adapter_for(base_url, http).list_games()

        assert [game.id for game in games] == list(simulator.games)
        assert [game.free_rounds for game in games] == [False, True, False, False]
        assert games[3].category == "blackjack"

    async def test_sessions_are_repeatable(self, http: httpx.AsyncClient) -> None:
        """Two aggregators with one seed hand out the same launch tokens."""
        tokens = []
        for _ in range(2):
            simulator = Aggregator(MERCHANT, KEY, seed=3)
            async with simulator.serve() as base_url:
                await adapter_for(base_url, http).launch(launch_request())
            tokens.append(list(simulator.sessions))

        assert tokens[0] == tokens[1]


@dataclass
class FakeWallet:
    """A tiny stand-in for the gateway's ledger, enough to read answers against."""

    balances: dict[str, int]
    applied: dict[str, tuple[OperationOutcome, int]] = field(default_factory=dict)

    def apply(self, request: WalletRequest) -> WalletOutcome:
        """Apply a request's operations all or none, replaying known ids."""
        balance = self.balances[request.player]
        outcomes = []
        pending: dict[str, tuple[OperationOutcome, int]] = {}
        for operation in request.operations:
            known = self.applied.get(operation.transaction_id)
            if known is not None:
                outcomes.append(replace(known[0], replay=True))
                continue
            change = self._change(operation)
            if balance + change < 0:
                return WalletOutcome(
                    status=Status.INSUFFICIENT_FUNDS,
                    currency=request.currency,
                    balance=balance,
                    failed_transaction_id=operation.transaction_id,
                )
            balance += change
            outcome = OperationOutcome(
                transaction_id=operation.transaction_id,
                gateway_transaction_id=f"gw-{len(self.applied) + len(pending) + 1}",
                processed_at=PROCESSED,
            )
            pending[operation.transaction_id] = (outcome, change)
            outcomes.append(outcome)

        self.balances[request.player] = balance
        self.applied.update(pending)

        return WalletOutcome(
            status=Status.OK,
            currency=request.currency,
            balance=balance,
            operations=tuple(outcomes),
        )

    def _change(self, operation: WalletOperation) -> int:
        if operation.operation is Operation.DEBIT:
            return -operation.amount
        if operation.operation is Operation.ROLLBACK:
            original = self.applied.get(operation.reference_transaction_id or "")
            return -original[1] if original else 0
        return operation.amount


@dataclass
class FakeGateway:
    """What the fake gateway read from each callback, and its wallet."""

    callback_url: str
    wallet: FakeWallet
    requests: list[WalletRequest]


def gateway_app(adapter: SlotegratorAdapter, gateway: FakeGateway) -> web.Application:
    """Build an app that reads callbacks with the adapter, as the gateway does."""

    async def provider_callback(request: web.Request) -> web.Response:
        arrived = Callback(
            path=request.match_info["path"],
            method=request.method,
            headers=request.headers,
            query=request.query,
            body=await request.read(),
        )
        try:
            wallet_request = adapter.parse_callback(arrived)
        except GamegateError as error:
            answer = adapter.render_error(arrived, error)
        else:
            gateway.requests.append(wallet_request)
            outcome = gateway.wallet.apply(wallet_request)
            answer = adapter.render_outcome(arrived, wallet_request, outcome)

        return web.Response(
            status=answer.status, body=answer.body, content_type=answer.content_type
        )

    app = web.Application()
    app.router.add_post("/providers/slotegrator-direct/{path}", provider_callback)
    return app


@pytest.fixture
async def gateway(
    aiohttp_server: ServerFactory, http: httpx.AsyncClient
) -> FakeGateway:
    """A fake gateway on loopback that reads callbacks with the real adapter."""
    adapter = adapter_for("https://gis.example.test", http)
    gateway = FakeGateway(
        callback_url="", wallet=FakeWallet({PLAYER: 1_000}), requests=[]
    )
    server = await aiohttp_server(gateway_app(adapter, gateway))
    gateway.callback_url = str(
        server.make_url("/providers/slotegrator-direct/callback")
    )
    return gateway


@pytest.fixture
async def client(gateway: FakeGateway) -> AsyncIterator[SlotegratorClient]:
    """An aggregator client pointed at the fake gateway's callback URL."""
    async with SlotegratorClient(gateway.callback_url, MERCHANT, KEY) as client:
        yield client


SESSION: dict[str, Any] = {
    "player": PLAYER,
    "currency": "EUR",
    "session_token": "gg-session-1",
}


class TestCallbackClient:
    async def test_is_a_provider_client(self, http: httpx.AsyncClient) -> None:
        """The client satisfies the conformance kit's ProviderClient protocol."""
        client: ProviderClient = SlotegratorClient(
            "http://127.0.0.1:1/callback", MERCHANT, KEY, http=http
        )

        assert callable(client.send_malformed)

    async def test_balance(
        self, client: SlotegratorClient, gateway: FakeGateway
    ) -> None:
        """A balance call reads as a request without operations."""
        answer = await client.balance(**SESSION)

        assert (answer.status, answer.balance, answer.http_status) == (
            Status.OK,
            1_000,
            200,
        )
        assert gateway.requests == [
            WalletRequest(
                player=PLAYER,
                currency="EUR",
                session_token="gg-session-1",
                game=GAME,
                raw=answer.request,
            )
        ]

    async def test_debit(self, client: SlotegratorClient, gateway: FakeGateway) -> None:
        """A bet reads as one debit in its round and answers the gateway's id."""
        answer = await client.debit(
            **SESSION, amount=150, transaction_id="t-1", round_id="r-1"
        )

        assert (answer.balance, answer.transaction_ref) == (850, "gw-1")
        assert gateway.requests[-1].operations == (
            WalletOperation(
                operation=Operation.DEBIT, transaction_id="t-1", amount=150
            ),
        )
        assert gateway.requests[-1].round_id == "r-1"

    async def test_free_round_debit(
        self, client: SlotegratorClient, gateway: FakeGateway
    ) -> None:
        """A free-round bet of zero carries its campaign reference."""
        await client.debit(
            **SESSION, amount=0, transaction_id="t-2", round_id="r-2", free_round=True
        )

        assert gateway.requests[-1].operations[0].references == {
            "freespin_id": "fs-r-2"
        }

    async def test_credit_closes_the_round(
        self, client: SlotegratorClient, gateway: FakeGateway
    ) -> None:
        """A win reads as a credit of kind win that closes its round."""
        answer = await client.credit(
            **SESSION,
            amount=250,
            transaction_id="t-3",
            round_id="r-3",
            debit_transaction_id=None,
        )

        request = gateway.requests[-1]
        assert request.operations[0].credit_kind is CreditKind.WIN
        assert (request.round_id, request.round_closed, answer.balance) == (
            "r-3",
            True,
            1_250,
        )

    async def test_rollback_is_a_refund(
        self, client: SlotegratorClient, gateway: FakeGateway
    ) -> None:
        """The kit's rollback is the protocol's refund of the named bet."""
        await client.debit(**SESSION, amount=40, transaction_id="t-4", round_id="r-4")

        answer = await client.rollback(
            **SESSION,
            transaction_id="rf-4",
            debit_transaction_id="t-4",
            amount=40,
            round_id="r-4",
        )

        assert gateway.requests[-1].operations == (
            WalletOperation(
                operation=Operation.ROLLBACK,
                transaction_id="rf-4",
                amount=40,
                reference_transaction_id="t-4",
            ),
        )
        assert answer.balance == 1_000

    async def test_rollback_round(
        self, client: SlotegratorClient, gateway: FakeGateway
    ) -> None:
        """A round rollback lists its bet and win and answers their ids."""
        await client.debit(**SESSION, amount=100, transaction_id="t-5", round_id="r-5")
        await client.credit(
            **SESSION,
            amount=300,
            transaction_id="t-6",
            round_id="r-5",
            debit_transaction_id=None,
        )

        answer = await client.rollback_round(
            **SESSION,
            transaction_id="rb-5",
            round_id="r-5",
            transactions=[RolledBack("bet", "t-5", 100), RolledBack("win", "t-6", 300)],
        )

        assert [op.transaction_id for op in gateway.requests[-1].operations] == [
            "rb-5:t-5",
            "rb-5:t-6",
        ]
        assert orjson.loads(answer.body)["rollback_transactions"] == ["t-5", "t-6"]
        assert answer.balance == 1_000

    async def test_end_round_is_a_finished_zero_win(
        self, client: SlotegratorClient, gateway: FakeGateway
    ) -> None:
        """Ending a round sends a win of zero that finishes it, once."""
        first = await client.end_round(
            player=PLAYER, currency="EUR", round_id="r-7", session_token="s"
        )
        second = await client.end_round(
            player=PLAYER, currency="EUR", round_id="r-7", session_token="s"
        )

        request = gateway.requests[-1]
        assert (request.operations[0].amount, request.round_closed) == (0, True)
        assert first.transaction_ref == second.transaction_ref

    async def test_insufficient_funds(self, client: SlotegratorClient) -> None:
        """A bet over the balance reads back as insufficient funds."""
        answer = await client.debit(
            **SESSION, amount=5_000, transaction_id="t-8", round_id="r-8"
        )

        assert (answer.status, answer.balance) == (Status.INSUFFICIENT_FUNDS, None)

    async def test_resend_sends_the_same_request(
        self, client: SlotegratorClient, gateway: FakeGateway
    ) -> None:
        """A resend repeats body and headers and is answered as the original."""
        first = await client.debit(
            **SESSION, amount=70, transaction_id="t-9", round_id="r-9"
        )

        again = await client.resend(first)

        assert (again.request, again.headers) == (first.request, first.headers)
        assert again.transaction_ref == first.transaction_ref
        assert gateway.wallet.balances[PLAYER] == 930

    async def test_send_unsigned(self, client: SlotegratorClient) -> None:
        """A request with a wrong X-Sign reads back as an invalid signature."""
        first = await client.balance(**SESSION)

        answer = await client.send_unsigned(first)

        assert answer.status is Status.INVALID_SIGNATURE
        assert answer.headers["X-Sign"] == "0" * 40

    @pytest.mark.parametrize("kind", ["debit", "balance", "rollback_round"])
    async def test_send_malformed(
        self, client: SlotegratorClient, gateway: FakeGateway, kind: str
    ) -> None:
        """A signed request with a forbidden amount or currency is a bad request."""
        if kind == "debit":
            first = await client.debit(
                **SESSION, amount=10, transaction_id="t-10", round_id="r-10"
            )
        elif kind == "balance":
            first = await client.balance(**SESSION)
        else:
            first = await client.rollback_round(
                **SESSION,
                transaction_id="rb-10",
                round_id="r-10",
                transactions=[RolledBack("bet", "t-x", 10)],
            )
        seen = len(gateway.requests)

        answer = await client.send_malformed(first)

        assert answer.status is Status.BAD_REQUEST
        assert len(gateway.requests) == seen

    async def test_stale_clock_is_refused(self, gateway: FakeGateway) -> None:
        """A client whose clock is a minute behind is refused as unsigned."""
        async with SlotegratorClient(
            gateway.callback_url, MERCHANT, KEY, clock=lambda: time.time() - 60
        ) as stale:
            answer = await stale.balance(**SESSION)

        assert answer.status is Status.INVALID_SIGNATURE
        assert gateway.requests == []


API_KEY = "casino-a-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
INSTANCE = "slotegrator-direct"


@dataclass
class Deployment:
    """The gateway on loopback, the aggregator it launches through, and a client."""

    gateway: TestClient[web.Request, web.Application]
    aggregator: Aggregator
    client: SlotegratorClient

    async def fund(self, amount: str) -> None:
        """Credit the test player through the operator API."""
        response = await self.gateway.post(
            "/v1/wallet/transfers",
            headers=AUTH,
            json={
                "player": "player-1",
                "currency": "EUR",
                "amount": amount,
                "direction": "credit",
                "reference": f"fund-{amount}",
            },
        )
        assert response.status == 200

    async def balance(self) -> str:
        """Return the test player's balance as the operator API shows it."""
        response = await self.gateway.get(
            "/v1/players/player-1/balance", params={"currency": "EUR"}, headers=AUTH
        )
        return str((await response.json())["balance"])

    async def launch(self) -> str:
        """Launch a game through the aggregator and return the session token."""
        response = await self.gateway.post(
            "/v1/sessions",
            headers=AUTH,
            json={
                "player": "player-1",
                "game": GAME,
                "currency": "EUR",
                "provider": INSTANCE,
            },
        )
        document = await response.json()
        assert response.status == 201, document
        assert document["provider"] == INSTANCE
        token = self.aggregator.session_for(document["url"]).session_id
        assert token is not None
        return token


@pytest.fixture
async def deployment(aiohttp_client: Any, tmp_path: Path) -> AsyncIterator[Deployment]:
    """The real gateway wired to the aggregator simulator, and a callback client."""
    aggregator = Aggregator(MERCHANT, KEY, seed=1)
    async with aggregator.serve() as base_url:
        data = {
            "database": f"sqlite:///{tmp_path / 'gamegate.db'}",
            "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
            "providers": {
                INSTANCE: {
                    "adapter": "slotegrator",
                    "base_url": base_url,
                    "merchant_id": MERCHANT,
                    "merchant_key": KEY,
                }
            },
        }
        registry = load_adapters(plugins=[adapters.slotegrator])
        gateway = await aiohttp_client(
            build_app(parse_config(data, registry, {}), registry)
        )
        url = str(gateway.make_url(f"/providers/{INSTANCE}/callback"))
        async with SlotegratorClient(url, MERCHANT, KEY) as client:
            yield Deployment(gateway, aggregator, client)


class TestGateway:
    async def test_rounds_refund_and_rollback(self, deployment: Deployment) -> None:
        """Balance, bet, win, a refund and a round rollback move money exactly."""
        await deployment.fund("10.00")
        token = await deployment.launch()
        client = deployment.client
        player: dict[str, Any] = {
            "player": PLAYER,
            "currency": "EUR",
            "session_token": token,
        }

        balance = await client.balance(**player)
        bet = await client.debit(
            **player, amount=250, transaction_id="t-1", round_id="r-1"
        )
        win = await client.credit(
            **player,
            amount=400,
            transaction_id="t-2",
            round_id="r-1",
            debit_transaction_id="t-1",
        )
        assert [balance.balance, bet.balance, win.balance] == [1_000, 750, 1_150]
        assert await deployment.balance() == "11.50"

        await client.debit(**player, amount=100, transaction_id="t-3", round_id="r-2")
        refund = await client.rollback(
            **player,
            transaction_id="rf-3",
            debit_transaction_id="t-3",
            amount=100,
            round_id="r-2",
        )
        assert (refund.status, refund.balance) == (Status.OK, 1_150)

        await client.debit(**player, amount=200, transaction_id="t-4", round_id="r-3")
        await client.credit(
            **player,
            amount=300,
            transaction_id="t-5",
            round_id="r-3",
            debit_transaction_id="t-4",
        )
        rolled = await client.rollback_round(
            **player,
            transaction_id="rb-3",
            round_id="r-3",
            transactions=[RolledBack("bet", "t-4", 200), RolledBack("win", "t-5", 300)],
        )
        assert (rolled.status, rolled.balance) == (Status.OK, 1_150)
        assert orjson.loads(rolled.body)["rollback_transactions"] == ["t-4", "t-5"]
        assert await deployment.balance() == "11.50"

    async def test_replays_and_refusals(self, deployment: Deployment) -> None:
        """Resends replay, unknown refunds succeed, bad requests move nothing."""
        await deployment.fund("5.00")
        token = await deployment.launch()
        client = deployment.client
        player: dict[str, Any] = {
            "player": PLAYER,
            "currency": "EUR",
            "session_token": token,
        }

        bet = await client.debit(
            **player, amount=120, transaction_id="t-1", round_id="r-1"
        )
        again = await client.resend(bet)
        unsigned = await client.send_unsigned(bet)
        malformed = await client.send_malformed(bet)
        unknown = await client.rollback(
            **player,
            transaction_id="rf-9",
            debit_transaction_id="never-seen",
            amount=50,
            round_id="r-9",
        )
        broke = await client.debit(
            **player, amount=10_000, transaction_id="t-2", round_id="r-2"
        )

        assert again.transaction_ref == bet.transaction_ref is not None
        assert unsigned.status is Status.INVALID_SIGNATURE
        assert malformed.status is Status.BAD_REQUEST
        assert (unknown.status, unknown.balance) == (Status.OK, 380)
        assert broke.status is Status.INSUFFICIENT_FUNDS
        assert await deployment.balance() == "3.80"

    async def test_bet_needs_the_launched_session(self, deployment: Deployment) -> None:
        """A bet naming a session the gateway never opened is refused."""
        await deployment.fund("5.00")
        await deployment.launch()

        answer = await deployment.client.debit(
            player=PLAYER,
            currency="EUR",
            session_token="forged-session",
            amount=100,
            transaction_id="t-1",
            round_id="r-1",
        )

        assert answer.status is Status.INVALID_SESSION
        assert await deployment.balance() == "5.00"


def test_public_api_is_documented() -> None:
    """Every class and function the simulator package exports has its own docstring."""
    import examples.slotegrator_simulator as simulator

    exported = [getattr(simulator, name) for name in simulator.__all__]
    undocumented = [
        thing for thing in exported if callable(thing) and not thing.__doc__
    ]

    assert undocumented == []
    assert isinstance(DEFAULT_GAMES[0], AggregatorGame)
