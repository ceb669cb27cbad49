"""The simulated Evolution studio, its One Wallet client, and the gateway between.

The studio's launch and lobby APIs run on loopback; the client's callbacks go
over real HTTP to a fake gateway reading them with the real adapter, and to
the real gateway on loopback with a SQLite file.
"""

from __future__ import annotations

import inspect
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

import adapters.evolution
from adapters.evolution import EvolutionAdapter, EvolutionConfig
from contracts import (
    AdapterContext,
    Callback,
    CreditKind,
    CurrencyTable,
    GamegateError,
    LaunchRequest,
    Operation,
    OperationOutcome,
    ProviderError,
    Status,
    WalletOperation,
    WalletOutcome,
    WalletRequest,
)
from contracts.testing.client import KitAnswer, ProviderClient
from examples.evolution_simulator import (
    OneWalletClient,
    Studio,
    json_bytes,
    run_simulator,
)
from gateway.app import RUNTIME, build_app
from gateway.config import parse_config
from gateway.plugins import load_adapters

CASINO_KEY = "casino-key-0001"
API_TOKEN = "placeholder-ua-token"
LOBBY_TOKEN = "placeholder-lobby-token"
AUTH_TOKEN = "placeholder-callback-token"
PLAYER = "casino-a:player-1"
SID = "gg-session-token-1"
TABLE = "example-roulette-01"
PROCESSED = datetime(2024, 1, 1, tzinfo=UTC)

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


def adapter_for(
    base_url: str, http: httpx.AsyncClient, **settings: Any
) -> EvolutionAdapter:
    """Build an evolution adapter pointed at a base URL."""
    values: dict[str, Any] = {
        "base_url": base_url,
        "casino_key": CASINO_KEY,
        "api_token": SecretStr(API_TOKEN),
        "auth_token": SecretStr(AUTH_TOKEN),
        "lobby_api_token": SecretStr(LOBBY_TOKEN),
        **settings,
    }
    context = AdapterContext(
        instance="evo-live", currencies=CurrencyTable({"USDT": 6}), http=http
    )
    return EvolutionAdapter(EvolutionConfig(**values), context)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the one the gateway hands to adapters."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def studio() -> AsyncIterator[tuple[Studio, str]]:
    """A studio serving its APIs on a free loopback port."""
    studio = Studio(CASINO_KEY, API_TOKEN, lobby_token=LOBBY_TOKEN, seed=7)
    async with studio.serve() as base_url:
        yield studio, base_url


def launch_request(**changes: Any) -> LaunchRequest:
    """Return a launch request with placeholder player data."""
    values: dict[str, Any] = {
        "session_token": SID,
        "player": PLAYER,
        "game": TABLE,
        "currency": "EUR",
        "country": "DE",
        "lobby_url": "https://casino.example.test/lobby",
        **changes,
    }
    return LaunchRequest(**values)


UA_BODY: dict[str, Any] = {
    "uuid": "u-1",
    "player": {
        "id": PLAYER,
        "update": False,
        "firstName": "Player",
        "lastName": "Player",
        "country": "DE",
        "language": "en",
        "currency": "EUR",
        "session": {"id": SID, "ip": "192.0.2.1"},
    },
    "config": {"channel": {"wrapped": False}},
}


def ua_body(path: str, value: Any) -> dict[str, Any]:
    """Return the UA body with one dotted field replaced (None removes it)."""
    document: dict[str, Any] = orjson.loads(orjson.dumps(UA_BODY))
    *parents, last = path.split(".")
    target = document
    for name in parents:
        target = target[name]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return document


class TestLaunchApi:
    async def test_run_simulator_serves_on_a_free_port(self) -> None:
        """run_simulator yields a loopback base URL that answers the UA API."""
        async with (
            run_simulator(CASINO_KEY, API_TOKEN) as base_url,
            httpx.AsyncClient() as client,
        ):
            answer = await client.post(f"{base_url}/ua/v1/{CASINO_KEY}/wrong", json={})

        assert base_url.startswith("http://127.0.0.1:")
        assert (answer.status_code, answer.json()["errors"][0]["code"]) == (401, "G.2")

    async def test_launch_opens_a_session(
        self, studio: tuple[Studio, str], http: httpx.AsyncClient
    ) -> None:
        """The adapter's UA call opens a session whose sid is the gateway's token."""
        simulator, base_url = studio

        result = await adapter_for(base_url, http).launch(launch_request())

        assert result.url.startswith(f"{base_url}/entry?params=")
        session = simulator.session_for(result.url)
        assert (session.user_id, session.sid, session.currency) == (PLAYER, SID, "EUR")
        assert (session.country, session.table_id, session.mobile) == (
            "DE",
            TABLE,
            False,
        )
        page = await http.get(result.url)
        assert page.status_code == 200 and "Example Roulette" in page.text

    @pytest.mark.parametrize(
        ("settings", "changes"),
        [
            ({"api_token": SecretStr("wrong")}, {}),
            ({"casino_key": "other-casino"}, {}),
            ({}, {"game": "example-missing"}),
            ({}, {"country": None}),
        ],
        ids=["wrong-token", "wrong-key", "unknown-table", "no-country"],
    )
    async def test_refused_launch_is_final(
        self,
        studio: tuple[Studio, str],
        http: httpx.AsyncClient,
        settings: dict[str, Any],
        changes: dict[str, Any],
    ) -> None:
        """A launch the studio refuses reaches the caller as a final ProviderError."""
        simulator, base_url = studio
        adapter = adapter_for(base_url, http, **settings)

        with pytest.raises(ProviderError) as raised:
            await adapter.launch(launch_request(**changes))

        assert raised.value.retryable is False
        assert simulator.sessions == {}

    async def test_default_country_fills_in(
        self, studio: tuple[Studio, str], http: httpx.AsyncClient
    ) -> None:
        """A launch without a country uses the instance's default_country."""
        simulator, base_url = studio
        adapter = adapter_for(base_url, http, default_country="MT")

        result = await adapter.launch(launch_request(country=None))

        assert simulator.session_for(result.url).country == "MT"

    @pytest.mark.parametrize("status", [503, 400])
    async def test_injected_failure_is_retryable(
        self, studio: tuple[Studio, str], http: httpx.AsyncClient, status: int
    ) -> None:
        """A G.0 failure, whatever its HTTP status, is retryable; the retry works."""
        simulator, base_url = studio
        simulator.fail_launches(status)
        adapter = adapter_for(base_url, http)

        with pytest.raises(ProviderError) as raised:
            await adapter.launch(launch_request())
        result = await adapter.launch(launch_request())

        assert raised.value.retryable is True
        assert result.url.startswith(base_url)

    @pytest.mark.parametrize(
        ("document", "code"),
        [
            (ua_body("uuid", None), "V.16"),
            (ua_body("player", None), "V.17"),
            (ua_body("player.id", "p" * 51), "V.41"),
            (ua_body("player.update", "yes"), "V.1"),
            (ua_body("player.firstName", ""), "V.35"),
            (ua_body("player.country", "DEU"), "V.31"),
            (ua_body("player.currency", None), "V.12"),
            (ua_body("player.session.id", ""), "V.10"),
            (ua_body("player.session.ip", "999.1.1.1"), "V.9"),
            (ua_body("config", None), "V.18"),
            (ua_body("config", {"game": {"table": {"id": TABLE}}}), "V.20"),
            (ua_body("config.channel", {"mobile": False}), "V.27"),
            (ua_body("config.channel.mobile", "yes"), "V.40"),
            (ua_body("config.game", {"table": {}}), "V.26"),
            (ua_body("config.urls", {"lobby": "javascript:x"}), "V.29"),
        ],
    )
    async def test_validation_codes(
        self,
        studio: tuple[Studio, str],
        http: httpx.AsyncClient,
        document: dict[str, Any],
        code: str,
    ) -> None:
        """The studio refuses what Evolution refuses, with the document's V code."""
        _, base_url = studio

        answer = await http.post(
            f"{base_url}/ua/v1/{CASINO_KEY}/{API_TOKEN}", json=document
        )

        assert (answer.status_code, answer.json()["errors"][0]["code"]) == (400, code)

    async def test_game_list(
        self, studio: tuple[Studio, str], http: httpx.AsyncClient
    ) -> None:
        """The adapter reads the studio's tables through the Lobby API."""
        simulator, base_url = studio

        games = await adapter_for(base_url, http).list_games()

        assert [game.id for game in games] == list(simulator.tables)
        assert {(game.studio, game.demo) for game in games} == {("evolution", False)}

    async def test_game_list_needs_the_lobby_token(
        self, studio: tuple[Studio, str], http: httpx.AsyncClient
    ) -> None:
        """A wrong Lobby API token is a final ProviderError."""
        _, base_url = studio
        adapter = adapter_for(base_url, http, lobby_api_token=SecretStr("wrong"))

        with pytest.raises(ProviderError) as raised:
            await adapter.list_games()

        assert raised.value.retryable is False

    async def test_sessions_are_repeatable(self, http: httpx.AsyncClient) -> None:
        """Two studios with one seed hand out the same entry tokens."""
        tokens = []
        for _ in range(2):
            simulator = Studio(CASINO_KEY, API_TOKEN, seed=3)
            async with simulator.serve() as base_url:
                await adapter_for(base_url, http).launch(launch_request())
            tokens.append(list(simulator.sessions))

        assert tokens[0] == tokens[1]


@dataclass
class FakeWallet:
    """A tiny stand-in for the ledger, honouring the adapter's profile."""

    balances: dict[str, int]
    applied: dict[str, tuple[OperationOutcome, int]] = field(default_factory=dict)
    rounds: set[str] = field(default_factory=set)

    def apply(self, request: WalletRequest) -> WalletOutcome:
        """Apply one operation, replaying known ids; XXX is nobody's currency."""
        balance = self.balances.get(request.player)
        if balance is None:
            return self._refuse(request, Status.UNKNOWN_PLAYER, None)
        if request.currency == "XXX":
            return self._refuse(request, Status.WRONG_CURRENCY, None)
        if not request.operations:
            return WalletOutcome(
                status=Status.OK, currency=request.currency, balance=balance
            )

        (operation,) = request.operations
        known = self.applied.get(operation.transaction_id)
        if known is not None:
            return self._ok(request, balance, replace(known[0], replay=True))
        change, status = self._change(request, operation, balance)
        if status is not Status.OK and change is None:
            return self._refuse(request, status, balance)

        self.balances[request.player] = balance + (change or 0)
        applied = OperationOutcome(
            transaction_id=operation.transaction_id,
            gateway_transaction_id=f"gw-{len(self.applied) + 1}",
            processed_at=PROCESSED,
        )
        self.applied[operation.transaction_id] = (applied, change or 0)
        if operation.operation is Operation.DEBIT and request.round_id:
            self.rounds.add(request.round_id)

        return replace(
            self._ok(request, self.balances[request.player], applied), status=status
        )

    def _change(
        self, request: WalletRequest, operation: WalletOperation, balance: int
    ) -> tuple[int | None, Status]:
        if operation.operation is Operation.DEBIT:
            if operation.amount > balance:
                return None, Status.INSUFFICIENT_FUNDS
            return -operation.amount, Status.OK
        if operation.operation is Operation.ROLLBACK:
            original = self.applied.get(operation.reference_transaction_id or "")
            if original is None:
                return 0, EvolutionAdapter.profile.unknown_rollback
            return -original[1], Status.OK
        if operation.credit_kind is CreditKind.WIN and (
            request.round_id not in self.rounds
        ):
            return None, Status.TRANSACTION_NOT_FOUND
        return operation.amount, Status.OK

    def _ok(
        self, request: WalletRequest, balance: int, applied: OperationOutcome
    ) -> WalletOutcome:
        return WalletOutcome(
            status=Status.OK,
            currency=request.currency,
            balance=balance,
            operations=(applied,),
        )

    def _refuse(
        self, request: WalletRequest, status: Status, balance: int | None
    ) -> WalletOutcome:
        return WalletOutcome(status=status, currency=request.currency, balance=balance)


@dataclass
class FakeGateway:
    """What the fake gateway read from each callback, and its wallet."""

    callback_url: str
    wallet: FakeWallet
    requests: list[WalletRequest]


def gateway_app(adapter: EvolutionAdapter, gateway: FakeGateway) -> web.Application:
    """Build an app that reads callbacks with the adapter, as the gateway does."""

    async def provider_callback(request: web.Request) -> web.Response:
        arrived = Callback(
            path=request.match_info["path"],
            method=request.method,
            headers=request.headers,
            query=request.query,
            body=await request.read(),
            remote=request.remote,
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
    app.router.add_post("/providers/evo-live/{path}", provider_callback)
    return app


@pytest.fixture
async def gateway(
    aiohttp_server: ServerFactory, http: httpx.AsyncClient
) -> FakeGateway:
    """A fake gateway on loopback that reads callbacks with the real adapter."""
    adapter = adapter_for("https://evo.example.test", http, allowed_ips=["127.0.0.1"])
    gateway = FakeGateway(
        callback_url="", wallet=FakeWallet({PLAYER: 1_000}), requests=[]
    )
    server = await aiohttp_server(gateway_app(adapter, gateway))
    gateway.callback_url = str(server.make_url("/providers/evo-live/"))
    return gateway


@pytest.fixture
async def client(gateway: FakeGateway) -> AsyncIterator[OneWalletClient]:
    """A One Wallet client pointed at the fake gateway's callback URL."""
    currencies = CurrencyTable({"USDT": 6})
    async with OneWalletClient(
        gateway.callback_url, AUTH_TOKEN, currencies=currencies, seed=11
    ) as client:
        yield client


def answered(answer: KitAnswer) -> dict[str, Any]:
    """Return the gateway's answer document."""
    document: dict[str, Any] = orjson.loads(answer.body)
    return document


class TestOneWalletClient:
    def test_implements_the_provider_client(self) -> None:
        """Every ProviderClient method exists with exactly the kit's signature."""
        members = inspect.getmembers(ProviderClient, inspect.isfunction)
        kit_methods = {name for name, _ in members if not name.startswith("_")}
        assert kit_methods == {
            "balance",
            "debit",
            "credit",
            "rollback",
            "end_round",
            "resend",
            "send_unsigned",
            "send_malformed",
        }
        for name in kit_methods:
            expected = inspect.signature(getattr(ProviderClient, name))
            actual = inspect.signature(getattr(OneWalletClient, name))
            assert actual == expected, name
            assert inspect.iscoroutinefunction(getattr(OneWalletClient, name)), name

    async def test_check(self, client: OneWalletClient, gateway: FakeGateway) -> None:
        """A check reads as a balance in no currency and answers the same sid."""
        answer = await client.check(player=PLAYER, session_token=SID)

        assert (answer.status, answer.balance) == (Status.OK, None)
        assert answered(answer)["sid"] == SID
        assert gateway.requests == [
            WalletRequest(
                player=PLAYER, currency="XXX", session_token=SID, raw=answer.request
            )
        ]

    async def test_balance(self, client: OneWalletClient, gateway: FakeGateway) -> None:
        """A balance call reads as a request without operations, from the table."""
        answer = await client.balance(player=PLAYER, currency="EUR", session_token=SID)

        assert (answer.http_status, answer.status, answer.balance) == (
            200,
            Status.OK,
            1_000,
        )
        assert b'"balance":10.00' in answer.body
        assert gateway.requests[-1] == WalletRequest(
            player=PLAYER,
            currency="EUR",
            session_token=SID,
            game=TABLE,
            raw=answer.request,
        )

    async def test_debit_and_replay(
        self, client: OneWalletClient, gateway: FakeGateway
    ) -> None:
        """A debit reads as one debit in its refId; its replay as BET_ALREADY_EXIST."""
        first = await client.debit(
            player=PLAYER,
            currency="EUR",
            amount=250,
            transaction_id="D1",
            round_id="R1",
            session_token=SID,
        )
        again = await client.resend(first)

        assert (first.status, first.balance, first.replay) == (Status.OK, 750, False)
        assert (again.status, again.balance, again.replay) == (Status.OK, 750, True)
        assert answered(again)["status"] == "BET_ALREADY_EXIST"
        assert b'"amount":2.50' in first.request
        assert gateway.requests[0] == WalletRequest(
            player=PLAYER,
            currency="EUR",
            operations=(
                WalletOperation(
                    operation=Operation.DEBIT, transaction_id="D1", amount=250
                ),
            ),
            session_token=SID,
            game=TABLE,
            round_id="R1",
            raw=first.request,
        )

    async def test_credit_and_replay(
        self, client: OneWalletClient, gateway: FakeGateway
    ) -> None:
        """A credit settles its refId; its replay reads as OK through retransmission."""
        await client.debit(
            player=PLAYER,
            currency="EUR",
            amount=100,
            transaction_id="D1",
            round_id="R1",
            session_token=SID,
        )
        first = await client.credit(
            player=PLAYER,
            currency="EUR",
            amount=300,
            transaction_id="C1",
            round_id="R1",
            session_token=SID,
            debit_transaction_id="D1",
        )
        again = await client.resend(first)

        request = gateway.requests[1]
        assert [(op.operation, op.amount) for op in request.operations] == [
            (Operation.CREDIT, 300)
        ]
        assert (request.round_id, request.round_closed) == ("R1", True)
        assert (first.balance, again.balance) == (1_200, 1_200)
        assert (again.status, again.replay) == (Status.OK, True)
        assert answered(again)["status"] == "BET_ALREADY_SETTLED"

    async def test_rollback_names_the_debit(
        self, client: OneWalletClient, gateway: FakeGateway
    ) -> None:
        """A cancel carries the debit's id and reads as its rollback."""
        await client.debit(
            player=PLAYER,
            currency="EUR",
            amount=40,
            transaction_id="D4",
            round_id="R4",
            session_token=SID,
        )

        answer = await client.rollback(
            player=PLAYER,
            currency="EUR",
            transaction_id="kit-rollback-id",
            debit_transaction_id="D4",
            amount=40,
            round_id="R4",
            session_token=SID,
        )

        assert gateway.requests[-1].operations == (
            WalletOperation(
                operation=Operation.ROLLBACK,
                transaction_id="cancel:D4",
                amount=40,
                reference_transaction_id="D4",
            ),
        )
        assert (answer.status, answer.balance) == (Status.OK, 1_000)

    async def test_unknown_rollback(self, client: OneWalletClient) -> None:
        """A cancel of a debit never seen reads as transaction not found."""
        answer = await client.rollback(
            player=PLAYER,
            currency="EUR",
            transaction_id="x",
            debit_transaction_id="never-sent",
            amount=10,
            round_id="R9",
            session_token=SID,
        )

        assert (answer.status, answer.balance) == (Status.TRANSACTION_NOT_FOUND, 1_000)
        assert answered(answer)["status"] == "BET_DOES_NOT_EXIST"

    async def test_promo_payout(
        self, client: OneWalletClient, gateway: FakeGateway
    ) -> None:
        """A promo payout reads as a promo credit outside any round."""
        answer = await client.promo_payout(
            player=PLAYER,
            currency="EUR",
            amount=125,
            promo_id="P1",
            session_token=SID,
        )

        (operation,) = gateway.requests[-1].operations
        assert (operation.credit_kind, operation.transaction_id) == (
            CreditKind.PROMO,
            "promo:P1",
        )
        assert gateway.requests[-1].round_id is None
        assert answer.balance == 1_125

    async def test_end_round_is_a_balance_call(
        self, client: OneWalletClient, gateway: FakeGateway
    ) -> None:
        """One Wallet has no round end: end_round moves nothing, reads the balance."""
        answer = await client.end_round(
            player=PLAYER, currency="EUR", round_id="R1", session_token=SID
        )

        assert (answer.path, answer.status, answer.balance) == (
            "balance",
            Status.OK,
            1_000,
        )
        assert gateway.requests[-1].operations == ()

    async def test_exact_amounts_at_the_currency_scale(
        self, client: OneWalletClient, gateway: FakeGateway
    ) -> None:
        """Minor units go out as JSON numbers with the currency's decimals."""
        gateway.wallet.balances[PLAYER] = 10**9
        answer = await client.debit(
            player=PLAYER,
            currency="USDT",
            amount=1,
            transaction_id="D1",
            round_id="R1",
            session_token=SID,
        )

        assert b'"amount":0.000001' in answer.request
        assert gateway.requests[-1].operations[0].amount == 1
        assert answer.balance == 10**9 - 1

    @pytest.mark.parametrize("method", ["debit", "balance"])
    async def test_unsigned_and_malformed(
        self, client: OneWalletClient, gateway: FakeGateway, method: str
    ) -> None:
        """A wrong authToken reads as a bad signature, a mistyped body as malformed."""
        if method == "debit":
            sent = await client.debit(
                player=PLAYER,
                currency="EUR",
                amount=1,
                transaction_id="D1",
                round_id="R1",
                session_token=SID,
            )
        else:
            sent = await client.balance(
                player=PLAYER, currency="EUR", session_token=SID
            )
        read = len(gateway.requests)

        unsigned = await client.send_unsigned(sent)
        malformed = await client.send_malformed(sent)

        assert (unsigned.status, unsigned.body) == (
            Status.INVALID_SIGNATURE,
            b'{"status":"INVALID_TOKEN_ID"}',
        )
        assert malformed.status is Status.BAD_REQUEST
        assert answered(malformed)["status"] == "INVALID_PARAMETER"
        assert len(gateway.requests) == read

    async def test_uuids_are_repeatable(self, gateway: FakeGateway) -> None:
        """Two clients with one seed send the same bytes."""
        sent = []
        for _ in range(2):
            async with OneWalletClient(gateway.callback_url, AUTH_TOKEN, seed=5) as c:
                answer = await c.balance(
                    player=PLAYER, currency="EUR", session_token=SID
                )
            sent.append(answer.request)

        assert sent[0] == sent[1]

    @pytest.mark.parametrize(
        ("response", "status"),
        [
            (httpx.Response(500, json={"status": "OK"}), Status.RETRYABLE_ERROR),
            (httpx.Response(200, text="<html>"), Status.RETRYABLE_ERROR),
            (httpx.Response(200, json={"status": "NEW_CODE"}), Status.FINAL_ERROR),
            (
                httpx.Response(200, json={"status": "ACCOUNT_LOCKED"}),
                Status.PLAYER_BLOCKED,
            ),
            (
                httpx.Response(200, json={"status": "BET_ALREADY_SETTLED"}),
                Status.ALREADY_SETTLED,
            ),
        ],
        ids=["non-200", "not-json", "unknown-status", "locked", "settled-no-replay"],
    )
    async def test_reading_answers(
        self, response: httpx.Response, status: Status
    ) -> None:
        """Answers read as One Wallet reads them: non-200 or garbage is temporary."""
        transport = httpx.MockTransport(lambda request: response)
        async with httpx.AsyncClient(transport=transport) as http:
            client = OneWalletClient("http://casino.test/ow", AUTH_TOKEN, http=http)
            answer = await client.balance(
                player=PLAYER, currency="EUR", session_token=SID
            )

        assert (answer.status, answer.replay) == (status, False)

    def test_json_bytes_writes_decimals_as_numbers(self) -> None:
        """The encoder writes Decimals as plain JSON numbers, nested or not."""
        from decimal import Decimal

        assert json_bytes({"a": [Decimal("1.50"), Decimal("1E-7")], "b": None}) == (
            b'{"a":[1.50,0.0000001],"b":null}'
        )


API_KEY = "casino-a-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def live(
    aiohttp_client: Any, tmp_path: Path, studio: tuple[Studio, str]
) -> TestClient[web.Request, web.Application]:
    """The real gateway on loopback, with an evolution instance at the studio."""
    _, studio_url = studio
    data = {
        "database": f"sqlite:///{tmp_path / 'gamegate.db'}",
        "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
        "providers": {
            "evo-live": {
                "adapter": "evolution",
                "base_url": studio_url,
                "casino_key": CASINO_KEY,
                "api_token": API_TOKEN,
                "auth_token": AUTH_TOKEN,
                "allowed_ips": ["127.0.0.0/8", "::1"],
            }
        },
    }
    registry = load_adapters(plugins=[adapters.evolution])
    gateway: TestClient[web.Request, web.Application] = await aiohttp_client(
        build_app(parse_config(data, registry, {}), registry)
    )
    return gateway


async def operator_balance(live: TestClient[Any, Any]) -> str:
    """Return the player's balance as the operator API shows it."""
    response = await live.get(
        "/v1/players/player-1/balance", params={"currency": "EUR"}, headers=AUTH
    )
    document = await response.json()
    return str(document["balance"])


async def ledger_rows(live: TestClient[Any, Any]) -> int:
    """Return how many ledger rows the evolution instance has."""
    row = await live.app[RUNTIME].db.one(
        "SELECT count(*) FROM transactions WHERE provider = 'evo-live'"
    )
    assert row is not None
    return int(row[0])


class TestGateway:
    async def test_launch_check_bet_win_replay_cancel(
        self, live: TestClient[Any, Any], studio: tuple[Studio, str]
    ) -> None:
        """A launched player checks, bets, wins; a replay and a cancel move rightly."""
        simulator, _ = studio
        funded = await live.post(
            "/v1/wallet/transfers",
            headers=AUTH,
            json={
                "player": "player-1",
                "currency": "EUR",
                "amount": "10.00",
                "direction": "credit",
                "reference": "fund-1",
            },
        )
        assert funded.status == 200
        launched = await live.post(
            "/v1/sessions",
            headers=AUTH,
            json={
                "player": "player-1",
                "game": TABLE,
                "currency": "EUR",
                "country": "DE",
                "provider": "evo-live",
            },
        )
        assert launched.status == 201
        session = simulator.session_for((await launched.json())["url"])
        player, sid = session.user_id, session.sid
        url = str(live.make_url("/providers/evo-live/"))

        async with OneWalletClient(url, AUTH_TOKEN) as evolution:
            check = await evolution.check(player=player, session_token=sid)
            bet = await evolution.debit(
                player=player,
                currency="EUR",
                amount=250,
                transaction_id="D1",
                round_id="R1",
                session_token=sid,
            )
            win = await evolution.credit(
                player=player,
                currency="EUR",
                amount=500,
                transaction_id="C1",
                round_id="R1",
                session_token=sid,
                debit_transaction_id=None,
            )
            rows = await ledger_rows(live)
            replay = await evolution.resend(bet)
            assert await ledger_rows(live) == rows
            assert await operator_balance(live) == "12.50"
            late = await evolution.debit(
                player=player,
                currency="EUR",
                amount=100,
                transaction_id="D2",
                round_id="R2",
                session_token=sid,
            )
            assert await operator_balance(live) == "11.50"
            cancel = await evolution.rollback(
                player=player,
                currency="EUR",
                transaction_id="unused",
                debit_transaction_id="D2",
                amount=100,
                round_id="R2",
                session_token=sid,
            )
            settled = await evolution.rollback(
                player=player,
                currency="EUR",
                transaction_id="unused",
                debit_transaction_id="D1",
                amount=250,
                round_id="R1",
                session_token=sid,
            )

        assert (player, answered(check)) == (
            PLAYER,
            {"status": "OK", "sid": sid, "uuid": answered(check)["uuid"]},
        )
        assert [(a.status, a.balance) for a in (bet, win, late, cancel)] == [
            (Status.OK, 750),
            (Status.OK, 1_250),
            (Status.OK, 1_150),
            (Status.OK, 1_250),
        ]
        assert (answered(replay)["status"], replay.balance) == (
            "BET_ALREADY_EXIST",
            1_250,
        )
        assert (answered(settled)["status"], settled.replay) == (
            "BET_ALREADY_SETTLED",
            False,
        )
        assert await operator_balance(live) == "12.50"

    async def test_wrong_token_writes_nothing(self, live: TestClient[Any, Any]) -> None:
        """A callback with a wrong authToken is refused before anything is written."""
        async with OneWalletClient(
            str(live.make_url("/providers/evo-live/")), "wrong-token"
        ) as evolution:
            answer = await evolution.debit(
                player=PLAYER,
                currency="EUR",
                amount=1,
                transaction_id="D1",
                round_id="R1",
                session_token=SID,
            )

        assert (answer.http_status, answered(answer)) == (
            200,
            {"status": "INVALID_TOKEN_ID"},
        )
        assert await ledger_rows(live) == 0

    async def test_debit_needs_the_launched_session(
        self, live: TestClient[Any, Any]
    ) -> None:
        """A debit with a sid the gateway never issued is refused as INVALID_SID."""
        await live.post(
            "/v1/wallet/transfers",
            headers=AUTH,
            json={
                "player": "player-1",
                "currency": "EUR",
                "amount": "1.00",
                "direction": "credit",
                "reference": "fund-1",
            },
        )
        async with OneWalletClient(
            str(live.make_url("/providers/evo-live/")), AUTH_TOKEN
        ) as evolution:
            answer = await evolution.debit(
                player=PLAYER,
                currency="EUR",
                amount=1,
                transaction_id="D1",
                round_id="R1",
                session_token="not-a-session",
            )

        assert (answered(answer)["status"], answer.balance) == ("INVALID_SID", 100)
        assert await operator_balance(live) == "1.00"


def test_public_api_is_documented() -> None:
    """Every class and function the simulator package exports has its own docstring."""
    import examples.evolution_simulator as simulator

    exported = [getattr(simulator, name) for name in simulator.__all__]
    undocumented = [
        thing for thing in exported if callable(thing) and not thing.__doc__
    ]

    assert undocumented == []
