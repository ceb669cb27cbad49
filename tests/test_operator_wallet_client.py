"""The gateway's operator wallet client against the reference wallet, on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web

from examples.operator_wallet import WALLET, Faults, create_app, serve
from gateway.operator_wallet import (
    PATHS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    OperatorWalletClient,
    TransactionState,
    WalletAnswer,
    WalletRejected,
    WalletStatus,
    WalletUnavailable,
    sign,
)

SECRET = "placeholder-wallet-secret"
OPERATOR = "casino-a"
PLAYER = "player-1"
CONTRACT = Path(__file__).resolve().parents[1] / "docs/operator-wallet.openapi.yaml"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def money(key: str, amount: int) -> dict[str, Any]:
    """Return the keyword arguments of a debit with placeholder round and game."""
    return {
        "idempotency_key": key,
        "operator": OPERATOR,
        "player": PLAYER,
        "currency": "EUR",
        "amount": amount,
        "provider": "studio-direct",
        "transaction_id": key.rsplit("/", 1)[-1],
        "round_id": "round-1",
        "game": "example-studio:fruit-reels",
    }


def undo(key: str, original: str, amount: int) -> dict[str, Any]:
    """Return the keyword arguments of a rollback of `original`."""
    return {
        "idempotency_key": key,
        "original_idempotency_key": original,
        "operator": OPERATOR,
        "player": PLAYER,
        "currency": "EUR",
        "amount": amount,
    }


@pytest.fixture
def wallet_app(tmp_path: Path) -> web.Application:
    """A reference wallet application over a fresh SQLite file, not yet served."""
    return create_app(SECRET, str(tmp_path / "wallet.db"))


@pytest.fixture
async def wallet_url(wallet_app: web.Application) -> AsyncIterator[str]:
    """The reference wallet served on a free loopback port, its player funded."""
    async with serve(wallet_app) as url:
        wallet_app[WALLET].store.set_player(OPERATOR, PLAYER, "EUR", 1000, False)
        yield url


@pytest.fixture
def faults(wallet_app: web.Application) -> Faults:
    """The reference wallet's injected faults."""
    return wallet_app[WALLET].faults


@pytest.fixture
async def client(wallet_url: str) -> AsyncIterator[OperatorWalletClient]:
    """A started client of the reference wallet with test-sized bounds."""
    client = OperatorWalletClient(wallet_url, SECRET, deadline=2.0, attempts=3)
    await client.start()
    yield client
    await client.close()


async def balance_of(client: OperatorWalletClient) -> int | None:
    """Return the funded player's balance as the wallet answers it."""
    answer = await client.balance(operator=OPERATOR, player=PLAYER, currency="EUR")
    return answer.balance


class TestCalls:
    async def test_every_call(self, client: OperatorWalletClient) -> None:
        """Balance, debit, credit, rollback and transaction state all round-trip."""
        balance = await client.balance(operator=OPERATOR, player=PLAYER, currency="EUR")
        debited = await client.debit(**money("studio-direct/tx-1", 250))
        credited = await client.credit(**money("studio-direct/tx-2", 100), kind="win")
        undone = await client.rollback(
            **undo("studio-direct/tx-3", "studio-direct/tx-1", 250)
        )

        assert balance == WalletAnswer(WalletStatus.OK, 1000)
        assert debited.status is WalletStatus.OK
        assert debited.balance == 750
        assert debited.wallet_transaction_id
        assert credited.balance == 850
        assert undone == WalletAnswer(WalletStatus.OK, 1100)
        assert await client.transaction_state("studio-direct/tx-1") is (
            TransactionState.ROLLED_BACK
        )
        assert await client.transaction_state("studio-direct/tx-2") is (
            TransactionState.APPLIED
        )
        assert await client.transaction_state("studio-direct/tx-9") is (
            TransactionState.NOT_FOUND
        )

    async def test_business_refusals_are_answers(
        self, client: OperatorWalletClient
    ) -> None:
        """Refusals come back as statuses, and a replay as the stored answer."""
        first = await client.debit(**money("k/1", 400))
        replay = await client.debit(**money("k/1", 400))
        mismatch = await client.debit(**money("k/1", 401))
        too_much = await client.debit(**money("k/2", 5000))
        unknown = await client.balance(
            operator=OPERATOR, player="player-9", currency="EUR"
        )

        assert replay == first
        assert mismatch == WalletAnswer(WalletStatus.MISMATCH, 600)
        assert too_much == WalletAnswer(WalletStatus.INSUFFICIENT_FUNDS, 600)
        assert unknown == WalletAnswer(WalletStatus.UNKNOWN_PLAYER, None)
        assert await client.transaction_state("k/2") is TransactionState.REFUSED

    async def test_rollback_before_debit(self, client: OperatorWalletClient) -> None:
        """An early rollback is not_found; the late debit is refused as rolled back."""
        early = await client.rollback(**undo("k/2", "k/1", 250))
        late = await client.debit(**money("k/1", 250))

        assert early == WalletAnswer(WalletStatus.NOT_FOUND, 1000)
        assert late == WalletAnswer(WalletStatus.ROLLED_BACK, 1000)

    async def test_calling_before_start_is_an_error(self, wallet_url: str) -> None:
        """A client that was never started says so instead of hanging."""
        client = OperatorWalletClient(wallet_url, SECRET)

        with pytest.raises(RuntimeError, match="start"):
            await client.balance(operator=OPERATOR, player=PLAYER, currency="EUR")


class TestRetries:
    async def test_retries_500_then_succeeds(
        self, client: OperatorWalletClient, faults: Faults
    ) -> None:
        """Two 500s are retried and the third attempt applies the debit once."""
        faults.fail_next = 2

        answer = await client.debit(**money("k/1", 100))

        assert answer.status is WalletStatus.OK
        assert faults.calls == 3
        assert await balance_of(client) == 900

    async def test_attempts_run_out(
        self, client: OperatorWalletClient, faults: Faults
    ) -> None:
        """After `attempts` 500s the client gives up with the outcome unknown."""
        faults.fail_next = 3

        with pytest.raises(WalletUnavailable, match="3 attempts"):
            await client.debit(**money("k/1", 100))

        assert faults.calls == 3
        assert await client.transaction_state("k/1") is TransactionState.NOT_FOUND

    async def test_late_answer_is_unavailable_but_applied(
        self, wallet_url: str, faults: Faults
    ) -> None:
        """An answer after the deadline raises, though the wallet applied the debit."""
        faults.delay_seconds = 1.0
        deadline = 0.3
        started = time.monotonic()

        async with OperatorWalletClient(wallet_url, SECRET, deadline=deadline) as late:
            with pytest.raises(WalletUnavailable, match="no answer within"):
                await late.debit(**money("k/1", 100))
            elapsed = time.monotonic() - started
            faults.delay_seconds = 0
            state = await late.transaction_state("k/1")

        assert elapsed < deadline + 1
        assert faults.calls == 2
        assert state is TransactionState.APPLIED

    async def test_refused_connection_is_unavailable(self) -> None:
        """A wallet that is not listening gives WalletUnavailable, not a crash."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}"

        async with OperatorWalletClient(url, SECRET, deadline=1.0) as client:
            with pytest.raises(WalletUnavailable, match="attempts"):
                await balance_of(client)


class TestRefusals:
    async def test_wrong_secret_is_unavailable_and_not_retried(
        self, wallet_url: str, faults: Faults
    ) -> None:
        """The wallet's 401 for another secret is not retried and moves nothing."""
        async with OperatorWalletClient(wallet_url, "another-secret") as stranger:
            with pytest.raises(WalletUnavailable, match="not signed"):
                await stranger.debit(**money("k/1", 100))

        assert faults.calls == 1

    async def test_skewed_clock_is_refused(
        self, wallet_url: str, faults: Faults
    ) -> None:
        """A gateway clock beyond the window is refused with 401, not retried."""
        skewed = OperatorWalletClient(
            wallet_url, SECRET, clock=lambda: time.time() - 301
        )

        async with skewed:
            with pytest.raises(WalletUnavailable):
                await balance_of(skewed)

        assert faults.calls == 1

    async def test_malformed_request_is_rejected(
        self, client: OperatorWalletClient, faults: Faults
    ) -> None:
        """A 400 is the gateway's own bug: WalletRejected, not retried."""
        with pytest.raises(WalletRejected, match="currency"):
            await client.debit(**{**money("k/1", 100), "currency": "eur"})

        assert faults.calls == 1

    async def test_unknown_path_is_unavailable(self, wallet_url: str) -> None:
        """A wallet URL that answers 404 gives WalletUnavailable."""
        async with OperatorWalletClient(wallet_url + "/elsewhere", SECRET) as lost:
            with pytest.raises(WalletUnavailable):
                await balance_of(lost)


CALLS = web.AppKey("calls", list)


def forged(mode: str) -> Handler:
    """Return a handler answering `ok` with a signature broken in one way."""

    async def handler(request: web.Request) -> web.Response:
        request.app[CALLS].append(request.path)
        body = orjson.dumps({"status": "ok", "balance": 1_000_000})
        timestamp = str(int(time.time()) - (400 if mode == "stale" else 0))
        headers = {
            "other secret": {SIGNATURE_HEADER: sign("another-secret", timestamp, body)},
            "tampered": {SIGNATURE_HEADER: sign(SECRET, timestamp, body + b" ")},
            "stale": {SIGNATURE_HEADER: sign(SECRET, timestamp, body)},
            "unsigned": {},
            "unknown status": {},
        }[mode]
        if mode == "unknown status":
            body = orjson.dumps({"status": "maybe", "balance": 1})
            headers = {SIGNATURE_HEADER: sign(SECRET, timestamp, body)}
        if mode != "unsigned":
            headers[TIMESTAMP_HEADER] = timestamp

        return web.Response(body=body, content_type="application/json", headers=headers)

    return handler


@pytest.mark.parametrize(
    "mode", ["other secret", "tampered", "stale", "unsigned", "unknown status"]
)
async def test_unverified_answer_is_unavailable(mode: str) -> None:
    """An answer that is not verifiably the wallet's is no answer, and not retried."""
    app = web.Application()
    app[CALLS] = []
    app.router.add_post("/balance", forged(mode))

    async with serve(app) as url, OperatorWalletClient(url, SECRET) as client:
        with pytest.raises(WalletUnavailable):
            await balance_of(client)

    assert app[CALLS] == ["/balance"]


class TestContractDocument:
    def document(self) -> dict[str, Any]:
        """Return the OpenAPI document, parsed."""
        return yaml.safe_load(CONTRACT.read_text())

    def schema(self, document: dict[str, Any], ref: str) -> dict[str, Any]:
        """Return a component schema named by a local `$ref`."""
        name = ref.removeprefix("#/components/schemas/")
        return document["components"]["schemas"][name]

    def test_document_lists_exactly_the_client_paths(self) -> None:
        """Every path and method the client calls is in the contract, and no other."""
        document = self.document()

        listed = {
            (method.upper(), path)
            for path, item in document["paths"].items()
            for method in item
        }

        assert document["openapi"].startswith("3.1")
        assert listed == set(PATHS.values())

    def test_statuses_match_the_document(self) -> None:
        """The client's status and state enums are the contract's closed sets."""
        schemas = self.document()["components"]["schemas"]

        assert schemas["WalletStatus"]["enum"] == [s.value for s in WalletStatus]
        assert schemas["TransactionState"]["enum"] == [
            s.value for s in TransactionState
        ]

    async def test_client_sends_the_documented_bodies(
        self, wallet_app: web.Application
    ) -> None:
        """The fields the client sends on each path are the documented request body."""
        seen: dict[tuple[str, str], set[str]] = {}

        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            raw = await request.read()
            route = request.match_info.route.resource
            assert route is not None
            fields = set(orjson.loads(raw)) if raw else set()
            seen[(request.method, route.canonical)] = fields
            return await handler(request)

        wallet_app.middlewares.append(record)
        async with serve(wallet_app) as url, OperatorWalletClient(url, SECRET) as c:
            await c.balance(operator=OPERATOR, player=PLAYER, currency="EUR")
            await c.debit(**money("k/1", 0))
            await c.credit(**money("k/2", 0), kind="promo")
            await c.rollback(**undo("k/3", "k/1", 0))
            await c.transaction_state("k/1")

        document = self.document()
        assert set(seen) == set(PATHS.values())
        for (method, path), fields in seen.items():
            operation = document["paths"][path][method.lower()]
            body = operation.get("requestBody")
            if body is None:
                assert fields == set()
                continue
            ref = body["content"]["application/json"]["schema"]["$ref"]
            schema = self.schema(document, ref)
            assert fields == set(schema["properties"]) == set(schema["required"])
