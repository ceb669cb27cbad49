"""The `softswiss` adapter: signatures, native payloads, answers and launches."""

from __future__ import annotations

import ast
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pluggy
import pytest
import respx
from pydantic import SecretStr, ValidationError

import adapters.softswiss
from adapters.softswiss import SoftswissAdapter, SoftswissConfig
from contracts import (
    AdapterContext,
    AmountError,
    BadRequest,
    BodyTooLarge,
    Callback,
    CreditKind,
    CurrencyTable,
    Device,
    GameAdapter,
    GameDescriptor,
    GamegateError,
    InvalidSignature,
    LaunchRequest,
    Mode,
    Operation,
    OperationOutcome,
    ProviderError,
    Status,
    UnknownCurrency,
    UnknownOperation,
    WalletOperation,
    WalletOutcome,
    WalletRequest,
)
from contracts.hookspecs import PROJECT, AdapterSpecs
from contracts.signing import hmac_sha256_hex

TOKEN = "placeholder-auth-token"
BASE_URL = "https://studio.example.test/api"
VECTORS = Path(__file__).parents[2] / "shared" / "vectors" / "game-signatures.json"
PLAYER = "player-0001"


def softswiss_vectors() -> list[Any]:
    """Return the public signature vectors of the softswiss protocol, if present."""
    if not VECTORS.is_file():
        return []
    vectors = json.loads(VECTORS.read_text())["vectors"]
    return [vector for vector in vectors if vector["protocol"] == "softswiss"]


def make_adapter(http: httpx.AsyncClient, token: str = TOKEN) -> SoftswissAdapter:
    """Build an adapter for the `studio-direct` instance with a test config."""
    config = SoftswissConfig(
        base_url=BASE_URL + "/", auth_token=SecretStr(token), casino_id="casino-0001"
    )
    context = AdapterContext(
        instance="studio-direct",
        currencies=CurrencyTable({"USDT": 6}),
        http=http,
    )
    return SoftswissAdapter(config, context)


def callback(
    body: bytes | dict[str, Any],
    path: str = "play",
    *,
    signature: str | None = None,
    token: str = TOKEN,
    header: str = "X-REQUEST-SIGN",
) -> Callback:
    """Build a callback as the gateway hands it over, signed unless told not to."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    signature = hmac_sha256_hex(token, raw) if signature is None else signature
    headers = {header: signature} if signature else {}
    return Callback(path=path, method="POST", headers=headers, query={}, body=raw)


def signed_response(status: int, document: Any) -> httpx.Response:
    """Build a provider answer signed the way the provider signs it."""
    body = orjson.dumps(document)
    signature = hmac_sha256_hex(TOKEN, body)
    return httpx.Response(status, content=body, headers={"X-REQUEST-SIGN": signature})


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the one the gateway hands to adapters."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def adapter(http: httpx.AsyncClient) -> SoftswissAdapter:
    """A softswiss adapter keyed with the test auth token."""
    return make_adapter(http)


ENVELOPE = {"user_id": PLAYER, "currency": "EUR", "game": "example-studio:fruit-reels"}


class TestSignatureVector:
    @pytest.mark.parametrize(
        "vector",
        softswiss_vectors()
        or [pytest.param(None, marks=pytest.mark.skip(reason=f"{VECTORS} missing"))],
        ids=lambda vector: vector["id"] if vector else "missing",
    )
    async def test_public_vector_verifies(
        self, vector: dict[str, Any], http: httpx.AsyncClient
    ) -> None:
        """The published X-REQUEST-SIGN vector verifies and reads as a balance call."""
        body = vector["body"].encode()
        assert hmac_sha256_hex(vector["key"], body) == vector["expected"]

        adapter = make_adapter(http, token=vector["key"])
        request = adapter.parse_callback(
            callback(body, signature=vector["expected"], token=vector["key"])
        )

        assert request == WalletRequest(
            player="8|USDT|USD", currency="USD", game="acceptance:test", raw=body
        )


class TestParse:
    @pytest.mark.parametrize(
        ("path", "document", "operations", "round_id", "closed"),
        [
            ("play", {**ENVELOPE}, (), None, False),
            ("play", {**ENVELOPE, "actions": []}, (), None, False),
            (
                "play",
                {
                    **ENVELOPE,
                    "game_id": "round-1",
                    "finished": False,
                    "actions": [{"action": "bet", "action_id": "a1", "amount": 150}],
                },
                (
                    WalletOperation(
                        operation=Operation.DEBIT, transaction_id="a1", amount=150
                    ),
                ),
                "round-1",
                False,
            ),
            (
                "play",
                {
                    **ENVELOPE,
                    "game_id": "round-1",
                    "finished": True,
                    "actions": [{"action": "win", "action_id": "a2", "amount": 0}],
                },
                (
                    WalletOperation(
                        operation=Operation.CREDIT,
                        transaction_id="a2",
                        amount=0,
                        credit_kind=CreditKind.WIN,
                    ),
                ),
                "round-1",
                True,
            ),
            (
                "play",
                {
                    **ENVELOPE,
                    "game_id": "round-2",
                    "finished": True,
                    "actions": [
                        {"action": "bet", "action_id": "a3", "amount": 100},
                        {"action": "win", "action_id": "a4", "amount": 250},
                    ],
                },
                (
                    WalletOperation(
                        operation=Operation.DEBIT, transaction_id="a3", amount=100
                    ),
                    WalletOperation(
                        operation=Operation.CREDIT,
                        transaction_id="a4",
                        amount=250,
                        credit_kind=CreditKind.WIN,
                    ),
                ),
                "round-2",
                True,
            ),
            (
                "play",
                {**ENVELOPE, "game_id": "round-3", "finished": True, "actions": []},
                (),
                "round-3",
                True,
            ),
            (
                "rollback",
                {
                    **ENVELOPE,
                    "game_id": "round-2",
                    "actions": [
                        {
                            "action": "rollback",
                            "action_id": "a5",
                            "original_action_id": "a3",
                        }
                    ],
                },
                (
                    WalletOperation(
                        operation=Operation.ROLLBACK,
                        transaction_id="a5",
                        reference_transaction_id="a3",
                    ),
                ),
                "round-2",
                False,
            ),
        ],
        ids=[
            "balance",
            "balance-empty-actions",
            "bet",
            "win-finished",
            "bet-and-win",
            "finish-only",
            "rollback",
        ],
    )
    def test_native_payload(
        self,
        adapter: SoftswissAdapter,
        path: str,
        document: dict[str, Any],
        operations: tuple[WalletOperation, ...],
        round_id: str | None,
        closed: bool,
    ) -> None:
        """Each native callback reads into the wallet request it asks for."""
        arrived = callback(document, path)

        request = adapter.parse_callback(arrived)

        assert request == WalletRequest(
            player=PLAYER,
            currency="EUR",
            operations=operations,
            game="example-studio:fruit-reels",
            round_id=round_id,
            round_closed=closed,
            raw=arrived.body,
        )

    def test_header_case_does_not_matter(self, adapter: SoftswissAdapter) -> None:
        """A signature header in lower case verifies like the upper-case one."""
        arrived = callback(ENVELOPE, header="x-request-sign")

        assert adapter.parse_callback(arrived).player == PLAYER

    def test_unknown_fields_are_ignored(self, adapter: SoftswissAdapter) -> None:
        """Fields the protocol adds later do not stop a callback from reading."""
        document: dict[str, Any] = {**ENVELOPE, "session_hint": "x", "game_id": "r"}
        document["actions"] = [
            {"action": "bet", "action_id": "a1", "amount": 5, "jackpot_share": 1}
        ]

        request = adapter.parse_callback(callback(document))

        assert request.operations[0].amount == 5

    def test_configured_crypto_currency_is_accepted(
        self, adapter: SoftswissAdapter
    ) -> None:
        """A currency configured outside ISO 4217 reads like any other."""
        request = adapter.parse_callback(callback({**ENVELOPE, "currency": "USDT"}))

        assert request.currency == "USDT"


ROLLBACK_ACTION = {"action": "rollback", "action_id": "a", "original_action_id": "b"}


def bet(amount: Any) -> dict[str, Any]:
    """Return a one-bet `/play` document with the given amount value."""
    action = {"action": "bet", "action_id": "a1", "amount": amount}
    return {**ENVELOPE, "game_id": "round-1", "actions": [action]}


class TestRefuse:
    @pytest.mark.parametrize(
        ("signature", "token"),
        [
            ("", TOKEN),
            ("0" * 64, TOKEN),
            (None, "another-token"),
            ("not-hex", TOKEN),
        ],
        ids=["missing", "zeros", "other-key", "garbage"],
    )
    def test_bad_signature(
        self, adapter: SoftswissAdapter, signature: str | None, token: str
    ) -> None:
        """A missing or wrong X-REQUEST-SIGN is refused before the body is read."""
        with pytest.raises(InvalidSignature):
            adapter.parse_callback(callback(bet(-5), signature=signature, token=token))

    def test_signature_is_over_raw_bytes(self, adapter: SoftswissAdapter) -> None:
        """Re-serialising the same JSON with other spacing breaks the signature."""
        original = orjson.dumps(ENVELOPE)
        spaced = json.dumps(ENVELOPE, indent=1).encode()
        arrived = callback(spaced, signature=hmac_sha256_hex(TOKEN, original))

        with pytest.raises(InvalidSignature):
            adapter.parse_callback(arrived)

    @pytest.mark.parametrize(
        ("path", "body", "error"),
        [
            ("play", b"{not json", BadRequest),
            ("play", b"[1, 2]", BadRequest),
            ("play", b"", BadRequest),
            ("play", orjson.dumps({**ENVELOPE, "user_id": 7}), BadRequest),
            ("play", orjson.dumps({**ENVELOPE, "user_id": ""}), BadRequest),
            ("play", orjson.dumps({**ENVELOPE, "currency": None}), BadRequest),
            ("play", orjson.dumps({**ENVELOPE, "finished": "yes"}), BadRequest),
            ("play", orjson.dumps({**ENVELOPE, "actions": {}}), BadRequest),
            ("play", orjson.dumps({**ENVELOPE, "actions": ["bet"]}), BadRequest),
            ("play", orjson.dumps({**ENVELOPE, "game_id": 12}), BadRequest),
            ("play", orjson.dumps({**bet(5), "game_id": None}), BadRequest),
            ("play", orjson.dumps(bet(True)), AmountError),
            ("play", orjson.dumps(bet(1.5)), AmountError),
            ("play", orjson.dumps(bet(100.0)), AmountError),
            ("play", orjson.dumps(bet("100")), AmountError),
            ("play", orjson.dumps(bet(None)), AmountError),
            ("play", orjson.dumps(bet(-1)), AmountError),
            ("play", orjson.dumps({**ENVELOPE, "currency": "XXQ"}), UnknownCurrency),
            ("play", orjson.dumps({**ENVELOPE, "currency": "eur"}), UnknownCurrency),
            (
                "play",
                orjson.dumps(
                    {**bet(5), "actions": [{"action": "jackpot", "action_id": "a"}]}
                ),
                UnknownOperation,
            ),
            (
                "play",
                orjson.dumps(
                    {
                        **bet(5),
                        "actions": [ROLLBACK_ACTION],
                    }
                ),
                UnknownOperation,
            ),
            ("rollback", orjson.dumps(bet(5)), UnknownOperation),
            (
                "rollback",
                orjson.dumps(
                    {**bet(5), "actions": [{"action": "rollback", "action_id": "a"}]}
                ),
                BadRequest,
            ),
            ("freespins", orjson.dumps(ENVELOPE), UnknownOperation),
        ],
        ids=[
            "malformed-json",
            "not-an-object",
            "empty-body",
            "player-not-string",
            "player-empty",
            "currency-null",
            "finished-not-bool",
            "actions-not-list",
            "action-not-object",
            "round-not-string",
            "bet-without-round",
            "bool-amount",
            "float-amount",
            "whole-float-amount",
            "string-amount",
            "missing-amount",
            "negative-amount",
            "unknown-currency",
            "lower-case-currency",
            "unknown-action",
            "rollback-on-play",
            "bet-on-rollback",
            "rollback-without-original",
            "unknown-path",
        ],
    )
    def test_bad_request(
        self,
        adapter: SoftswissAdapter,
        path: str,
        body: bytes,
        error: type[BadRequest],
    ) -> None:
        """A signed body the protocol does not allow raises the matching BadRequest."""
        with pytest.raises(error):
            adapter.parse_callback(callback(body, path))

    def test_get_is_refused(self, adapter: SoftswissAdapter) -> None:
        """A callback must be a POST even when its signature is right."""
        arrived = callback(ENVELOPE)
        arrived = Callback(
            path=arrived.path,
            method="GET",
            headers=arrived.headers,
            query={},
            body=arrived.body,
        )

        with pytest.raises(BadRequest):
            adapter.parse_callback(arrived)


PROCESSED = datetime(2024, 5, 6, 12, 45, 32, 123456, tzinfo=UTC)


class TestRender:
    def test_success_body_and_signature(self, adapter: SoftswissAdapter) -> None:
        """An OK answer lists the transactions in order, replays with their ids."""
        arrived = callback(bet(100))
        request = adapter.parse_callback(arrived)
        outcome = WalletOutcome(
            status=Status.OK,
            currency="EUR",
            balance=9_900,
            operations=(
                OperationOutcome(
                    transaction_id="a1",
                    gateway_transaction_id="gw-17",
                    processed_at=PROCESSED,
                ),
                OperationOutcome(
                    transaction_id="a2",
                    gateway_transaction_id="gw-3",
                    processed_at=PROCESSED.astimezone(timezone(timedelta(hours=2))),
                    replay=True,
                ),
            ),
        )

        answer = adapter.render_outcome(arrived, request, outcome)

        assert answer.status == 200
        assert answer.content_type == "application/json"
        assert orjson.loads(answer.body) == {
            "balance": 9_900,
            "game_id": "round-1",
            "transactions": [
                {
                    "action_id": "a1",
                    "tx_id": "gw-17",
                    "processed_at": "2024-05-06T12:45:32.123Z",
                },
                {
                    "action_id": "a2",
                    "tx_id": "gw-3",
                    "processed_at": "2024-05-06T12:45:32.123Z",
                },
            ],
        }
        assert answer.headers["X-REQUEST-SIGN"] == hmac_sha256_hex(TOKEN, answer.body)

    def test_balance_answer(self, adapter: SoftswissAdapter) -> None:
        """A balance answer carries the balance alone."""
        arrived = callback(ENVELOPE)
        request = adapter.parse_callback(arrived)
        outcome = WalletOutcome(status=Status.OK, currency="EUR", balance=12_345)

        answer = adapter.render_outcome(arrived, request, outcome)

        assert (answer.status, orjson.loads(answer.body)) == (200, {"balance": 12_345})

    def test_ok_without_balance_is_an_unknown_error(
        self, adapter: SoftswissAdapter
    ) -> None:
        """An OK outcome missing its balance is answered 500, never a balance of 0."""
        arrived = callback(ENVELOPE)
        request = adapter.parse_callback(arrived)
        outcome = WalletOutcome(status=Status.OK, currency="EUR", balance=None)

        answer = adapter.render_outcome(arrived, request, outcome)

        assert (answer.status, orjson.loads(answer.body)["code"]) == (500, 500)

    @pytest.mark.parametrize(
        ("status", "code", "http_status"),
        [
            (Status.INSUFFICIENT_FUNDS, 100, 412),
            (Status.UNKNOWN_PLAYER, 101, 412),
            (Status.INVALID_SESSION, 101, 412),
            (Status.SESSION_EXPIRED, 101, 412),
            (Status.LIMIT_REACHED, 105, 412),
            (Status.GAME_NOT_ALLOWED, 107, 412),
            (Status.PLAYER_BLOCKED, 110, 412),
            (Status.WRONG_CURRENCY, 154, 412),
            (Status.TRANSACTION_NOT_FOUND, 400, 400),
            (Status.TRANSACTION_MISMATCH, 400, 400),
            (Status.ALREADY_SETTLED, 400, 400),
            (Status.ALREADY_ROLLED_BACK, 400, 400),
            (Status.ROUND_CLOSED, 400, 400),
            (Status.BAD_REQUEST, 400, 400),
            (Status.INVALID_SIGNATURE, 403, 403),
            (Status.RETRYABLE_ERROR, 500, 500),
            (Status.FINAL_ERROR, 500, 500),
        ],
    )
    def test_status_table(
        self,
        adapter: SoftswissAdapter,
        status: Status,
        code: int,
        http_status: int,
    ) -> None:
        """Each refusal renders the protocol's code and HTTP status, signed."""
        arrived = callback(bet(100))
        request = adapter.parse_callback(arrived)
        outcome = WalletOutcome(
            status=status, currency="EUR", balance=50, failed_transaction_id="a1"
        )

        answer = adapter.render_outcome(arrived, request, outcome)

        document = orjson.loads(answer.body)
        assert (answer.status, document["code"], document["balance"]) == (
            http_status,
            code,
            50,
        )
        assert isinstance(document["message"], str) and document["message"]
        assert answer.headers["X-REQUEST-SIGN"] == hmac_sha256_hex(TOKEN, answer.body)

    def test_status_table_is_complete(self) -> None:
        """Every status but OK has a protocol code, so none falls through."""
        from adapters.softswiss.adapter import ERROR_CODES

        assert set(ERROR_CODES) == set(Status) - {Status.OK}

    def test_refusal_without_balance(self, adapter: SoftswissAdapter) -> None:
        """An unknown player's refusal carries no balance field."""
        arrived = callback(ENVELOPE)
        request = adapter.parse_callback(arrived)
        outcome = WalletOutcome(
            status=Status.UNKNOWN_PLAYER, currency="EUR", balance=None
        )

        answer = adapter.render_outcome(arrived, request, outcome)

        assert "balance" not in orjson.loads(answer.body)

    @pytest.mark.parametrize(
        ("error", "code", "http_status"),
        [
            (InvalidSignature(), 403, 403),
            (BadRequest("body is not valid JSON"), 400, 400),
            (AmountError("negative amount"), 400, 400),
            (UnknownCurrency("XXQ"), 400, 400),
            (UnknownOperation("unknown action"), 400, 400),
            (BodyTooLarge(), 400, 400),
            (ProviderError("upstream"), 500, 500),
            (GamegateError("anything"), 500, 500),
        ],
        ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "",
    )
    def test_error_table(
        self,
        adapter: SoftswissAdapter,
        error: GamegateError,
        code: int,
        http_status: int,
    ) -> None:
        """Errors raised before the ledger render as the protocol's signed codes."""
        arrived = callback(ENVELOPE)

        answer = adapter.render_error(arrived, error)

        assert (answer.status, orjson.loads(answer.body)["code"]) == (
            http_status,
            code,
        )
        assert answer.headers["X-REQUEST-SIGN"] == hmac_sha256_hex(TOKEN, answer.body)

    def test_unknown_error_hides_its_detail(self, adapter: SoftswissAdapter) -> None:
        """A 500 answer does not repeat the internal error's message."""
        answer = adapter.render_error(callback(ENVELOPE), GamegateError("db at /x"))

        assert b"db at" not in answer.body


def launch_request(mode: Mode = Mode.REAL) -> LaunchRequest:
    """Return a launch request with placeholder player data."""
    return LaunchRequest(
        session_token="gg-session-1",
        player=PLAYER,
        game="example-studio:fruit-reels",
        currency="EUR",
        mode=mode,
        language="de",
        country="DE",
        device=Device.MOBILE,
        ip="192.0.2.10",
        lobby_url="https://casino.example.test/lobby",
        cashier_url="https://casino.example.test/cashier",
    )


GAME_URL = "https://studio.example.test/play/token-1"
LAUNCHED = {"launch_options": {"game_url": GAME_URL, "strategy": "iframe"}}


class TestLaunch:
    @respx.mock(base_url=BASE_URL, assert_all_called=True)
    async def test_real_launch(
        self, adapter: SoftswissAdapter, respx_mock: respx.MockRouter
    ) -> None:
        """A real launch posts the signed session request and returns the game URL."""
        route = respx_mock.post("/sessions").mock(
            return_value=signed_response(200, LAUNCHED)
        )

        result = await adapter.launch(launch_request())

        assert result.url == GAME_URL
        sent = route.calls.last.request
        assert sent.headers["X-REQUEST-SIGN"] == hmac_sha256_hex(TOKEN, sent.content)
        assert orjson.loads(sent.content) == {
            "casino_id": "casino-0001",
            "game": "example-studio:fruit-reels",
            "currency": "EUR",
            "locale": "de",
            "ip": "192.0.2.10",
            "client_type": "mobile",
            "urls": {
                "deposit_url": "https://casino.example.test/cashier",
                "return_url": "https://casino.example.test/lobby",
            },
            "user": {"id": PLAYER, "country": "DE"},
        }

    @respx.mock(base_url=BASE_URL, assert_all_called=True)
    async def test_demo_launch(
        self, adapter: SoftswissAdapter, respx_mock: respx.MockRouter
    ) -> None:
        """A demo launch posts to /demo without currency or player."""
        route = respx_mock.post("/demo").mock(
            return_value=signed_response(200, LAUNCHED)
        )

        result = await adapter.launch(launch_request(Mode.DEMO))

        assert result.url == GAME_URL
        sent = route.calls.last.request
        assert sent.headers["X-REQUEST-SIGN"] == hmac_sha256_hex(TOKEN, sent.content)
        assert orjson.loads(sent.content) == {
            "casino_id": "casino-0001",
            "game": "example-studio:fruit-reels",
            "locale": "de",
            "ip": "192.0.2.10",
            "client_type": "mobile",
            "urls": {"return_url": "https://casino.example.test/lobby"},
        }

    @pytest.mark.parametrize(
        ("answer", "retryable"),
        [
            (signed_response(500, {"code": 500, "message": "Unknown error"}), True),
            (httpx.Response(502, text="bad gateway"), True),
            (httpx.Response(503), True),
            (httpx.ConnectError("refused"), True),
            (httpx.ConnectTimeout("slow"), True),
            (httpx.ReadTimeout("slow"), True),
            (signed_response(400, {"code": 400, "message": "Bad request"}), False),
            (signed_response(403, {"code": 403, "message": "Forbidden"}), False),
            (httpx.Response(404, text="no"), False),
            (httpx.Response(200, json=LAUNCHED), False),
            (
                httpx.Response(
                    200, json=LAUNCHED, headers={"X-REQUEST-SIGN": "0" * 64}
                ),
                False,
            ),
            (signed_response(200, {"launch_options": {}}), False),
            (signed_response(200, [1]), False),
            (
                signed_response(
                    200, {"launch_options": {"game_url": "javascript:alert(1)"}}
                ),
                False,
            ),
        ],
        ids=[
            "500",
            "502-text",
            "503-empty",
            "connect-error",
            "connect-timeout",
            "read-timeout",
            "400",
            "403",
            "404",
            "unsigned-200",
            "badly-signed-200",
            "no-game-url",
            "not-an-object",
            "not-http-url",
        ],
    )
    async def test_launch_failure(
        self,
        adapter: SoftswissAdapter,
        answer: httpx.Response | Exception,
        retryable: bool,
    ) -> None:
        """Failures are ProviderErrors, retryable only for 5xx and transport faults."""
        with respx.mock(base_url=BASE_URL) as router:
            router.post("/sessions").mock(side_effect=[answer])

            with pytest.raises(ProviderError) as raised:
                await adapter.launch(launch_request())

        assert raised.value.retryable is retryable
        assert raised.value.context["provider"] == "studio-direct"

    @respx.mock(base_url=BASE_URL, assert_all_called=True)
    async def test_list_games(
        self, adapter: SoftswissAdapter, respx_mock: respx.MockRouter
    ) -> None:
        """The game list (a gamegate extension) maps to game descriptors."""
        route = respx_mock.get("/games").mock(
            return_value=signed_response(
                200,
                {
                    "games": [
                        {
                            "identifier": "example-studio:fruit-reels",
                            "title": "Fruit Reels",
                            "provider": "example-studio",
                            "category": "slots",
                            "has_demo": True,
                        },
                        {
                            "identifier": "example-studio:blackjack",
                            "title": "Blackjack",
                            "provider": "example-studio",
                            "category": "table",
                            "has_demo": False,
                        },
                    ]
                },
            )
        )

        games = await adapter.list_games()

        assert games == (
            GameDescriptor(
                id="example-studio:fruit-reels",
                name="Fruit Reels",
                studio="example-studio",
                category="slots",
                demo=True,
            ),
            GameDescriptor(
                id="example-studio:blackjack",
                name="Blackjack",
                studio="example-studio",
                category="table",
                demo=False,
            ),
        )
        sent = route.calls.last.request
        assert sent.headers["X-REQUEST-SIGN"] == hmac_sha256_hex(TOKEN, b"")

    @pytest.mark.parametrize(
        "document",
        [{"games": {}}, {"games": [{"title": "no id"}]}, {"games": [7]}],
        ids=["not-a-list", "missing-identifier", "not-an-object"],
    )
    async def test_malformed_game_list(
        self, adapter: SoftswissAdapter, document: dict[str, Any]
    ) -> None:
        """A game list the adapter cannot read is a non-retryable ProviderError."""
        with respx.mock(base_url=BASE_URL) as router:
            router.get("/games").mock(return_value=signed_response(200, document))

            with pytest.raises(ProviderError) as raised:
                await adapter.list_games()

        assert raised.value.retryable is False


class TestPlugin:
    def test_declares_the_contract(self) -> None:
        """The adapter declares its name, config, profile and callback paths."""
        assert issubclass(SoftswissAdapter, GameAdapter)
        assert SoftswissAdapter.name == "softswiss"
        assert SoftswissAdapter.config_model is SoftswissConfig
        assert SoftswissAdapter.callback_paths == ("play", "rollback")
        assert SoftswissAdapter.profile.unknown_rollback is Status.OK
        assert SoftswissAdapter.profile.credit_without_debit is True
        assert SoftswissAdapter.profile.reverse_settled is False
        assert SoftswissAdapter.capabilities.demo is True

    def test_registers_through_the_hook(self) -> None:
        """The entry-point module registers the adapter through register_adapters."""
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(AdapterSpecs)
        manager.register(adapters.softswiss)
        manager.check_pending()
        registered: list[type[GameAdapter]] = []

        manager.hook.register_adapters(register=registered.append)

        assert registered == [SoftswissAdapter]

    def test_imports_only_the_contract(self) -> None:
        """The adapter package never imports the gateway runtime."""
        package = Path(adapters.softswiss.__file__).parent
        imported: set[str] = set()
        for source in package.glob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    imported.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module:
                    imported.add(node.module)

        assert not {name for name in imported if name.split(".")[0] == "gateway"}


class TestConfig:
    @pytest.mark.parametrize(
        "changes",
        [
            {"base_url": "ftp://studio.example.test"},
            {"base_url": "studio.example.test"},
            {"base_url": "https://"},
            {"base_url": "https://studio.example.test/?a=1"},
            {"auth_token": ""},
            {"casino_id": ""},
            {"timeout_seconds": 0},
            {"surprise": True},
        ],
        ids=[
            "ftp",
            "no-scheme",
            "no-host",
            "query",
            "empty-token",
            "empty-casino",
            "zero-timeout",
            "unknown-key",
        ],
    )
    def test_refused(self, changes: dict[str, Any]) -> None:
        """A config the adapter could not work with fails validation."""
        values = {
            "base_url": BASE_URL,
            "auth_token": TOKEN,
            "casino_id": "casino-0001",
            **changes,
        }

        with pytest.raises(ValidationError):
            SoftswissConfig(**values)

    def test_secret_is_not_shown(self) -> None:
        """The auth token never appears in the config's repr."""
        config = SoftswissConfig(
            base_url=BASE_URL, auth_token=SecretStr(TOKEN), casino_id="c"
        )

        assert TOKEN not in repr(config)
        assert config.base_url == BASE_URL
