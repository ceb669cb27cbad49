"""The simulated studio: its launch API over loopback, and its wallet callbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from adapters.softswiss import SoftswissAdapter, SoftswissConfig
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
from contracts.signing import hmac_sha256_hex
from examples.softswiss_simulator import (
    Studio,
    StudioClient,
    run_simulator,
)

TOKEN = "placeholder-auth-token"
CASINO = "casino-0001"
PLAYER = "player-0001"
GAME = "example-studio:fruit-reels"
PROCESSED = datetime(2024, 1, 1, tzinfo=UTC)

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


def adapter_for(base_url: str, http: httpx.AsyncClient) -> SoftswissAdapter:
    """Build a softswiss adapter pointed at a base URL."""
    config = SoftswissConfig(
        base_url=base_url, auth_token=SecretStr(TOKEN), casino_id=CASINO
    )
    context = AdapterContext(
        instance="studio-direct", currencies=CurrencyTable(), http=http
    )
    return SoftswissAdapter(config, context)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the one the gateway hands to adapters."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def studio() -> AsyncIterator[tuple[Studio, str]]:
    """A studio serving its launch API on a free loopback port."""
    studio = Studio(TOKEN, casino_id=CASINO, seed=7)
    async with studio.serve() as base_url:
        yield studio, base_url


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


class TestLaunchApi:
    async def test_run_simulator_serves_on_a_free_port(self) -> None:
        """run_simulator yields a loopback base URL that answers the game list."""
        async with run_simulator(TOKEN) as base_url, httpx.AsyncClient() as client:
            answer = await client.get(
                f"{base_url}/games",
                headers={"X-REQUEST-SIGN": hmac_sha256_hex(TOKEN, b"")},
            )

        assert base_url.startswith("http://127.0.0.1:")
        assert answer.status_code == 200
        assert answer.headers["X-REQUEST-SIGN"] == hmac_sha256_hex(
            TOKEN, answer.content
        )

    async def test_signed_launch_is_accepted(
        self, studio: tuple[Studio, str], http: httpx.AsyncClient
    ) -> None:
        """The adapter's signed launch opens a session the studio remembers."""
        simulator, base_url = studio
        adapter = adapter_for(base_url, http)

        result = await adapter.launch(launch_request())

        assert result.url.startswith(f"{base_url}/play/")
        session = simulator.session_for(result.url)
        assert (session.user_id, session.currency, session.game) == (
            PLAYER,
            "EUR",
            GAME,
        )
        assert session.demo is False
        page = await http.get(result.url)
        assert page.status_code == 200 and "Fruit Reels" in page.text

    async def test_demo_launch_is_accepted(
        self, studio: tuple[Studio, str], http: httpx.AsyncClient
    ) -> None:
        """A demo launch opens a session without player or currency."""
        simulator, base_url = studio

        result = await adapter_for(base_url, http).launch(launch_request(Mode.DEMO))

        session = simulator.session_for(result.url)
        assert (session.demo, session.user_id, session.currency) == (True, None, None)

    @pytest.mark.parametrize(
        "signature",
        ["", "0" * 64, hmac_sha256_hex("another-token", b"{}")],
        ids=["missing", "zeros", "other-key"],
    )
    async def test_bad_signature_is_refused(
        self, studio: tuple[Studio, str], http: httpx.AsyncClient, signature: str
    ) -> None:
        """A launch without a valid X-REQUEST-SIGN is refused with 403."""
        simulator, base_url = studio
        headers = {"X-REQUEST-SIGN": signature} if signature else {}

        answer = await http.post(f"{base_url}/sessions", content=b"{}", headers=headers)

        assert (answer.status_code, answer.json()["code"]) == (403, 403)
        assert simulator.sessions == {}

    async def test_bad_signature_answer_is_signed(
        self, studio: tuple[Studio, str], http: httpx.AsyncClient
    ) -> None:
        """Even the studio's refusals carry a signature over their own body."""
        _, base_url = studio

        answer = await http.post(f"{base_url}/demo", content=b"{}")

        assert answer.headers["X-REQUEST-SIGN"] == hmac_sha256_hex(
            TOKEN, answer.content
        )

    @pytest.mark.parametrize(
        ("mode", "game", "casino_id"),
        [
            (Mode.REAL, "example-studio:missing", CASINO),
            (Mode.DEMO, "example-studio:space-miner", CASINO),
            (Mode.REAL, GAME, "casino-other"),
        ],
        ids=["unknown-game", "demo-not-offered", "other-casino"],
    )
    async def test_refused_launch_is_not_retryable(
        self,
        studio: tuple[Studio, str],
        http: httpx.AsyncClient,
        mode: Mode,
        game: str,
        casino_id: str,
    ) -> None:
        """A launch the studio refuses reaches the adapter as a final ProviderError."""
        _, base_url = studio
        config = SoftswissConfig(
            base_url=base_url, auth_token=SecretStr(TOKEN), casino_id=casino_id
        )
        adapter = SoftswissAdapter(config, adapter_for(base_url, http).context)

        with pytest.raises(ProviderError) as raised:
            await adapter.launch(launch_request(mode, game))

        assert raised.value.retryable is False

    async def test_injected_failure_is_retryable(
        self, studio: tuple[Studio, str], http: httpx.AsyncClient
    ) -> None:
        """A launch failure the studio was told to fake is a retryable error."""
        simulator, base_url = studio
        simulator.fail_launches(503)
        adapter = adapter_for(base_url, http)

        with pytest.raises(ProviderError) as raised:
            await adapter.launch(launch_request())
        result = await adapter.launch(launch_request())

        assert raised.value.retryable is True
        assert result.url.startswith(base_url)

    async def test_game_list(
        self, studio: tuple[Studio, str], http: httpx.AsyncClient
    ) -> None:
        """The adapter reads the studio's catalogue through GET /games."""
        simulator, base_url = studio

        games = await adapter_for(base_url, http).list_games()

        assert [game.id for game in games] == list(simulator.games)
        assert {game.studio for game in games} == {"example-studio"}

    async def test_sessions_are_repeatable(self, http: httpx.AsyncClient) -> None:
        """Two studios with one seed hand out the same session tokens."""
        tokens = []
        for _ in range(2):
            simulator = Studio(TOKEN, seed=3)
            async with simulator.serve() as base_url:
                await adapter_for(base_url, http).launch(launch_request())
            tokens.append(list(simulator.sessions))

        assert tokens[0] == tokens[1]


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

        outcomes = []
        pending: dict[str, tuple[OperationOutcome, int]] = {}
        for operation in request.operations:
            known = self.applied.get(operation.transaction_id)
            if known is not None:
                outcomes.append(replace(known[0], replay=True))
                continue
            if operation.operation is Operation.DEBIT:
                if operation.amount > balance:
                    return WalletOutcome(
                        status=Status.INSUFFICIENT_FUNDS,
                        currency=request.currency,
                        balance=self.balances[request.player],
                        failed_transaction_id=operation.transaction_id,
                    )
                change = -operation.amount
            elif operation.operation is Operation.ROLLBACK:
                original = self.applied.get(operation.reference_transaction_id or "")
                change = -original[1] if original else 0
            else:
                change = operation.amount
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


@dataclass
class FakeGateway:
    """What the fake gateway read from each callback, and its wallet."""

    callback_url: str
    wallet: FakeWallet
    requests: list[WalletRequest]


def gateway_app(adapter: SoftswissAdapter, gateway: FakeGateway) -> web.Application:
    """Build an app that reads callbacks with the adapter, as the gateway does."""

    async def provider_callback(request: web.Request) -> web.Response:
        arrived = Callback(
            path=request.match_info["path"],
            method=request.method,
            headers=dict(request.headers),
            query=dict(request.query),
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
            status=answer.status,
            body=answer.body,
            content_type=answer.content_type,
            headers=answer.headers,
        )

    app = web.Application()
    app.router.add_post("/providers/studio-direct/{path}", provider_callback)
    return app


@pytest.fixture
async def gateway(
    aiohttp_server: ServerFactory, http: httpx.AsyncClient
) -> FakeGateway:
    """A fake gateway on loopback that reads callbacks with the real adapter."""
    adapter = adapter_for("https://studio.example.test", http)
    gateway = FakeGateway(
        callback_url="", wallet=FakeWallet({PLAYER: 1_000}), requests=[]
    )
    server = await aiohttp_server(gateway_app(adapter, gateway))
    gateway.callback_url = str(server.make_url("/providers/studio-direct/"))
    return gateway


@pytest.fixture
async def client(gateway: FakeGateway) -> AsyncIterator[StudioClient]:
    """A studio client pointed at the fake gateway's callback URL."""
    async with StudioClient(gateway.callback_url, TOKEN, seed=11) as client:
        yield client


class TestStudioClient:
    async def test_balance(self, client: StudioClient, gateway: FakeGateway) -> None:
        """A balance call reads as a request without operations."""
        answer = await client.balance(PLAYER, "EUR")

        assert (answer.ok, answer.balance, answer.signed) == (True, 1_000, True)
        assert gateway.requests == [
            WalletRequest(
                player=PLAYER, currency="EUR", game=GAME, raw=answer.request_body
            )
        ]

    async def test_bet(self, client: StudioClient, gateway: FakeGateway) -> None:
        """A bet reads as one debit in an open round."""
        answer = await client.bet(PLAYER, "EUR", 150, round_id="r-1", action_id="a-1")

        assert answer.balance == 850
        assert answer.transaction("a-1") == {
            "action_id": "a-1",
            "tx_id": "gw-1",
            "processed_at": "2024-01-01T00:00:00.000Z",
        }
        assert gateway.requests[-1] == WalletRequest(
            player=PLAYER,
            currency="EUR",
            operations=(
                WalletOperation(
                    operation=Operation.DEBIT, transaction_id="a-1", amount=150
                ),
            ),
            game=GAME,
            round_id="r-1",
            raw=answer.request_body,
        )

    async def test_bet_and_win(
        self, client: StudioClient, gateway: FakeGateway
    ) -> None:
        """A bet and win in one request reads as a debit, a win and a round end."""
        answer = await client.bet_and_win(PLAYER, "EUR", 100, 300, round_id="r-2")

        request = gateway.requests[-1]
        assert [
            (op.operation, op.amount, op.credit_kind) for op in request.operations
        ] == [
            (Operation.DEBIT, 100, None),
            (Operation.CREDIT, 300, CreditKind.WIN),
        ]
        assert (request.round_id, request.round_closed) == ("r-2", True)
        assert answer.balance == 1_200

    async def test_finish(self, client: StudioClient, gateway: FakeGateway) -> None:
        """Closing a round without actions reads as an empty, round-closing request."""
        await client.finish(PLAYER, "EUR", "r-3")

        request = gateway.requests[-1]
        assert (request.operations, request.round_id, request.round_closed) == (
            (),
            "r-3",
            True,
        )

    async def test_rollback_reuses_the_envelope(
        self, client: StudioClient, gateway: FakeGateway
    ) -> None:
        """A rollback names the original action and carries its player and round."""
        await client.bet(PLAYER, "EUR", 40, round_id="r-4", action_id="a-4")

        answer = await client.rollback("a-4", action_id="a-5")

        request = gateway.requests[-1]
        assert request.operations == (
            WalletOperation(
                operation=Operation.ROLLBACK,
                transaction_id="a-5",
                reference_transaction_id="a-4",
            ),
        )
        assert (request.player, request.currency, request.round_id) == (
            PLAYER,
            "EUR",
            "r-4",
        )
        assert answer.balance == 1_000

    async def test_rollback_of_an_unknown_action_needs_its_envelope(
        self, client: StudioClient
    ) -> None:
        """Rolling back an action the client never sent needs player and round."""
        with pytest.raises(LookupError):
            await client.rollback("never-sent")

        answer = await client.rollback(
            "never-sent", user_id=PLAYER, currency="EUR", round_id="r-9"
        )

        assert answer.ok

    async def test_retransmit_sends_the_same_bytes(
        self, client: StudioClient, gateway: FakeGateway
    ) -> None:
        """A retransmission arrives byte for byte and is answered as a replay."""
        first = await client.bet(PLAYER, "EUR", 70, round_id="r-5")

        again = await client.retransmit(first)

        assert (
            gateway.requests[-1].raw == gateway.requests[-2].raw == first.request_body
        )
        assert again.document == first.document
        assert gateway.wallet.balances[PLAYER] == 930

    async def test_round_with_a_win(
        self, client: StudioClient, gateway: FakeGateway
    ) -> None:
        """play_round bets, then wins and finishes the round."""
        record = await client.play_round(PLAYER, "EUR", bet=100, win=250)

        assert (record.bet, record.win, record.balance_after) == (100, 250, 1_150)
        assert record.refused is False and record.rollback_action_id is None
        bet_request, win_request = gateway.requests
        assert bet_request.operations[0].transaction_id == record.bet_action_id
        assert win_request.operations[0].transaction_id == record.win_action_id
        assert (win_request.round_id, win_request.round_closed) == (
            record.round_id,
            True,
        )

    async def test_round_with_a_loss(
        self, client: StudioClient, gateway: FakeGateway
    ) -> None:
        """A lost round closes with a win of 0."""
        record = await client.play_round(PLAYER, "EUR", bet=100, win=0)

        assert (record.win, record.balance_after) == (0, 900)
        assert gateway.requests[-1].operations[0].amount == 0
        assert gateway.requests[-1].round_closed is True

    async def test_refused_bet_is_rolled_back(
        self, client: StudioClient, gateway: FakeGateway
    ) -> None:
        """A bet refused with code 100 is followed by the studio's rollback of it."""
        record = await client.play_round(PLAYER, "EUR", bet=5_000)

        assert record.refused is True
        assert record.answers[0].code == 100
        assert record.answers[0].status == 412
        assert record.win is None and record.rollback_action_id is not None
        rollback = gateway.requests[-1].operations[0]
        assert (rollback.operation, rollback.reference_transaction_id) == (
            Operation.ROLLBACK,
            record.bet_action_id,
        )
        assert record.balance_after == 1_000

    async def test_bad_signature_is_answered_403(self, client: StudioClient) -> None:
        """A callback with a wrong signature gets the adapter's signed 403."""
        answer = await client.send_raw("play", b"{}", signature="0" * 64)

        assert (answer.status, answer.code, answer.signed) == (403, 403, True)

    async def test_rounds_are_repeatable(self, gateway: FakeGateway) -> None:
        """Two clients with one seed send the same bytes in the same order."""
        sent = []
        for _ in range(2):
            gateway.wallet.balances[PLAYER] = 10_000
            gateway.wallet.applied.clear()
            async with StudioClient(gateway.callback_url, TOKEN, seed=5) as client:
                records = [await client.play_round(PLAYER, "EUR") for _ in range(5)]
            sent.append([a.request_body for r in records for a in r.answers])

        assert sent[0] == sent[1]
        assert any(orjson.loads(body)["actions"][0]["amount"] for body in sent[0])

    async def test_callback_url_without_trailing_slash(
        self, gateway: FakeGateway
    ) -> None:
        """A callback base given without its trailing slash still reaches /play."""
        base = gateway.callback_url.rstrip("/")
        async with StudioClient(base, TOKEN) as client:
            answer = await client.balance(PLAYER, "EUR")

        assert answer.ok


def test_public_api_is_documented() -> None:
    """Every class and function the simulator package exports has its own docstring."""
    import examples.softswiss_simulator as simulator

    exported = [getattr(simulator, name) for name in simulator.__all__]
    undocumented = [
        thing for thing in exported if callable(thing) and not thing.__doc__
    ]

    assert undocumented == []
