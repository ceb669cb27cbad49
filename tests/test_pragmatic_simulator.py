"""The simulated Pragmatic Play: its API on loopback, its client, and a real gateway."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlencode

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

import adapters.pragmatic
from adapters.pragmatic import PragmaticAdapter, PragmaticConfig
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
from examples.pragmatic_simulator import (
    PragmaticClient,
    PragmaticSimulator,
    launch_token,
    read_launch_token,
    read_status,
    run_simulator,
    sign,
    user_id,
)
from gateway.app import build_app
from gateway.config import parse_config
from gateway.plugins import load_adapters

SECRET = "placeholder-secret-key"
LOGIN = "casino-a"
PLAYER = "casino-a:player-1"
SESSION = "gg-session-1"
GAME = "vs20fruitreels"
PROCESSED = datetime(2024, 1, 1, tzinfo=UTC)
CALLBACK_URL = "http://gateway.test/providers/pragmatic-direct/"


def adapter_for(
    base_url: str, http: httpx.AsyncClient, login: str = LOGIN
) -> PragmaticAdapter:
    """Build a pragmatic adapter pointed at a base URL."""
    config = PragmaticConfig(
        base_url=base_url, secret_key=SecretStr(SECRET), secure_login=login
    )
    context = AdapterContext(
        instance="pragmatic-direct", currencies=CurrencyTable(), http=http
    )
    return PragmaticAdapter(config, context)


def launch_request(mode: Mode = Mode.REAL, game: str = GAME) -> LaunchRequest:
    """Return a launch request with placeholder player data."""
    return LaunchRequest(
        session_token=SESSION,
        player=PLAYER,
        game=game,
        currency="EUR",
        mode=mode,
        country="DE",
        lobby_url="https://casino.example.test/lobby",
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the one the gateway hands to adapters."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def simulator() -> AsyncIterator[tuple[PragmaticSimulator, str]]:
    """A simulator serving its API on a free loopback port."""
    simulator = PragmaticSimulator(SECRET, secure_login=LOGIN, seed=7)
    async with simulator.serve() as base_url:
        yield simulator, base_url


class TestApi:
    async def test_run_simulator_serves_the_game_list(self) -> None:
        """run_simulator yields the API's base URL, which answers a hashed call."""
        form = sign({"secureLogin": LOGIN}, SECRET)
        async with run_simulator(SECRET) as base_url, httpx.AsyncClient() as client:
            reply = await client.post(
                f"{base_url}/CasinoGameAPI/getCasinoGames/", data=form
            )

        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/IntegrationService/v3/http")
        document = reply.json()
        assert (document["error"], document["gameList"][0]["gameID"]) == ("0", GAME)

    @pytest.mark.parametrize(
        "form",
        [
            {"secureLogin": LOGIN},
            {"secureLogin": LOGIN, "hash": "0" * 32},
            sign({"secureLogin": LOGIN}, "another-key"),
            sign({"secureLogin": "someone-else"}, SECRET),
        ],
        ids=["missing", "zeros", "other-key", "other-login"],
    )
    async def test_bad_call_is_refused(
        self,
        simulator: tuple[PragmaticSimulator, str],
        http: httpx.AsyncClient,
        form: dict[str, str],
    ) -> None:
        """A call without a valid hash, or for another login, is refused unrecorded."""
        recorded, base_url = simulator

        reply = await http.post(f"{base_url}/CasinoGameAPI/game/url/", data=form)

        assert reply.json()["error"] in ("5", "7")
        assert recorded.calls == [] and recorded.sessions == {}

    async def test_real_launch(
        self, simulator: tuple[PragmaticSimulator, str], http: httpx.AsyncClient
    ) -> None:
        """The adapter's launch opens a session holding the token and the userId."""
        recorded, base_url = simulator

        result = await adapter_for(base_url, http).launch(launch_request())

        session = recorded.session_for(result.url)
        assert (session.token, session.external_player_id, session.currency) == (
            launch_token(SESSION, PLAYER, "EUR"),
            user_id(PLAYER, "EUR"),
            "EUR",
        )
        assert read_launch_token(session.token or "") == (SESSION, PLAYER, "EUR")
        assert (session.demo, session.platform, session.country) == (False, "WEB", "DE")
        page = await http.get(result.url)
        assert page.status_code == 200 and "Fruit Reels" in page.text

    async def test_demo_launch(
        self, simulator: tuple[PragmaticSimulator, str], http: httpx.AsyncClient
    ) -> None:
        """A demo launch opens a session without token or player."""
        recorded, base_url = simulator

        result = await adapter_for(base_url, http).launch(launch_request(Mode.DEMO))

        session = recorded.session_for(result.url)
        assert (session.demo, session.token, session.external_player_id) == (
            True,
            None,
            None,
        )

    @pytest.mark.parametrize(
        ("mode", "game", "login"),
        [
            (Mode.REAL, "vs1missing", LOGIN),
            (Mode.DEMO, "vs10spaceminer", LOGIN),
            (Mode.REAL, GAME, "casino-other"),
        ],
        ids=["unknown-game", "demo-not-offered", "other-login"],
    )
    async def test_refused_launch_is_not_retryable(
        self,
        simulator: tuple[PragmaticSimulator, str],
        http: httpx.AsyncClient,
        mode: Mode,
        game: str,
        login: str,
    ) -> None:
        """A launch the API refuses reaches the adapter as a final ProviderError."""
        _, base_url = simulator

        with pytest.raises(ProviderError) as raised:
            await adapter_for(base_url, http, login).launch(launch_request(mode, game))

        assert raised.value.retryable is False

    async def test_injected_failure_is_retryable(
        self, simulator: tuple[PragmaticSimulator, str], http: httpx.AsyncClient
    ) -> None:
        """A failure the simulator was told to fake is a retryable error, once."""
        recorded, base_url = simulator
        recorded.fail_calls(503)
        adapter = adapter_for(base_url, http)

        with pytest.raises(ProviderError) as raised:
            await adapter.launch(launch_request())
        result = await adapter.launch(launch_request())

        assert raised.value.retryable is True
        assert result.url.startswith("http://127.0.0.1:")

    async def test_game_list(
        self, simulator: tuple[PragmaticSimulator, str], http: httpx.AsyncClient
    ) -> None:
        """The adapter reads the simulator's catalogue through getCasinoGames."""
        recorded, base_url = simulator

        games = await adapter_for(base_url, http).list_games()

        assert [game.id for game in games] == list(recorded.games)
        assert [game.category for game in games] == ["slots"] * 3 + ["table"]
        assert [game.demo for game in games] == [True, True, False, True]

    async def test_free_rounds(
        self, simulator: tuple[PragmaticSimulator, str], http: httpx.AsyncClient
    ) -> None:
        """Free rounds are created once per bonus code and can be cancelled once."""
        recorded, base_url = simulator
        adapter = adapter_for(base_url, http)
        give: dict[str, Any] = {
            "player": PLAYER,
            "currency": "EUR",
            "games": [GAME],
            "rounds": 10,
            "bonus_code": "frb-1",
            "expires_at": datetime(2030, 1, 1, tzinfo=UTC),
        }

        await adapter.create_free_rounds(**give)
        await adapter.create_free_rounds(**give)
        with pytest.raises(ProviderError):
            await adapter.create_free_rounds(**{**give, "rounds": 20})
        bonus = recorded.bonuses["frb-1"]
        await adapter.cancel_free_rounds("frb-1")
        with pytest.raises(ProviderError):
            await adapter.cancel_free_rounds("frb-1")

        assert (bonus.player_id, bonus.games, bonus.rounds) == (
            user_id(PLAYER, "EUR"),
            (GAME,),
            10,
        )
        assert recorded.bonuses == {}


@dataclass
class FakeWallet:
    """A tiny stand-in for the gateway's ledger, enough to play rounds against."""

    balances: dict[str, int]
    applied: dict[str, tuple[OperationOutcome, int]] = field(default_factory=dict)

    def apply(self, request: WalletRequest) -> WalletOutcome:
        """Apply a request's operations all or none, replaying known ids."""
        balance = self.balances.get(request.player)
        if balance is None:
            return WalletOutcome(
                status=Status.UNKNOWN_PLAYER, currency=request.currency, balance=None
            )

        outcomes: list[OperationOutcome] = []
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
    """Reads callbacks with the real adapter, as the gateway does, in process."""

    adapter: PragmaticAdapter
    wallet: FakeWallet
    requests: list[WalletRequest] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)

    def handle(self, sent: httpx.Request) -> httpx.Response:
        """Answer one callback the client posted."""
        if self.failures:
            return httpx.Response(self.failures.pop(0), text="down")
        arrived = Callback(
            path=sent.url.path.rsplit("/", 1)[-1],
            method=sent.method,
            headers=dict(sent.headers),
            query={},
            body=sent.content,
        )
        try:
            request = self.adapter.parse_callback(arrived)
        except GamegateError as error:
            answer = self.adapter.render_error(arrived, error)
        else:
            self.requests.append(request)
            outcome = self.wallet.apply(request)
            answer = self.adapter.render_outcome(arrived, request, outcome)

        return httpx.Response(
            answer.status,
            content=answer.body,
            headers={"Content-Type": answer.content_type},
        )


@pytest.fixture
def gateway(http: httpx.AsyncClient) -> FakeGateway:
    """A fake gateway that reads callbacks with the real adapter."""
    adapter = adapter_for("https://pragmatic.example.test", http)
    return FakeGateway(adapter, FakeWallet({PLAYER: 1_000}))


@pytest.fixture
async def client(gateway: FakeGateway) -> AsyncIterator[PragmaticClient]:
    """A Pragmatic client whose HTTP goes straight into the fake gateway."""
    transport = httpx.MockTransport(gateway.handle)
    async with httpx.AsyncClient(transport=transport) as http:
        yield PragmaticClient(
            CALLBACK_URL, SECRET, seed=3, clock=lambda: 1_700_000_000_000, http=http
        )


class Account(TypedDict):
    """Who a kit verb is about: the player, the currency and the session."""

    player: str
    currency: str
    session_token: str


ACCOUNT: Account = {"player": PLAYER, "currency": "EUR", "session_token": SESSION}


class TestProviderClient:
    async def test_balance(self, client: PragmaticClient, gateway: FakeGateway) -> None:
        """A balance call reads as a request without operations for the session."""
        answer = await client.balance(**ACCOUNT)

        assert (answer.status, answer.balance, answer.path) == (
            Status.OK,
            1_000,
            "balance.html",
        )
        assert gateway.requests == [
            WalletRequest(
                player=PLAYER, currency="EUR", session_token=SESSION, raw=answer.request
            )
        ]

    async def test_authenticate(
        self, client: PragmaticClient, gateway: FakeGateway
    ) -> None:
        """Authenticating the launch token reads the player it names and answers it."""
        answer = await client.authenticate(launch_token(SESSION, PLAYER, "EUR"))

        assert (answer.status, answer.balance) == (Status.OK, 1_000)
        assert gateway.requests[-1].session_token == SESSION
        assert b'"userId":"casino-a:player-1|EUR"' in answer.body

    async def test_debit(self, client: PragmaticClient, gateway: FakeGateway) -> None:
        """A bet reads as one debit in its round, answered with the gateway's id."""
        answer = await client.debit(
            **ACCOUNT, amount=150, transaction_id="ref-1", round_id="101"
        )

        assert (answer.status, answer.balance, answer.transaction_ref) == (
            Status.OK,
            850,
            "gw-1",
        )
        assert gateway.requests[-1] == WalletRequest(
            player=PLAYER,
            currency="EUR",
            operations=(
                WalletOperation(
                    operation=Operation.DEBIT, transaction_id="ref-1", amount=150
                ),
            ),
            session_token=SESSION,
            game=GAME,
            round_id="101",
            raw=answer.request,
        )

    async def test_free_round_debit(
        self, client: PragmaticClient, gateway: FakeGateway
    ) -> None:
        """A free-round bet carries the client's bonus code into the references."""
        await client.debit(
            **ACCOUNT, amount=0, transaction_id="ref-2", round_id="102", free_round=True
        )

        assert gateway.requests[-1].operations[0].references == {
            "bonus_code": "sim-frb"
        }

    async def test_credit_ends_the_round(
        self, client: PragmaticClient, gateway: FakeGateway
    ) -> None:
        """A closing credit is a result, then an endRound; the answer is the win's."""
        answer = await client.credit(
            **ACCOUNT,
            amount=300,
            transaction_id="ref-3",
            round_id="103",
            debit_transaction_id="ref-1",
        )

        win, end = gateway.requests
        assert win.operations[0].credit_kind is CreditKind.WIN
        assert (end.operations, end.round_id, end.round_closed) == ((), "103", True)
        assert (answer.path, answer.balance, answer.transaction_ref) == (
            "result.html",
            1_300,
            "gw-1",
        )

    async def test_credit_left_open(
        self, client: PragmaticClient, gateway: FakeGateway
    ) -> None:
        """A credit that keeps the round open sends no endRound."""
        await client.credit(
            **ACCOUNT,
            amount=0,
            transaction_id="ref-4",
            round_id="104",
            debit_transaction_id=None,
            round_closed=False,
        )

        assert [request.round_closed for request in gateway.requests] == [False]

    async def test_rollback(
        self, client: PragmaticClient, gateway: FakeGateway
    ) -> None:
        """A refund names the bet; its own id is derived from the bet's reference."""
        await client.debit(
            **ACCOUNT, amount=150, transaction_id="ref-5", round_id="105"
        )

        answer = await client.rollback(
            **ACCOUNT,
            transaction_id="ignored",
            debit_transaction_id="ref-5",
            amount=150,
            round_id="105",
        )

        assert gateway.requests[-1].operations == (
            WalletOperation(
                operation=Operation.ROLLBACK,
                transaction_id="refund:ref-5",
                reference_transaction_id="ref-5",
            ),
        )
        assert (answer.status, answer.balance) == (Status.OK, None)
        assert gateway.wallet.balances[PLAYER] == 1_000

    async def test_end_round(
        self, client: PragmaticClient, gateway: FakeGateway
    ) -> None:
        """endRound reads as an empty request that closes the round."""
        answer = await client.end_round(**ACCOUNT, round_id="106")

        assert (answer.status, answer.balance) == (Status.OK, 1_000)
        assert gateway.requests[-1].round_closed is True

    async def test_resend_is_a_replay(
        self, client: PragmaticClient, gateway: FakeGateway
    ) -> None:
        """The same bytes again move money once and read as a replay of the same id."""
        first = await client.debit(
            **ACCOUNT, amount=70, transaction_id="ref-7", round_id="107"
        )

        again = await client.resend(first)

        assert gateway.requests[-1].raw == gateway.requests[-2].raw == first.request
        assert (first.replay, again.replay) == (False, True)
        assert again.transaction_ref == first.transaction_ref
        assert gateway.wallet.balances[PLAYER] == 930

    async def test_send_unsigned(
        self, client: PragmaticClient, gateway: FakeGateway
    ) -> None:
        """The same form under another key's hash is refused as an invalid hash."""
        first = await client.debit(
            **ACCOUNT, amount=70, transaction_id="ref-8", round_id="108"
        )

        answer = await client.send_unsigned(first)

        assert answer.status is Status.INVALID_SIGNATURE
        assert len(gateway.requests) == 1

    @pytest.mark.parametrize("verb", ["debit", "balance"])
    async def test_send_malformed(
        self, client: PragmaticClient, gateway: FakeGateway, verb: str
    ) -> None:
        """A correctly hashed form with a bad amount or no providerId is refused."""
        if verb == "debit":
            first = await client.debit(
                **ACCOUNT, amount=70, transaction_id="ref-9", round_id="109"
            )
        else:
            first = await client.balance(**ACCOUNT)

        answer = await client.send_malformed(first)

        assert answer.status is Status.BAD_REQUEST
        assert len(gateway.requests) == 1

    async def test_insufficient_funds(self, client: PragmaticClient) -> None:
        """A bet beyond the balance reads back as insufficient funds."""
        answer = await client.debit(
            **ACCOUNT, amount=5_000, transaction_id="ref-10", round_id="110"
        )

        assert (answer.status, answer.balance) == (Status.INSUFFICIENT_FUNDS, None)

    async def test_server_error_is_retryable(
        self, client: PragmaticClient, gateway: FakeGateway
    ) -> None:
        """An HTTP 5xx without a protocol answer reads as a retryable error."""
        gateway.failures.append(503)

        answer = await client.balance(**ACCOUNT)

        assert (answer.http_status, answer.status) == (503, Status.RETRYABLE_ERROR)

    async def test_credits_the_kit_has_no_verb_for(
        self, client: PragmaticClient, gateway: FakeGateway
    ) -> None:
        """Bonus, jackpot, promo wins and a negative adjustment read as intended."""
        money = {"player": PLAYER, "currency": "EUR"}
        await client.bonus_win(**money, amount=120, reference="b-1")
        await client.jackpot_win(**money, amount=5_000, reference="j-1", round_id="9")
        await client.promo_win(**money, amount=250, reference="p-1")
        await client.adjustment(**money, amount=-100, reference="a-1", round_id="9")

        assert [
            (op.operation, op.credit_kind, op.amount)
            for request in gateway.requests
            for op in request.operations
        ] == [
            (Operation.CREDIT, CreditKind.BONUS, 120),
            (Operation.CREDIT, CreditKind.JACKPOT, 5_000),
            (Operation.CREDIT, CreditKind.PROMO, 250),
            (Operation.DEBIT, None, 100),
        ]
        assert gateway.wallet.balances[PLAYER] == 6_270

    @pytest.mark.parametrize("status", sorted(set(Status) - {Status.OK}))
    def test_every_status_reads_back(
        self, gateway: FakeGateway, status: Status
    ) -> None:
        """Whatever status the adapter renders, the client reads the same one back."""
        form = urlencode(
            sign({"providerId": "PragmaticPlay", "userId": f"{PLAYER}|EUR"}, SECRET)
        )
        arrived = Callback("balance.html", "POST", {}, {}, form.encode())
        request = gateway.adapter.parse_callback(arrived)
        outcome = WalletOutcome(status=status, currency="EUR", balance=None)

        rendered = json.loads(
            gateway.adapter.render_outcome(arrived, request, outcome).body
        )
        assert read_status(rendered["error"], rendered["description"]) is status

    def test_implements_the_kit_protocol(self) -> None:
        """Each ProviderClient verb exists on the client with the same parameters."""
        verbs = [
            name
            for name, member in vars(ProviderClient).items()
            if inspect.isfunction(member) and not name.startswith("_")
        ]

        for name in verbs:
            wanted = inspect.signature(getattr(ProviderClient, name)).parameters
            given = inspect.signature(getattr(PragmaticClient, name)).parameters
            assert list(given) == list(wanted), name
        assert len(verbs) == 8


API_KEY = "casino-a-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def live(
    aiohttp_client: Any, tmp_path: Path, simulator: tuple[PragmaticSimulator, str]
) -> TestClient[web.Request, web.Application]:
    """The gateway on loopback with a `pragmatic` instance wired to the simulator."""
    _, base_url = simulator
    data = {
        "database": f"sqlite:///{tmp_path / 'gamegate.db'}",
        "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
        "providers": {
            "pragmatic-direct": {
                "adapter": "pragmatic",
                "base_url": base_url,
                "secret_key": SECRET,
                "secure_login": LOGIN,
            }
        },
        "routes": {"games": [{"games": ["vs*"], "use": "pragmatic-direct"}]},
    }
    registry = load_adapters(plugins=[adapters.pragmatic])
    gateway: TestClient[web.Request, web.Application] = await aiohttp_client(
        build_app(parse_config(data, registry, {}), registry)
    )
    return gateway


async def operator_balance(live: TestClient[Any, Any]) -> str:
    """Return the test player's balance as the operator API shows it."""
    response = await live.get(
        "/v1/players/player-1/balance", params={"currency": "EUR"}, headers=AUTH
    )
    assert response.status == 200
    return str((await response.json())["balance"])


class TestGateway:
    async def test_rounds_over_real_http(
        self,
        live: TestClient[Any, Any],
        simulator: tuple[PragmaticSimulator, str],
    ) -> None:
        """Launch, authenticate, bet, result, endRound and a refund move the balance."""
        recorded, _ = simulator
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
            json={"player": "player-1", "game": GAME, "currency": "EUR"},
        )
        assert launched.status == 201
        token = recorded.session_for((await launched.json())["url"]).token or ""
        session, player, currency = read_launch_token(token)
        account: Account = {
            "player": player,
            "currency": currency,
            "session_token": session,
        }

        callback_url = str(live.make_url("/providers/pragmatic-direct/"))
        async with PragmaticClient(callback_url, SECRET, seed=5) as client:
            hello = await client.authenticate(token)
            bet = await client.debit(
                **account, amount=150, transaction_id="ref-1", round_id="201"
            )
            again = await client.resend(bet)
            won = await client.credit(
                **account,
                amount=400,
                transaction_id="ref-2",
                round_id="201",
                debit_transaction_id="ref-1",
            )
            late = await client.debit(
                **account, amount=100, transaction_id="ref-3", round_id="201"
            )
            doubt = await client.debit(
                **account, amount=200, transaction_id="ref-4", round_id="202"
            )
            refund = await client.rollback(
                **account,
                transaction_id="unused",
                debit_transaction_id="ref-4",
                amount=200,
                round_id="202",
            )
            unknown = await client.rollback(
                **account,
                transaction_id="unused",
                debit_transaction_id="never-sent",
                amount=200,
                round_id="203",
            )
            after = await client.balance(**account)

        assert (player, currency) == ("casino-a:player-1", "EUR")
        assert (hello.status, hello.balance) == (Status.OK, 1_000)
        assert (bet.status, bet.balance) == (Status.OK, 850)
        assert (again.replay, again.transaction_ref) == (True, bet.transaction_ref)
        assert (won.status, won.balance) == (Status.OK, 1_250)
        assert late.status is Status.ROUND_CLOSED
        assert (doubt.balance, refund.status, unknown.status) == (
            1_050,
            Status.OK,
            Status.OK,
        )
        assert after.balance == 1_250
        assert await operator_balance(live) == "12.50"


def test_public_api_is_documented() -> None:
    """Every class and function the simulator package exports has its own docstring."""
    import examples.pragmatic_simulator as package

    exported = [getattr(package, name) for name in package.__all__]
    undocumented = [
        thing for thing in exported if callable(thing) and not thing.__doc__
    ]

    assert undocumented == []
