"""The simulated Hub88: its Operator API, its wallet client, and a real gateway.

The simulator's API runs on loopback; the client's callbacks go through the
real adapter, first in-process against a small fake wallet, then over real
HTTP to a gateway on loopback with a SQLite file.
"""

from __future__ import annotations

import inspect
import os
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

import httpx
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from pydantic import SecretStr

import adapters.hub88
from adapters.hub88 import FreeBetReward, Hub88Adapter, Hub88Config
from adapters.hub88.adapter import STATUS_CODES
from contracts import (
    AdapterContext,
    Callback,
    CreditKind,
    CurrencyTable,
    Device,
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
from examples.hub88_simulator import (
    Hub88Client,
    KeyPair,
    SimulatorRun,
    UnsignedAnswer,
    hub88_token,
    run_simulator,
)
from examples.hub88_simulator.__main__ import main as cli
from examples.hub88_simulator.client import STATUSES
from gateway.app import RUNTIME, build_app
from gateway.config import parse_config
from gateway.plugins import load_adapters

OPERATOR_ID = 7
PLAYER = "casino-a:player-1"
SESSION = "gg-session-token-0001"
GAME = "sim_fruitreels"
CALLBACKS = "http://gateway.test/providers/hub88-main/"
PROCESSED = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def operator_keys() -> KeyPair:
    """The operator's key pair, made once per test session."""
    return KeyPair.generate()


@pytest.fixture(scope="session")
def hub88_keys() -> KeyPair:
    """Hub88's key pair, made once per test session."""
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


def adapter_for(
    base_url: str,
    http: httpx.AsyncClient,
    operator_keys: KeyPair,
    hub88_public_pem: str,
    *,
    operator_id: int = OPERATOR_ID,
) -> Hub88Adapter:
    """Build a hub88 adapter pointed at a base URL."""
    config = Hub88Config(
        base_url=base_url,
        operator_id=operator_id,
        private_key=SecretStr(operator_keys.private_pem),
        hub88_public_key=hub88_public_pem,
    )
    context = AdapterContext(
        instance="hub88-main", currencies=CurrencyTable(), http=http
    )
    return Hub88Adapter(config, context)


@pytest.fixture
async def hub(
    operator_keys: KeyPair, hub88_keys: KeyPair
) -> AsyncIterator[SimulatorRun]:
    """The simulated Hub88 on a free loopback port, serving operator 7."""
    run = run_simulator(
        operator_keys.public_pem, operator_id=OPERATOR_ID, keys=hub88_keys
    )
    async with run as base_url:
        assert run.base_url == base_url
        yield run


@pytest.fixture
def hub_adapter(
    hub: SimulatorRun, http: httpx.AsyncClient, operator_keys: KeyPair
) -> Hub88Adapter:
    """An adapter that talks to the simulator."""
    return adapter_for(hub.base_url, http, operator_keys, hub.public_pem)


def launch_request(mode: Mode = Mode.REAL, game: str = GAME) -> LaunchRequest:
    """Return a launch request with placeholder player data."""
    return LaunchRequest(
        session_token=SESSION,
        player=PLAYER,
        game=game,
        currency="EUR",
        mode=mode,
        country="DE",
        device=Device.MOBILE,
        lobby_url="https://casino.example.test/lobby",
    )


class TestOperatorApi:
    async def test_real_launch(
        self, hub: SimulatorRun, hub_adapter: Hub88Adapter, http: httpx.AsyncClient
    ) -> None:
        """A launch opens a game whose token carries the session and currency."""
        result = await hub_adapter.launch(launch_request())

        launched = hub.simulator.launch_for(result.url)
        assert result.url.startswith(hub.base_url)
        assert (launched.user, launched.token, launched.currency) == (
            PLAYER,
            f"{SESSION}~EUR",
            "EUR",
        )
        assert (launched.platform, launched.country, launched.demo) == (
            "GPL_MOBILE",
            "DE",
            False,
        )
        page = await http.get(result.url)
        assert page.status_code == 200 and GAME in page.text

    async def test_demo_launch(
        self, hub: SimulatorRun, hub_adapter: Hub88Adapter
    ) -> None:
        """A demo launch opens a game without user or token."""
        result = await hub_adapter.launch(launch_request(Mode.DEMO))

        launched = hub.simulator.launch_for(result.url)
        assert (launched.demo, launched.user, launched.token) == (True, None, None)

    @pytest.mark.parametrize(
        ("mode", "game"),
        [
            (Mode.REAL, "sim_missing"),
            (Mode.REAL, "sim_retired"),
            (Mode.DEMO, "sim_blackjack"),
        ],
        ids=["unknown-game", "disabled-game", "demo-not-offered"],
    )
    async def test_refused_launch_is_final(
        self, hub_adapter: Hub88Adapter, mode: Mode, game: str
    ) -> None:
        """A launch Hub88 refuses reaches the adapter as a final ProviderError."""
        with pytest.raises(ProviderError) as raised:
            await hub_adapter.launch(launch_request(mode, game))

        assert raised.value.retryable is False

    async def test_other_operator_is_refused(
        self, hub: SimulatorRun, http: httpx.AsyncClient, operator_keys: KeyPair
    ) -> None:
        """An operator id the simulator does not serve is refused as not found."""
        adapter = adapter_for(
            hub.base_url, http, operator_keys, hub.public_pem, operator_id=8
        )

        with pytest.raises(ProviderError) as raised:
            await adapter.launch(launch_request())

        assert "HTTP 404" in raised.value.message

    async def test_wrong_operator_key_is_refused(
        self, hub: SimulatorRun, http: httpx.AsyncClient
    ) -> None:
        """A request signed with a key that is not the operator's gets HTTP 401."""
        adapter = adapter_for(hub.base_url, http, KeyPair.generate(), hub.public_pem)

        with pytest.raises(ProviderError) as raised:
            await adapter.launch(launch_request())

        assert raised.value.retryable is False
        assert "HTTP 401" in raised.value.message

    async def test_unsigned_request_is_refused(
        self, hub: SimulatorRun, http: httpx.AsyncClient
    ) -> None:
        """A request without X-Hub88-Signature is answered 401 with an error."""
        answer = await http.post(
            f"{hub.base_url}/operator/generic/v2/game/list",
            json={"operator_id": OPERATOR_ID},
        )

        assert (answer.status_code, answer.json()) == (
            401,
            {"error": "invalid signature"},
        )

    async def test_injected_failure_is_retryable(
        self, hub: SimulatorRun, hub_adapter: Hub88Adapter
    ) -> None:
        """A launch failure the simulator was told to fake is retryable."""
        hub.simulator.fail_launches(503)

        with pytest.raises(ProviderError) as raised:
            await hub_adapter.launch(launch_request())
        result = await hub_adapter.launch(launch_request())

        assert raised.value.retryable is True
        assert result.url.startswith(hub.base_url)

    async def test_game_list(self, hub_adapter: Hub88Adapter) -> None:
        """The adapter reads the simulator's games, leaving out the disabled one."""
        games = await hub_adapter.list_games()

        assert [game.id for game in games] == [
            "sim_fruitreels",
            "sim_deepsea",
            "sim_blackjack",
        ]
        assert [game.demo for game in games] == [True, True, False]

    async def test_free_bets(
        self, hub: SimulatorRun, hub_adapter: Hub88Adapter
    ) -> None:
        """A reward is created on Hub88's side with its value at Hub88's scale."""
        reward = await hub_adapter.create_free_bets(
            player=PLAYER,
            currency="EUR",
            game=GAME,
            prepaid_uuid="pp-1",
            bet_count=5,
            bet_value=50,
        )

        assert isinstance(reward, FreeBetReward) and reward.status == "FRS_NEW"
        recorded = hub.simulator.rewards[-1]
        assert (recorded["reward_uuid"], recorded["bet_value"]) == (
            reward.reward_uuid,
            50_000,
        )

    async def test_simulator_keys_are_fresh(self, operator_keys: KeyPair) -> None:
        """Each simulator started without keys makes a key pair of its own."""
        first = run_simulator(operator_keys.public_pem)
        second = run_simulator(operator_keys.public_pem)
        async with first as first_url, second as second_url:
            assert first_url != second_url
        assert first.public_pem != second.public_pem
        assert "PRIVATE KEY" in first.private_pem


@dataclass
class FakeWallet:
    """A tiny stand-in for the ledger: one EUR balance per player, replays by id."""

    balances: dict[str, int]
    applied: dict[str, tuple[WalletOperation, OperationOutcome, int]] = field(
        default_factory=dict
    )

    def apply(self, request: WalletRequest) -> WalletOutcome:
        """Apply a request's operations all or none, replaying known ids."""
        balance = self.balances.get(request.player)
        if balance is None or request.currency != "EUR":
            status = Status.UNKNOWN_PLAYER if balance is None else Status.WRONG_CURRENCY
            return WalletOutcome(status=status, currency=request.currency, balance=None)

        outcomes = []
        for operation in request.operations:
            known = self.applied.get(operation.transaction_id)
            if known is not None:
                if known[0] != operation:
                    return self._refused(Status.TRANSACTION_MISMATCH, request)
                outcomes.append(known[1])
                continue
            change = self._change(operation)
            if balance + change < 0:
                return self._refused(Status.INSUFFICIENT_FUNDS, request)
            balance += change
            outcome = OperationOutcome(
                transaction_id=operation.transaction_id,
                gateway_transaction_id=str(len(self.applied) + 1),
                processed_at=PROCESSED,
            )
            self.applied[operation.transaction_id] = (operation, outcome, change)
            outcomes.append(outcome)

        self.balances[request.player] = balance
        return WalletOutcome(
            status=Status.OK,
            currency="EUR",
            balance=balance,
            operations=tuple(outcomes),
        )

    def _change(self, operation: WalletOperation) -> int:
        if operation.operation is Operation.DEBIT:
            return -operation.amount
        if operation.operation is Operation.ROLLBACK:
            original = self.applied.get(operation.reference_transaction_id or "")
            return -original[2] if original else 0
        return operation.amount

    def _refused(self, status: Status, request: WalletRequest) -> WalletOutcome:
        return WalletOutcome(
            status=status, currency="EUR", balance=self.balances[request.player]
        )


@dataclass
class FakeGateway:
    """What the fake gateway read from each callback, and its wallet."""

    wallet: FakeWallet
    requests: list[WalletRequest] = field(default_factory=list)


def gateway_transport(
    adapter: Hub88Adapter, gateway: FakeGateway
) -> Callable[[httpx.Request], httpx.Response]:
    """Return a handler that reads callbacks with the adapter, as the gateway does."""

    def handle(request: httpx.Request) -> httpx.Response:
        arrived = Callback(
            path=request.url.path.removeprefix("/providers/hub88-main/"),
            method=request.method,
            headers=dict(request.headers),
            query={},
            body=request.content,
        )
        try:
            wallet_request = adapter.parse_callback(arrived)
        except GamegateError as error:
            answer = adapter.render_error(arrived, error)
        else:
            gateway.requests.append(wallet_request)
            outcome = gateway.wallet.apply(wallet_request)
            answer = adapter.render_outcome(arrived, wallet_request, outcome)

        headers = {**answer.headers, "Content-Type": answer.content_type}
        return httpx.Response(answer.status, content=answer.body, headers=headers)

    return handle


@pytest.fixture
def gateway() -> FakeGateway:
    """A fake gateway whose player holds 10.00 EUR."""
    return FakeGateway(wallet=FakeWallet({PLAYER: 1_000}))


@pytest.fixture
async def client(
    gateway: FakeGateway,
    http: httpx.AsyncClient,
    operator_keys: KeyPair,
    hub88_keys: KeyPair,
) -> AsyncIterator[Hub88Client]:
    """A Hub88 client whose callbacks the real adapter reads in-process."""
    adapter = adapter_for(
        "https://hub88.test", http, operator_keys, hub88_keys.public_pem
    )
    transport = httpx.MockTransport(gateway_transport(adapter, gateway))
    async with httpx.AsyncClient(transport=transport) as wire:
        yield Hub88Client(CALLBACKS, hub88_keys, operator_keys.public_pem, http=wire)


class TestHub88Client:
    async def test_balance(self, client: Hub88Client, gateway: FakeGateway) -> None:
        """A balance call carries its currency in the token and reads back."""
        answer = await client.balance(
            player=PLAYER, currency="EUR", session_token=SESSION
        )

        assert (answer.http_status, answer.status, answer.balance) == (
            200,
            Status.OK,
            1_000,
        )
        assert gateway.requests == [
            WalletRequest(
                player=PLAYER,
                currency="EUR",
                session_token=SESSION,
                game=GAME,
                raw=answer.request,
            )
        ]
        assert answer.path == "user/balance"

    async def test_debit(self, client: Hub88Client, gateway: FakeGateway) -> None:
        """A debit reads as one debit in an open round, at 100 000 per unit."""
        answer = await client.debit(
            player=PLAYER,
            currency="EUR",
            amount=150,
            transaction_id="b-1",
            round_id="r-1",
            session_token=SESSION,
        )

        assert (answer.status, answer.balance) == (Status.OK, 850)
        assert orjson.loads(answer.request)["amount"] == 150_000
        assert gateway.requests[-1] == WalletRequest(
            player=PLAYER,
            currency="EUR",
            operations=(
                WalletOperation(
                    operation=Operation.DEBIT, transaction_id="b-1", amount=150
                ),
            ),
            session_token=SESSION,
            game=GAME,
            round_id="r-1",
            raw=answer.request,
        )

    async def test_free_round_debit(
        self, client: Hub88Client, gateway: FakeGateway
    ) -> None:
        """A free-round bet of zero carries `is_free` in its references."""
        await client.debit(
            player=PLAYER,
            currency="EUR",
            amount=0,
            transaction_id="b-2",
            round_id="r-2",
            session_token=SESSION,
            free_round=True,
        )

        assert gateway.requests[-1].operations[0].references == {"is_free": "true"}

    async def test_credit(self, client: Hub88Client, gateway: FakeGateway) -> None:
        """A credit names its bet and closes the round."""
        answer = await client.credit(
            player=PLAYER,
            currency="EUR",
            amount=300,
            transaction_id="w-1",
            round_id="r-1",
            session_token=SESSION,
            debit_transaction_id="b-1",
        )

        request = gateway.requests[-1]
        assert request.operations == (
            WalletOperation(
                operation=Operation.CREDIT,
                transaction_id="w-1",
                amount=300,
                credit_kind=CreditKind.WIN,
                reference_transaction_id="b-1",
            ),
        )
        assert (request.round_closed, answer.balance) == (True, 1_300)

    async def test_rollback(self, client: Hub88Client, gateway: FakeGateway) -> None:
        """A rollback names the bet; the currency comes from the token."""
        await client.debit(
            player=PLAYER,
            currency="EUR",
            amount=40,
            transaction_id="b-3",
            round_id="r-3",
            session_token=SESSION,
        )

        answer = await client.rollback(
            player=PLAYER,
            currency="EUR",
            transaction_id="rb-3",
            debit_transaction_id="b-3",
            amount=40,
            round_id="r-3",
            session_token=SESSION,
        )

        request = gateway.requests[-1]
        assert request.operations == (
            WalletOperation(
                operation=Operation.ROLLBACK,
                transaction_id="rb-3",
                reference_transaction_id="b-3",
            ),
        )
        assert (request.currency, request.round_id, answer.balance) == (
            "EUR",
            "r-3",
            1_000,
        )
        assert "amount" not in orjson.loads(answer.request)

    async def test_end_round_after_a_bet(
        self, client: Hub88Client, gateway: FakeGateway
    ) -> None:
        """Ending a round with a bet sends a zero win on it that closes the round."""
        await client.debit(
            player=PLAYER,
            currency="EUR",
            amount=10,
            transaction_id="b-4",
            round_id="r-4",
            session_token=SESSION,
        )

        answer = await client.end_round(
            player=PLAYER, currency="EUR", round_id="r-4", session_token=SESSION
        )

        request = gateway.requests[-1]
        operation = request.operations[0]
        assert (operation.operation, operation.amount) == (Operation.CREDIT, 0)
        assert operation.reference_transaction_id == "b-4"
        assert (request.round_closed, answer.status) == (True, Status.OK)

    async def test_end_round_without_a_bet_is_a_no_op(
        self, client: Hub88Client, gateway: FakeGateway
    ) -> None:
        """Ending a round the client never bet in only asks for the balance."""
        answer = await client.end_round(
            player=PLAYER, currency="EUR", round_id="r-x", session_token=SESSION
        )

        assert (answer.path, gateway.requests[-1].operations) == ("user/balance", ())

    async def test_resend_is_a_replay(
        self, client: Hub88Client, gateway: FakeGateway
    ) -> None:
        """The same bytes sent again move money once and are answered alike."""
        first = await client.debit(
            player=PLAYER,
            currency="EUR",
            amount=70,
            transaction_id="b-5",
            round_id="r-5",
            session_token=SESSION,
        )

        again = await client.resend(first)

        assert gateway.requests[-1].raw == gateway.requests[-2].raw == first.request
        assert (again.status, again.body) == (Status.OK, first.body)
        assert gateway.wallet.balances[PLAYER] == 930

    async def test_send_unsigned(
        self, client: Hub88Client, gateway: FakeGateway
    ) -> None:
        """A request signed by another key is refused before the wallet sees it."""
        first = await client.balance(
            player=PLAYER, currency="EUR", session_token=SESSION
        )

        refused = await client.send_unsigned(first)

        assert (refused.status, refused.balance) == (Status.INVALID_SIGNATURE, None)
        assert refused.request == first.request
        assert len(gateway.requests) == 1

    @pytest.mark.parametrize("kind", ["debit", "balance"])
    async def test_send_malformed(
        self, client: Hub88Client, gateway: FakeGateway, kind: str
    ) -> None:
        """A correctly signed body with a wrong type is refused as a bad request."""
        if kind == "debit":
            first = await client.debit(
                player=PLAYER,
                currency="EUR",
                amount=10,
                transaction_id="b-6",
                round_id="r-6",
                session_token=SESSION,
            )
        else:
            first = await client.balance(
                player=PLAYER, currency="EUR", session_token=SESSION
            )

        refused = await client.send_malformed(first)

        assert refused.status is Status.BAD_REQUEST
        assert orjson.loads(refused.body)["status"] == "RS_ERROR_WRONG_TYPES"
        assert len(gateway.requests) == 1

    async def test_insufficient_funds(self, client: Hub88Client) -> None:
        """A bet over the balance reads as insufficient funds, with the balance."""
        answer = await client.debit(
            player=PLAYER,
            currency="EUR",
            amount=5_000,
            transaction_id="b-7",
            round_id="r-7",
            session_token=SESSION,
        )

        assert (answer.status, answer.balance) == (Status.INSUFFICIENT_FUNDS, 1_000)

    async def test_unsigned_answer_is_an_error(
        self,
        gateway: FakeGateway,
        http: httpx.AsyncClient,
        operator_keys: KeyPair,
        hub88_keys: KeyPair,
    ) -> None:
        """An answer that does not verify under the operator's key is raised."""
        adapter = adapter_for(
            "https://hub88.test", http, operator_keys, hub88_keys.public_pem
        )
        transport = httpx.MockTransport(gateway_transport(adapter, gateway))
        stranger = KeyPair.generate().public_pem
        async with httpx.AsyncClient(transport=transport) as wire:
            client = Hub88Client(CALLBACKS, hub88_keys, stranger, http=wire)

            with pytest.raises(UnsignedAnswer):
                await client.balance(
                    player=PLAYER, currency="EUR", session_token=SESSION
                )

    @pytest.mark.parametrize(
        ("http_status", "status"),
        [(500, Status.RETRYABLE_ERROR), (404, Status.BAD_REQUEST)],
    )
    async def test_non_200_answer(
        self,
        hub88_keys: KeyPair,
        operator_keys: KeyPair,
        http_status: int,
        status: Status,
    ) -> None:
        """An answer that is not HTTP 200 reads as Hub88 treats it: a failure."""
        transport = httpx.MockTransport(lambda _: httpx.Response(http_status))
        async with httpx.AsyncClient(transport=transport) as http:
            client = Hub88Client(
                CALLBACKS, hub88_keys, operator_keys.public_pem, http=http
            )
            answer = await client.balance(
                player=PLAYER, currency="EUR", session_token=SESSION
            )

        assert (answer.http_status, answer.status) == (http_status, status)

    def test_token_is_kept_when_it_carries_the_currency(self) -> None:
        """The token Hub88 holds is the session's with the currency, once."""
        assert hub88_token(SESSION, "EUR") == f"{SESSION}~EUR"
        assert hub88_token(f"{SESSION}~EUR", "EUR") == f"{SESSION}~EUR"

    def test_statuses_read_back(self) -> None:
        """Every Hub88 status the adapter sends for one status reads back as it."""
        senders: dict[str, list[Status]] = {}
        for status, code in STATUS_CODES.items():
            senders.setdefault(code, []).append(status)

        for code, statuses in senders.items():
            assert STATUSES[code] in statuses
            if len(statuses) == 1:
                assert STATUSES[code] is statuses[0]

    def test_implements_the_kit_protocol(self) -> None:
        """Each kit method exists with the protocol's parameters and defaults."""
        for name, method in inspect.getmembers(ProviderClient, inspect.isfunction):
            if name.startswith("_"):
                continue
            wanted = inspect.signature(method).parameters
            given = inspect.signature(getattr(Hub88Client, name)).parameters
            for parameter in wanted.values():
                assert given[parameter.name].kind == parameter.kind, name
                assert given[parameter.name].default == parameter.default, name
            extra = [p for p in given.values() if p.name not in wanted]
            assert all(p.default is not inspect.Parameter.empty for p in extra), name


class Session(TypedDict):
    """Who a callback is for: the player, currency and Hub88's token."""

    player: str
    currency: str
    session_token: str


API_KEY = "casino-a-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def live(
    aiohttp_client: Any, tmp_path: Path, hub: SimulatorRun, operator_keys: KeyPair
) -> TestClient[web.Request, web.Application]:
    """The gateway on loopback with a hub88 instance wired to the simulator."""
    data = {
        "database": f"sqlite:///{tmp_path / 'gamegate.db'}",
        "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
        "providers": {
            "hub88-main": {
                "adapter": "hub88",
                "base_url": hub.base_url,
                "operator_id": OPERATOR_ID,
                "private_key": operator_keys.private_pem,
                "hub88_public_key": hub.public_pem,
            }
        },
        "routes": {"games": [{"games": ["sim_*"], "use": "hub88-main"}]},
    }
    registry = load_adapters(plugins=[adapters.hub88])
    gateway: TestClient[web.Request, web.Application] = await aiohttp_client(
        build_app(parse_config(data, registry, {}), registry)
    )
    return gateway


async def operator_balance(live: TestClient[Any, Any]) -> str:
    """Return the test player's EUR balance as the operator API shows it."""
    response = await live.get(
        "/v1/players/player-1/balance", params={"currency": "EUR"}, headers=AUTH
    )
    return str((await response.json())["balance"])


async def launched_client(
    live: TestClient[Any, Any], hub: SimulatorRun, operator_keys: KeyPair
) -> tuple[Hub88Client, str]:
    """Fund the player, launch a game through the gateway, and return Hub88's side.

    Returns a client for the gateway's callback URL and the token Hub88 holds.
    """
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
    response = await live.post(
        "/v1/sessions",
        headers=AUTH,
        json={
            "player": "player-1",
            "game": GAME,
            "currency": "EUR",
            "country": "DE",
            "ip": "192.0.2.10",
            "provider": "hub88-main",
        },
    )
    document = await response.json()
    assert response.status == 201, document
    assert document["provider"] == "hub88-main"

    launched = hub.simulator.launch_for(document["url"])
    assert launched.user == PLAYER and launched.token is not None
    client = Hub88Client(
        str(live.make_url("/providers/hub88-main/")),
        hub.simulator.keys,
        operator_keys.public_pem,
    )

    return client, launched.token


class TestGateway:
    async def test_bet_win_and_rollback(
        self,
        live: TestClient[Any, Any],
        hub: SimulatorRun,
        operator_keys: KeyPair,
    ) -> None:
        """A launched session plays bet, closing win, and a rollback of another bet."""
        client, token = await launched_client(live, hub, operator_keys)
        session = Session(player=PLAYER, currency="EUR", session_token=token)

        async with client:
            bet = await client.debit(
                amount=100, transaction_id="b-1", round_id="r-1", **session
            )
            again = await client.resend(bet)
            win = await client.credit(
                amount=250,
                transaction_id="w-1",
                round_id="r-1",
                debit_transaction_id="b-1",
                **session,
            )
            late = await client.debit(
                amount=10, transaction_id="b-late", round_id="r-1", **session
            )
            other = await client.debit(
                amount=70, transaction_id="b-2", round_id="r-2", **session
            )
            undone = await client.rollback(
                transaction_id="rb-2",
                debit_transaction_id="b-2",
                amount=70,
                round_id="r-2",
                **session,
            )
            shown = await client.balance(**session)

        assert [a.status for a in (bet, again, win, other, undone)] == [Status.OK] * 5
        assert [a.balance for a in (bet, again, win, other, undone)] == [
            900,
            900,
            1_150,
            1_080,
            1_150,
        ]
        assert late.status is not Status.OK
        assert shown.balance == 1_150
        assert await operator_balance(live) == "11.50"

    async def test_refusals_move_nothing(
        self,
        live: TestClient[Any, Any],
        hub: SimulatorRun,
        operator_keys: KeyPair,
    ) -> None:
        """Forged, malformed and orphan callbacks are refused and move no money."""
        client, token = await launched_client(live, hub, operator_keys)
        session = Session(player=PLAYER, currency="EUR", session_token=token)

        async with client:
            bet = await client.debit(
                amount=100, transaction_id="b-1", round_id="r-1", **session
            )
            forged = await client.send_unsigned(bet)
            malformed = await client.send_malformed(bet)
            orphan = await client.credit(
                amount=500,
                transaction_id="w-9",
                round_id="r-9",
                debit_transaction_id="b-never",
                **session,
            )
            reused = await client.debit(
                amount=999, transaction_id="b-1", round_id="r-1", **session
            )
            unknown = await client.rollback(
                transaction_id="rb-9",
                debit_transaction_id="b-unknown",
                amount=0,
                round_id="r-8",
                **session,
            )
            wrong_token = await client.debit(
                amount=1,
                transaction_id="b-3",
                round_id="r-3",
                **Session(
                    player=PLAYER, currency="EUR", session_token="not-a-session~EUR"
                ),
            )

        assert [
            a.status for a in (forged, malformed, orphan, reused, unknown, wrong_token)
        ] == [
            Status.INVALID_SIGNATURE,
            Status.BAD_REQUEST,
            Status.TRANSACTION_NOT_FOUND,
            Status.TRANSACTION_MISMATCH,
            Status.OK,
            Status.INVALID_SESSION,
        ]
        assert await operator_balance(live) == "9.00"
        rows = await live.app[RUNTIME].db.one(
            "SELECT count(*) FROM transactions WHERE provider = 'hub88-main'"
            " AND operation IN ('debit', 'credit')"
        )
        assert rows is not None and int(rows[0]) == 1

    async def test_user_info(
        self,
        live: TestClient[Any, Any],
        hub: SimulatorRun,
        operator_keys: KeyPair,
    ) -> None:
        """`/user/info` tells a known player from an unknown one."""
        client, _ = await launched_client(live, hub, operator_keys)

        async with client:
            known = await client.user_info(player=PLAYER)
            unknown = await client.user_info(player="casino-a:nobody")

        assert orjson.loads(known.body)["status"] == "RS_OK"
        assert unknown.status is Status.INVALID_SESSION


class TestCli:
    def test_serve_prints_its_public_key(
        self, tmp_path: Path, operator_keys: KeyPair, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`serve` prints Hub88's public key and writes the private key 0600."""
        served: list[web.Application] = []
        monkeypatch.setattr(web, "run_app", lambda app, **_: served.append(app))
        operator_pem = tmp_path / "operator.pem"
        operator_pem.write_text(operator_keys.public_pem)
        private_out = tmp_path / "hub88.key"

        result = CliRunner().invoke(
            cli,
            [
                "serve",
                "--operator-public-key",
                str(operator_pem),
                "--private-key-out",
                str(private_out),
            ],
        )

        assert result.exit_code == 0, result.output
        assert "BEGIN PUBLIC KEY" in result.output
        assert "PRIVATE" not in result.output
        assert len(served) == 1
        written = KeyPair.from_private_pem(private_out.read_text())
        assert written.public_pem in result.output
        assert os.stat(private_out).st_mode & 0o777 == 0o600


def test_public_api_is_documented() -> None:
    """Every class and function the simulator package exports has a docstring."""
    import examples.hub88_simulator as simulator

    exported = [getattr(simulator, name) for name in simulator.__all__]
    undocumented = [
        thing for thing in exported if callable(thing) and not thing.__doc__
    ]

    assert undocumented == []
