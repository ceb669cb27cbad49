"""The `pragmatic` adapter: hash, native forms, answers, launches, free rounds."""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson
import pluggy
import pytest
import respx
from pydantic import SecretStr, ValidationError

import adapters.pragmatic
from adapters.pragmatic import PragmaticAdapter, PragmaticConfig
from adapters.pragmatic.adapter import ERROR_CODES
from adapters.pragmatic.hashing import canonical, md5_hash
from adapters.pragmatic.identity import UnreadableToken
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
from gateway.plugins import load_adapters

SECRET = "placeholder-secret-key"
BASE_URL = "https://pragmatic.example.test/IntegrationService/v3/http"
VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"
VECTOR_FILE = VECTORS / "game-signatures.json"
PLAYER = "casino-a:player-0001"
USER = f"{PLAYER}|EUR"
SESSION = "gg-session-1"
TOKEN = f"{SESSION}|{USER}"
GAME = "vs20fruitreels"
PROCESSED = datetime(2024, 5, 6, 12, 45, 32, tzinfo=UTC)


def vector(vector_id: str) -> dict[str, Any] | None:
    """Return one shared signature vector by id, or None when the file is absent."""
    if not VECTOR_FILE.is_file():
        return None
    vectors = json.loads(VECTOR_FILE.read_text())["vectors"]
    return next((item for item in vectors if item["id"] == vector_id), None)


def needs_vector(vector_id: str) -> pytest.MarkDecorator:
    """Skip a test, with the reason, when the shared vector is not there."""
    return pytest.mark.skipif(
        vector(vector_id) is None, reason=f"{vector_id} not in {VECTOR_FILE}"
    )


def make_adapter(
    http: httpx.AsyncClient, secret: str = SECRET, **config: Any
) -> PragmaticAdapter:
    """Build an adapter for the `pragmatic-direct` instance with a test config."""
    settings = PragmaticConfig(
        base_url=BASE_URL + "/",
        secret_key=SecretStr(secret),
        secure_login="casino-a",
        **config,
    )
    context = AdapterContext(
        instance="pragmatic-direct",
        currencies=CurrencyTable({"USDT": 6}),
        http=http,
    )
    return PragmaticAdapter(settings, context)


def form(
    params: Mapping[str, str], *, secret: str = SECRET, hash: str | None = None
) -> bytes:
    """Encode parameters as Pragmatic posts them, hashed unless told otherwise."""
    digest = md5_hash(params, secret) if hash is None else hash
    pairs = list(params.items()) + ([("hash", digest)] if digest else [])
    return urlencode(pairs).encode()


def callback(
    path: str,
    params: Mapping[str, str] | bytes,
    *,
    secret: str = SECRET,
    hash: str | None = None,
    method: str = "POST",
) -> Callback:
    """Build a callback as the gateway hands it over."""
    body = (
        params if isinstance(params, bytes) else form(params, secret=secret, hash=hash)
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return Callback(path=path, method=method, headers=headers, query={}, body=body)


def answer(response: Any) -> dict[str, Any]:
    """Decode an adapter's JSON answer with exact decimals."""
    document: dict[str, Any] = json.loads(response.body, parse_float=Decimal)
    return document


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the one the gateway hands to adapters."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def adapter(http: httpx.AsyncClient) -> PragmaticAdapter:
    """A pragmatic adapter keyed with the test secret."""
    return make_adapter(http)


ACCOUNT = {"providerId": "PragmaticPlay", "userId": USER}
ROUND = {**ACCOUNT, "gameId": GAME, "roundId": "5103188801", "token": TOKEN}
MONEY = {**ROUND, "amount": "1.50", "reference": "ref-1", "timestamp": "1482429190"}


class TestVectors:
    @needs_vector("pragmatic-md5-1")
    def test_pragmatic_vector(self, http: httpx.AsyncClient) -> None:
        """The derived vector's canonical string and hash match; the hash verifies."""
        item = vector("pragmatic-md5-1")
        assert item is not None

        assert canonical(item["params"]) == item["canonical"]
        assert md5_hash(item["params"], item["secret"]) == item["expected"]
        adapter = make_adapter(http, secret=item["secret"])
        arrived = callback(
            "bet.html", item["params"], secret=item["secret"], hash=item["expected"]
        )

        # The hash verifies; the vector's userId "421" then names no currency,
        # which the adapter refuses as a bad parameter, not as a bad hash.
        with pytest.raises(BadRequest) as raised:
            adapter.parse_callback(arrived)
        assert raised.value.context["field"] == "userId"

    @needs_vector("sorted-params-md5-upper-1")
    def test_upper_case_vector(self, http: httpx.AsyncClient) -> None:
        """The upper-case member of the family matches, and case does not matter."""
        item = vector("sorted-params-md5-upper-1")
        assert item is not None

        assert canonical(item["params"]) == item["canonical"]
        assert md5_hash(item["params"], item["secret"]).upper() == item["expected"]
        upper = md5_hash(ACCOUNT, SECRET).upper()
        request = make_adapter(http).parse_callback(
            callback("balance.html", ACCOUNT, hash=upper)
        )
        assert request.player == PLAYER


class TestHash:
    @pytest.mark.parametrize(
        "value",
        ["spin, free", "a+b", "~tilde~", "Zürich €", "", "0", "0.00", "a=b&c=d"],
        ids=[
            "spaces",
            "plus",
            "tilde",
            "non-ascii",
            "empty",
            "zero",
            "zero-amount",
            "delimiters",
        ],
    )
    def test_hash_covers_raw_values(
        self, adapter: PragmaticAdapter, value: str
    ) -> None:
        """The hash is over decoded values joined raw, whatever characters they hold."""
        params = {**ACCOUNT, "roundDetails": value}
        text = f"providerId=PragmaticPlay&roundDetails={value}&userId={USER}{SECRET}"
        digest = hashlib.md5(text.encode()).hexdigest()

        request = adapter.parse_callback(callback("balance.html", params, hash=digest))

        assert request.player == PLAYER

    def test_url_encoded_values_do_not_verify(self, adapter: PragmaticAdapter) -> None:
        """A hash over the URL-encoded form instead of the raw values is refused."""
        params = {**ACCOUNT, "roundDetails": "a+b c"}
        encoded = {
            **params,
            "roundDetails": "a%2Bb+c",
            "userId": "casino-a%3Aplayer-0001%7CEUR",
        }

        with pytest.raises(InvalidSignature):
            adapter.parse_callback(
                callback("balance.html", params, hash=md5_hash(encoded, SECRET))
            )

    @pytest.mark.parametrize("skip_empty", [False, True], ids=["included", "left-out"])
    def test_empty_values_either_way(
        self, adapter: PragmaticAdapter, skip_empty: bool
    ) -> None:
        """An empty parameter may be hashed as `k=` or left out of the string."""
        params = {**ACCOUNT, "token": ""}
        digest = md5_hash(params, SECRET, skip_empty=skip_empty)

        request = adapter.parse_callback(callback("balance.html", params, hash=digest))

        assert request.session_token is None

    def test_sorted_by_key_not_by_order_sent(self, adapter: PragmaticAdapter) -> None:
        """Parameters in any order verify, since the canonical string is sorted."""
        params = dict(reversed(list(ACCOUNT.items())))

        assert adapter.parse_callback(callback("balance.html", params)).player == PLAYER

    @pytest.mark.parametrize(
        "body",
        [
            form(ACCOUNT, hash=""),
            form(ACCOUNT, hash="0" * 32),
            form(ACCOUNT, secret="another-key"),
            form(ACCOUNT, hash="not-hex"),
            form(ACCOUNT) + b"&hash=" + md5_hash(ACCOUNT, SECRET).encode(),
            b"providerId&userId=x",
            b"userId=%ff%fe&hash=00",
            form({**ACCOUNT, "amount": "-5"}, secret="another-key"),
        ],
        ids=[
            "missing",
            "zeros",
            "other-key",
            "garbage",
            "two-hashes",
            "not-a-form",
            "not-utf-8",
            "bad-body-bad-hash",
        ],
    )
    def test_bad_hash(self, adapter: PragmaticAdapter, body: bytes) -> None:
        """A missing, wrong or unreadable hash is refused before anything is read."""
        with pytest.raises(InvalidSignature):
            adapter.parse_callback(callback("bet.html", body))

    def test_empty_body(self, adapter: PragmaticAdapter) -> None:
        """An empty body carries no hash and is refused as such."""
        with pytest.raises(InvalidSignature):
            adapter.parse_callback(callback("balance.html", b""))


def debit(
    transaction_id: str = "ref-1", amount: int = 150, **references: str
) -> WalletOperation:
    """Return the debit a bet reads as."""
    return WalletOperation(
        operation=Operation.DEBIT,
        transaction_id=transaction_id,
        amount=amount,
        references=references,
    )


def credit(
    kind: CreditKind,
    amount: int = 150,
    transaction_id: str = "ref-1",
    **references: str,
) -> WalletOperation:
    """Return a credit of one kind."""
    return WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=transaction_id,
        amount=amount,
        credit_kind=kind,
        references=references,
    )


PARSE_CASES: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
    (
        "authenticate",
        "authenticate.html",
        {"providerId": "pragmaticplay", "token": TOKEN, "gameId": GAME},
        {"session_token": SESSION, "game": GAME},
    ),
    (
        "balance",
        "balance.html",
        {**ACCOUNT, "token": TOKEN},
        {"session_token": SESSION},
    ),
    ("balance-without-token", "balance.html", ACCOUNT, {}),
    (
        "bet",
        "bet.html",
        {**MONEY, "roundDetails": "spin", "platform": "WEB"},
        {
            "operations": (debit(),),
            "session_token": SESSION,
            "game": GAME,
            "round_id": "5103188801",
        },
    ),
    (
        "bet-without-suffix",
        "bet",
        MONEY,
        {
            "operations": (debit(),),
            "session_token": SESSION,
            "game": GAME,
            "round_id": "5103188801",
        },
    ),
    (
        "free-round-bet",
        "bet.html",
        {**MONEY, "amount": "0.00", "bonusCode": "frb-7"},
        {
            "operations": (debit(amount=0, bonus_code="frb-7"),),
            "session_token": SESSION,
            "game": GAME,
            "round_id": "5103188801",
        },
    ),
    (
        "result",
        "result.html",
        {**MONEY, "amount": "2.00", "reference": "ref-2"},
        {
            "operations": (credit(CreditKind.WIN, 200, "ref-2"),),
            "session_token": SESSION,
            "game": GAME,
            "round_id": "5103188801",
        },
    ),
    (
        "result-with-promo",
        "result.html",
        {
            **MONEY,
            "amount": "0",
            "reference": "ref-3",
            "promoWinAmount": "5.00",
            "promoCampaignID": "77",
            "promoCampaignType": "R",
        },
        {
            "operations": (
                credit(CreditKind.WIN, 0, "ref-3"),
                credit(
                    CreditKind.PROMO,
                    500,
                    "ref-3:promo",
                    campaign="77",
                    campaign_type="R",
                ),
            ),
            "session_token": SESSION,
            "game": GAME,
            "round_id": "5103188801",
        },
    ),
    (
        "bonus-win",
        "bonusWin.html",
        {**ACCOUNT, "amount": "12.30", "reference": "ref-4", "bonusCode": "frb-7"},
        {"operations": (credit(CreditKind.BONUS, 1230, "ref-4", bonus_code="frb-7"),)},
    ),
    (
        "jackpot-win",
        "jackpotWin.html",
        {**MONEY, "amount": "1000.00", "reference": "ref-5", "jackpotId": "jp-1"},
        {
            "operations": (
                credit(
                    CreditKind.JACKPOT,
                    100_000,
                    "ref-5",
                    jackpot_id="jp-1",
                    round="5103188801",
                ),
            ),
            "session_token": SESSION,
            "game": GAME,
        },
    ),
    (
        "promo-win",
        "promoWin.html",
        {
            **ACCOUNT,
            "amount": "25",
            "currency": "EUR",
            "reference": "ref-6",
            "campaignId": "1001",
            "campaignType": "T",
            "timestamp": "1700000000000",
        },
        {
            "operations": (
                credit(
                    CreditKind.PROMO, 2500, "ref-6", campaign="1001", campaign_type="T"
                ),
            ),
        },
    ),
    (
        "refund",
        "refund.html",
        {**MONEY, "amount": "1.50"},
        {
            "operations": (
                WalletOperation(
                    operation=Operation.ROLLBACK,
                    transaction_id="refund:ref-1",
                    reference_transaction_id="ref-1",
                ),
            ),
            "session_token": SESSION,
            "game": GAME,
            "round_id": "5103188801",
        },
    ),
    (
        "refund-minimal",
        "refund.html",
        {**ACCOUNT, "reference": "ref-1"},
        {
            "operations": (
                WalletOperation(
                    operation=Operation.ROLLBACK,
                    transaction_id="refund:ref-1",
                    reference_transaction_id="ref-1",
                ),
            ),
        },
    ),
    (
        "adjustment-up",
        "adjustment.html",
        {**MONEY, "amount": "3.00", "validBetAmount": "0.00"},
        {
            "operations": (
                credit(CreditKind.ADJUSTMENT, 300, "ref-1", round="5103188801"),
            ),
            "game": GAME,
        },
    ),
    (
        "adjustment-down",
        "adjustment.html",
        {**MONEY, "amount": "-3.00", "validBetAmount": "0.00"},
        {"operations": (debit(amount=300, round="5103188801"),), "game": GAME},
    ),
    (
        "end-round",
        "endRound.html",
        {**ROUND, "win": "2.00"},
        {
            "session_token": SESSION,
            "game": GAME,
            "round_id": "5103188801",
            "round_closed": True,
        },
    ),
]


class TestParse:
    @pytest.mark.parametrize(
        ("path", "params", "expected"),
        [case[1:] for case in PARSE_CASES],
        ids=[case[0] for case in PARSE_CASES],
    )
    def test_native_form(
        self,
        adapter: PragmaticAdapter,
        path: str,
        params: dict[str, str],
        expected: dict[str, Any],
    ) -> None:
        """Each method's native form reads into the wallet request it asks for."""
        arrived = callback(path, params)

        request = adapter.parse_callback(arrived)

        assert request == WalletRequest(
            player=PLAYER, currency="EUR", raw=arrived.body, **expected
        )

    @pytest.mark.parametrize(
        ("currency", "amount", "minor"),
        [("EUR", "1.5", 150), ("JPY", "100.00", 100), ("USDT", "0.000001", 1)],
        ids=["one-decimal", "no-minor-unit", "configured-crypto"],
    )
    def test_amounts_are_exact(
        self, adapter: PragmaticAdapter, currency: str, amount: str, minor: int
    ) -> None:
        """Amounts convert exactly at each currency's exponent."""
        params = {**MONEY, "userId": f"{PLAYER}|{currency}", "amount": amount}

        request = adapter.parse_callback(callback("bet.html", params))

        assert (request.currency, request.operations[0].amount) == (currency, minor)

    def test_negative_zero_adjustment_is_a_credit(
        self, adapter: PragmaticAdapter
    ) -> None:
        """An adjustment of -0.00 moves nothing and is no debit."""
        request = adapter.parse_callback(
            callback("adjustment.html", {**MONEY, "amount": "-0.00"})
        )

        operation = request.operations[0]
        assert (operation.operation, operation.amount) == (Operation.CREDIT, 0)

    def test_player_reference_may_hold_the_separator(
        self, adapter: PragmaticAdapter
    ) -> None:
        """The currency is split off at the last `|`, so any player reference works."""
        params = {**ACCOUNT, "userId": "op:a|b|EUR"}

        request = adapter.parse_callback(callback("balance.html", params))

        assert (request.player, request.currency) == ("op:a|b", "EUR")

    def test_unknown_parameters_are_ignored(self, adapter: PragmaticAdapter) -> None:
        """Parameters Pragmatic adds later do not stop a callback from reading."""
        params = {**MONEY, "jackpotContribution": "0.01", "ipAddress": "192.0.2.1"}

        assert adapter.parse_callback(callback("bet.html", params)).operations


def bad(path: str, **changes: str | None) -> tuple[str, dict[str, str]]:
    """Return a path and the money form with fields changed (None drops one)."""
    params = {**MONEY, **changes}
    return path, {key: value for key, value in params.items() if value is not None}


REFUSALS: list[tuple[str, tuple[str, dict[str, str]], type[BadRequest]]] = [
    ("missing-user", bad("bet.html", userId=None), BadRequest),
    ("user-without-currency", bad("bet.html", userId="421"), BadRequest),
    ("unknown-currency", bad("bet.html", userId=f"{PLAYER}|XXQ"), UnknownCurrency),
    ("lower-case-currency", bad("bet.html", userId=f"{PLAYER}|eur"), UnknownCurrency),
    ("missing-amount", bad("bet.html", amount=None), AmountError),
    ("empty-amount", bad("bet.html", amount=""), AmountError),
    ("exponent-amount", bad("bet.html", amount="1e3"), AmountError),
    ("negative-bet", bad("bet.html", amount="-1.00"), AmountError),
    ("too-fine-for-eur", bad("bet.html", amount="1.505"), AmountError),
    (
        "too-fine-for-jpy",
        bad("bet.html", amount="1.5", userId=f"{PLAYER}|JPY"),
        AmountError,
    ),
    ("comma-decimal", bad("bet.html", amount="1,50"), AmountError),
    ("padded-amount", bad("bet.html", amount=" 1.50"), AmountError),
    ("hex-amount", bad("bet.html", amount="0x10"), AmountError),
    ("nan-amount", bad("bet.html", amount="NaN"), AmountError),
    ("plus-amount", bad("bet.html", amount="+1.00"), AmountError),
    ("negative-result", bad("result.html", amount="-2.00"), AmountError),
    (
        "double-negative-adjustment",
        bad("adjustment.html", amount="--1.00"),
        AmountError,
    ),
    ("float-like-adjustment", bad("adjustment.html", amount="-1e3"), AmountError),
    ("bad-refund-amount", bad("refund.html", amount="abc"), AmountError),
    ("missing-reference", bad("bet.html", reference=None), BadRequest),
    ("long-reference", bad("bet.html", reference="r" * 200), BadRequest),
    ("missing-round", bad("bet.html", roundId=None), BadRequest),
    ("missing-game", bad("result.html", gameId=None), BadRequest),
    ("other-provider", bad("bet.html", providerId="SomeoneElse"), BadRequest),
    ("missing-provider", bad("bet.html", providerId=None), BadRequest),
    ("timestamp-not-digits", bad("bet.html", timestamp="yesterday"), BadRequest),
    ("bonus-win-without-code", bad("bonusWin.html"), BadRequest),
    ("jackpot-without-id", bad("jackpotWin.html"), BadRequest),
    (
        "promo-in-other-currency",
        bad("promoWin.html", currency="USD", campaignId="1", campaignType="T"),
        BadRequest,
    ),
    ("end-round-without-round", bad("endRound.html", roundId=None), BadRequest),
    ("unserved-method", bad("GetBalancePerGame.html"), UnknownOperation),
    ("unknown-method", bad("steal.html"), UnknownOperation),
    (
        "authenticate-without-token",
        ("authenticate.html", {"providerId": "PragmaticPlay"}),
        BadRequest,
    ),
    (
        "authenticate-bare-token",
        ("authenticate.html", {"providerId": "PragmaticPlay", "token": "5v93mto7jr"}),
        UnreadableToken,
    ),
]


class TestRefuse:
    @pytest.mark.parametrize(
        ("request_", "error"),
        [case[1:] for case in REFUSALS],
        ids=[case[0] for case in REFUSALS],
    )
    def test_bad_request(
        self,
        adapter: PragmaticAdapter,
        request_: tuple[str, dict[str, str]],
        error: type[BadRequest],
    ) -> None:
        """A correctly hashed form the protocol does not allow raises its BadRequest."""
        path, params = request_

        with pytest.raises(error):
            adapter.parse_callback(callback(path, params))

    def test_repeated_parameter(self, adapter: PragmaticAdapter) -> None:
        """A parameter sent twice is refused even when the hash covers both."""
        pairs = [*MONEY.items(), ("amount", "9.00")]
        body = urlencode([*pairs, ("hash", md5_hash(pairs, SECRET))]).encode()

        with pytest.raises(BadRequest):
            adapter.parse_callback(callback("bet.html", body))

    def test_get_is_refused(self, adapter: PragmaticAdapter) -> None:
        """A callback must be a POST even when its hash is right."""
        with pytest.raises(BadRequest):
            adapter.parse_callback(callback("balance.html", ACCOUNT, method="GET"))


def outcome(
    status: Status = Status.OK,
    balance: int | None = 9_850,
    transactions: tuple[str, ...] = ("gw-17",),
    replay: bool = False,
) -> WalletOutcome:
    """Return a ledger outcome with the given gateway transaction ids."""
    return WalletOutcome(
        status=status,
        currency="EUR",
        balance=balance,
        operations=tuple(
            OperationOutcome(
                transaction_id=f"ref-{index}",
                gateway_transaction_id=gateway_id,
                processed_at=PROCESSED,
                replay=replay,
            )
            for index, gateway_id in enumerate(transactions)
        ),
    )


CASH = {"cash": Decimal("98.50"), "bonus": Decimal("0.00")}
SUCCESS = {"error": 0, "description": "Success"}
RENDER_CASES: list[tuple[str, dict[str, str], tuple[str, ...], dict[str, Any]]] = [
    (
        "authenticate.html",
        {"providerId": "PragmaticPlay", "token": TOKEN},
        (),
        {"userId": USER, "token": TOKEN, "currency": "EUR", **CASH, **SUCCESS},
    ),
    ("balance.html", ACCOUNT, (), {"currency": "EUR", **CASH, **SUCCESS}),
    (
        "bet.html",
        MONEY,
        ("gw-17",),
        {
            "transactionId": "gw-17",
            "currency": "EUR",
            **CASH,
            "usedPromo": Decimal("0.00"),
            **SUCCESS,
        },
    ),
    (
        "result.html",
        MONEY,
        ("gw-18", "gw-19"),
        {"transactionId": "gw-18", "currency": "EUR", **CASH, **SUCCESS},
    ),
    (
        "bonusWin.html",
        {**MONEY, "bonusCode": "frb-7"},
        ("gw-20",),
        {"transactionId": "gw-20", "currency": "EUR", **CASH, **SUCCESS},
    ),
    ("refund.html", MONEY, ("gw-21",), {"transactionId": "gw-21", **SUCCESS}),
    ("endRound.html", ROUND, (), {**CASH, **SUCCESS}),
]


class TestRender:
    @pytest.mark.parametrize(
        ("path", "params", "transactions", "expected"),
        RENDER_CASES,
        ids=[case[0] for case in RENDER_CASES],
    )
    def test_success_answer(
        self,
        adapter: PragmaticAdapter,
        path: str,
        params: dict[str, str],
        transactions: tuple[str, ...],
        expected: dict[str, Any],
    ) -> None:
        """Each method's success answer carries the fields the spec lists for it."""
        arrived = callback(path, params)
        request = adapter.parse_callback(arrived)

        rendered = adapter.render_outcome(
            arrived, request, outcome(balance=9_850, transactions=transactions)
        )

        assert (rendered.status, rendered.content_type) == (200, "application/json")
        assert answer(rendered) == expected

    def test_replay_is_answered_as_the_original(
        self, adapter: PragmaticAdapter
    ) -> None:
        """A replayed bet is answered with success and the original transactionId."""
        arrived = callback("bet.html", MONEY)
        request = adapter.parse_callback(arrived)

        first = adapter.render_outcome(arrived, request, outcome())
        again = adapter.render_outcome(arrived, request, outcome(replay=True))

        assert again.body == first.body

    def test_cash_is_an_exact_json_number(self, adapter: PragmaticAdapter) -> None:
        """A large balance is written digit for digit, never through a float."""
        arrived = callback("balance.html", ACCOUNT)
        request = adapter.parse_callback(arrived)

        rendered = adapter.render_outcome(
            arrived, request, outcome(balance=123_456_789_012_345_678, transactions=())
        )

        assert b'"cash":1234567890123456.78' in rendered.body

    @pytest.mark.parametrize(
        ("status", "code"),
        [
            (Status.INSUFFICIENT_FUNDS, 1),
            (Status.UNKNOWN_PLAYER, 2),
            (Status.WRONG_CURRENCY, 2),
            (Status.GAME_NOT_ALLOWED, 3),
            (Status.INVALID_SESSION, 4),
            (Status.SESSION_EXPIRED, 4),
            (Status.INVALID_SIGNATURE, 5),
            (Status.PLAYER_BLOCKED, 6),
            (Status.BAD_REQUEST, 7),
            (Status.TRANSACTION_NOT_FOUND, 7),
            (Status.TRANSACTION_MISMATCH, 7),
            (Status.ALREADY_SETTLED, 7),
            (Status.ALREADY_ROLLED_BACK, 7),
            (Status.ROUND_CLOSED, 7),
            (Status.LIMIT_REACHED, 50),
            (Status.RETRYABLE_ERROR, 100),
            (Status.FINAL_ERROR, 120),
        ],
    )
    def test_status_table(
        self, adapter: PragmaticAdapter, status: Status, code: int
    ) -> None:
        """Each refusal renders the spec's error code, with HTTP 200."""
        arrived = callback("bet.html", MONEY)
        request = adapter.parse_callback(arrived)

        rendered = adapter.render_outcome(arrived, request, outcome(status, 50, ()))

        document = answer(rendered)
        assert (rendered.status, document["error"]) == (200, code)
        assert set(document) == {"error", "description"}
        assert document["description"]

    def test_status_table_is_complete_and_distinct(self) -> None:
        """Every status but OK has a code, and each says which case it is."""
        assert set(ERROR_CODES) == set(Status) - {Status.OK}
        descriptions = [description for _, description in ERROR_CODES.values()]
        assert len(set(descriptions)) == len(descriptions)

    def test_end_round_retry_uses_its_own_code(self, adapter: PragmaticAdapter) -> None:
        """A retryable failure of endRound is code 130, the spec's endRound retry."""
        arrived = callback("endRound.html", ROUND)
        request = adapter.parse_callback(arrived)

        rendered = adapter.render_outcome(
            arrived, request, outcome(Status.RETRYABLE_ERROR, None, ())
        )

        assert answer(rendered)["error"] == 130

    @pytest.mark.parametrize(
        ("path", "result"),
        [
            ("balance.html", outcome(balance=None, transactions=())),
            ("bet.html", outcome(transactions=())),
        ],
        ids=["no-balance", "no-transaction"],
    )
    def test_incomplete_ok_is_a_retry(
        self, adapter: PragmaticAdapter, path: str, result: WalletOutcome
    ) -> None:
        """An OK outcome missing its balance or id is answered 100, never a 0."""
        params = ACCOUNT if path == "balance.html" else MONEY
        arrived = callback(path, params)
        request = adapter.parse_callback(arrived)

        assert answer(adapter.render_outcome(arrived, request, result))["error"] == 100

    @pytest.mark.parametrize(
        ("path", "error", "code"),
        [
            ("bet.html", InvalidSignature(), 5),
            ("authenticate.html", UnreadableToken("no session"), 4),
            ("bet.html", BadRequest("amount is required"), 7),
            ("bet.html", AmountError("negative amount"), 7),
            ("bet.html", UnknownCurrency("XXQ"), 7),
            ("steal.html", UnknownOperation("no method"), 7),
            ("bet.html", BodyTooLarge(), 7),
            ("bet.html", ProviderError("internal error", retryable=True), 100),
            ("endRound.html", ProviderError("internal error", retryable=True), 130),
            ("bet.html", ProviderError("refused", retryable=False), 120),
            ("bet.html", GamegateError("anything"), 100),
        ],
        ids=[
            "invalid-signature",
            "unreadable-token",
            "bad-request",
            "bad-amount",
            "unknown-currency",
            "unknown-method",
            "body-too-large",
            "retryable",
            "retryable-end-round",
            "final",
            "unexpected",
        ],
    )
    def test_error_table(
        self, adapter: PragmaticAdapter, path: str, error: GamegateError, code: int
    ) -> None:
        """Errors raised before the ledger render as the spec's codes, with HTTP 200."""
        rendered = adapter.render_error(callback(path, b""), error)

        assert (rendered.status, answer(rendered)["error"]) == (200, code)

    def test_bad_request_says_what_and_hides_internals(
        self, adapter: PragmaticAdapter
    ) -> None:
        """Code 7 names the bad field; an unexpected error repeats nothing of itself."""
        arrived = callback("bet.html", b"")

        bad_field = adapter.render_error(arrived, BadRequest("amount is required"))
        internal = adapter.render_error(arrived, GamegateError("db at /var/x"))

        assert answer(bad_field)["description"] == "Bad parameters: amount is required"
        assert b"/var/x" not in internal.body


def launch_request(mode: Mode = Mode.REAL, **changes: Any) -> LaunchRequest:
    """Return a launch request with placeholder player data."""
    values: dict[str, Any] = {
        "session_token": SESSION,
        "player": PLAYER,
        "game": GAME,
        "currency": "EUR",
        "mode": mode,
        "language": "de",
        "country": "DE",
        "device": Device.MOBILE,
        "ip": "192.0.2.10",
        "lobby_url": "https://casino.example.test/lobby",
        "cashier_url": "https://casino.example.test/cashier",
        **changes,
    }
    return LaunchRequest(**values)


def sent_form(request: httpx.Request) -> dict[str, str]:
    """Return the form an outbound request carried, checking its hash on the way."""
    params = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
    assert params.pop("hash") == md5_hash(params, SECRET)
    return params


def api_answer(document: Any, status: int = 200) -> httpx.Response:
    """Build one of Pragmatic's JSON answers."""
    return httpx.Response(status, content=orjson.dumps(document))


GAME_URL = "https://game.example.test/gs2c/openGame.do?tc=t1&stylename=casino-a"
LAUNCHED = {"error": "0", "description": "OK", "gameURL": GAME_URL}


class TestLaunch:
    @respx.mock(base_url=BASE_URL, assert_all_called=True)
    async def test_real_launch(
        self, adapter: PragmaticAdapter, respx_mock: respx.MockRouter
    ) -> None:
        """A real launch posts the hashed game URL request and returns gameURL."""
        route = respx_mock.post("/CasinoGameAPI/game/url/").mock(
            return_value=api_answer(LAUNCHED)
        )

        result = await adapter.launch(launch_request())

        assert result.url == GAME_URL
        assert sent_form(route.calls.last.request) == {
            "secureLogin": "casino-a",
            "symbol": GAME,
            "language": "de",
            "platform": "MOBILE",
            "currency": "EUR",
            "country": "DE",
            "lobbyUrl": "https://casino.example.test/lobby",
            "cashierUrl": "https://casino.example.test/cashier",
            "playMode": "REAL",
            "externalPlayerId": USER,
            "token": TOKEN,
        }

    @respx.mock(base_url=BASE_URL, assert_all_called=True)
    async def test_demo_launch(
        self, adapter: PragmaticAdapter, respx_mock: respx.MockRouter
    ) -> None:
        """A demo launch asks for playMode DEMO without player, token or cashier."""
        route = respx_mock.post("/CasinoGameAPI/game/url/").mock(
            return_value=api_answer(LAUNCHED)
        )

        await adapter.launch(
            launch_request(Mode.DEMO, device=Device.DESKTOP, country=None)
        )

        assert sent_form(route.calls.last.request) == {
            "secureLogin": "casino-a",
            "symbol": GAME,
            "language": "de",
            "platform": "WEB",
            "currency": "EUR",
            "lobbyUrl": "https://casino.example.test/lobby",
            "playMode": "DEMO",
        }

    @pytest.mark.parametrize(
        ("reply", "retryable"),
        [
            (api_answer({"error": "100", "description": "x"}, 500), True),
            (httpx.Response(502, text="bad gateway"), True),
            (httpx.Response(503), True),
            (httpx.ConnectError("refused"), True),
            (httpx.ConnectTimeout("slow"), True),
            (httpx.ReadTimeout("slow"), True),
            (httpx.Response(400, text="no"), False),
            (httpx.Response(404), False),
            (api_answer({"error": "8", "description": "Game not found"}), False),
            (api_answer({"error": 2, "description": "Player not found"}), False),
            (api_answer({"description": "no code"}), False),
            (httpx.Response(200, text="<html>"), False),
            (api_answer([1]), False),
            (api_answer({"error": "0", "description": "OK"}), False),
            (api_answer({**LAUNCHED, "gameURL": "javascript:alert(1)"}), False),
        ],
        ids=[
            "500",
            "502-text",
            "503-empty",
            "connect-error",
            "connect-timeout",
            "read-timeout",
            "400",
            "404",
            "error-8",
            "error-int",
            "no-error-code",
            "not-json",
            "not-an-object",
            "no-game-url",
            "not-http-url",
        ],
    )
    async def test_launch_failure(
        self,
        adapter: PragmaticAdapter,
        reply: httpx.Response | Exception,
        retryable: bool,
    ) -> None:
        """Failures are ProviderErrors, retryable only for 5xx and transport faults."""
        with respx.mock(base_url=BASE_URL) as router:
            router.post("/CasinoGameAPI/game/url/").mock(side_effect=[reply])

            with pytest.raises(ProviderError) as raised:
                await adapter.launch(launch_request())

        assert raised.value.retryable is retryable
        assert raised.value.context["provider"] == "pragmatic-direct"

    @pytest.mark.parametrize(
        "changes",
        [{"player": "p" * 120}, {"session_token": "a|b"}],
        ids=["user-id-too-long", "separator-in-token"],
    )
    async def test_unrepresentable_session(
        self, adapter: PragmaticAdapter, changes: dict[str, Any]
    ) -> None:
        """A session Pragmatic's userId or token cannot carry is refused unsent."""
        with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
            route = router.post("/CasinoGameAPI/game/url/")

            with pytest.raises(ProviderError) as raised:
                await adapter.launch(launch_request(**changes))

        assert raised.value.retryable is False
        assert not route.called

    @respx.mock(base_url=BASE_URL, assert_all_called=True)
    async def test_list_games(
        self, adapter: PragmaticAdapter, respx_mock: respx.MockRouter
    ) -> None:
        """getCasinoGames maps to game descriptors with demo and free-round flags."""
        route = respx_mock.post("/CasinoGameAPI/getCasinoGames/").mock(
            return_value=api_answer(
                {
                    "error": "0",
                    "description": "OK",
                    "gameList": [
                        {
                            "gameID": GAME,
                            "gameName": "Fruit Reels",
                            "gameTypeID": "vs",
                            "typeDescription": "Video Slots",
                            "demoGameAvailable": True,
                            "frbAvailable": True,
                        },
                        {
                            "gameID": "lgsimroulette",
                            "gameName": "Roulette Live",
                            "gameTypeID": "lg",
                            "demoGameAvailable": False,
                        },
                        {"gameID": "zzsim", "gameName": "Odd", "gameTypeID": "zz"},
                    ],
                }
            )
        )

        games = await adapter.list_games()

        assert games == (
            GameDescriptor(
                id=GAME,
                name="Fruit Reels",
                studio="pragmatic-play",
                category="slots",
                demo=True,
                free_rounds=True,
            ),
            GameDescriptor(
                id="lgsimroulette",
                name="Roulette Live",
                studio="pragmatic-play",
                category="live",
                demo=False,
            ),
            GameDescriptor(
                id="zzsim",
                name="Odd",
                studio="pragmatic-play",
                category="other",
                demo=False,
            ),
        )
        assert sent_form(route.calls.last.request) == {"secureLogin": "casino-a"}

    @pytest.mark.parametrize(
        "document",
        [
            {"error": "0"},
            {"error": "0", "gameList": {}},
            {"error": "0", "gameList": [{"gameName": "no id"}]},
            {"error": "0", "gameList": [{"gameID": 7, "gameName": "x"}]},
            {"error": "0", "gameList": [7]},
        ],
        ids=["missing", "not-a-list", "missing-id", "id-not-string", "not-an-object"],
    )
    async def test_malformed_game_list(
        self, adapter: PragmaticAdapter, document: dict[str, Any]
    ) -> None:
        """A game list the adapter cannot read is a non-retryable ProviderError."""
        with respx.mock(base_url=BASE_URL) as router:
            router.post("/CasinoGameAPI/getCasinoGames/").mock(
                return_value=api_answer(document)
            )

            with pytest.raises(ProviderError) as raised:
                await adapter.list_games()

        assert raised.value.retryable is False


class TestFreeRounds:
    @respx.mock(base_url=BASE_URL, assert_all_called=True)
    async def test_create(
        self, adapter: PragmaticAdapter, respx_mock: respx.MockRouter
    ) -> None:
        """createFRB is sent hashed, naming the player by the userId of the currency."""
        route = respx_mock.post("/FreeRoundsBonusAPI/createFRB/").mock(
            return_value=api_answer({"error": "0", "description": "OK"})
        )

        await adapter.create_free_rounds(
            player=PLAYER,
            currency="EUR",
            games=[GAME, "vs25deepsea"],
            rounds=10,
            bonus_code="frb-7",
            expires_at=datetime(2024, 6, 1, tzinfo=UTC),
            starts_at=datetime(2024, 5, 1),
        )

        assert sent_form(route.calls.last.request) == {
            "secureLogin": "casino-a",
            "bonusCode": "frb-7",
            "playerId": USER,
            "currency": "EUR",
            "gameIDList": f"{GAME},vs25deepsea",
            "rounds": "10",
            "expirationDate": "1717200000",
            "startDate": "1714521600",
        }

    @respx.mock(base_url=BASE_URL, assert_all_called=True)
    async def test_cancel(
        self, adapter: PragmaticAdapter, respx_mock: respx.MockRouter
    ) -> None:
        """cancelFRB names the bonus code; a refusal is a final ProviderError."""
        route = respx_mock.post("/FreeRoundsBonusAPI/cancelFRB/").mock(
            side_effect=[
                api_answer({"error": "0", "description": "OK"}),
                api_answer({"error": "7", "description": "unknown bonusCode"}),
            ]
        )

        await adapter.cancel_free_rounds("frb-7")
        with pytest.raises(ProviderError) as raised:
            await adapter.cancel_free_rounds("frb-7")

        assert sent_form(route.calls.last.request) == {
            "secureLogin": "casino-a",
            "bonusCode": "frb-7",
        }
        assert raised.value.retryable is False

    @pytest.mark.parametrize(
        "changes",
        [{"games": []}, {"games": [""]}, {"rounds": 0}, {"bonus_code": ""}],
        ids=["no-games", "empty-game", "no-rounds", "no-code"],
    )
    async def test_refused_before_sending(
        self, adapter: PragmaticAdapter, changes: dict[str, Any]
    ) -> None:
        """Free rounds without games, rounds or a code are refused unsent."""
        values: dict[str, Any] = {
            "player": PLAYER,
            "currency": "EUR",
            "games": [GAME],
            "rounds": 5,
            "bonus_code": "frb-7",
            "expires_at": datetime(2024, 6, 1, tzinfo=UTC),
            **changes,
        }

        with pytest.raises(BadRequest):
            await adapter.create_free_rounds(**values)


class TestPlugin:
    def test_declares_the_contract(self) -> None:
        """The adapter declares its name, config, profile and callback paths."""
        assert issubclass(PragmaticAdapter, GameAdapter)
        assert PragmaticAdapter.name == "pragmatic"
        assert PragmaticAdapter.config_model is PragmaticConfig
        assert {"bet.html", "bet", "endRound.html", "authenticate"} <= set(
            PragmaticAdapter.callback_paths
        )
        assert len(PragmaticAdapter.callback_paths) == 20
        assert PragmaticAdapter.profile.unknown_rollback is Status.OK
        assert PragmaticAdapter.profile.credit_without_debit is True
        assert PragmaticAdapter.profile.reverse_settled is False
        assert PragmaticAdapter.capabilities.demo is True
        assert PragmaticAdapter.capabilities.free_rounds is True

    def test_registers_through_the_hook(self) -> None:
        """The entry-point module registers the adapter through register_adapters."""
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(AdapterSpecs)
        manager.register(adapters.pragmatic)
        manager.check_pending()
        registered: list[type[GameAdapter]] = []

        manager.hook.register_adapters(register=registered.append)

        assert registered == [PragmaticAdapter]

    def test_loads_in_process(self) -> None:
        """The gateway's loader accepts the adapter as an in-process plugin."""
        registry = load_adapters(plugins=[adapters.pragmatic])

        assert registry.get("pragmatic").cls is PragmaticAdapter

    def test_imports_only_the_contract(self) -> None:
        """The adapter package never imports the gateway runtime or the examples."""
        package = Path(adapters.pragmatic.__file__).parent
        imported: set[str] = set()
        for source in package.glob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    imported.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module:
                    imported.add(node.module)

        roots = {name.split(".")[0] for name in imported}
        assert not roots & {"gateway", "examples"}


class TestConfig:
    @pytest.mark.parametrize(
        "changes",
        [
            {"base_url": "ftp://pragmatic.example.test"},
            {"base_url": "pragmatic.example.test"},
            {"base_url": "https://pragmatic.example.test/?a=1"},
            {"secret_key": ""},
            {"secure_login": ""},
            {"provider_id": ""},
            {"timeout_seconds": 0},
            {"surprise": True},
        ],
        ids=[
            "ftp",
            "no-scheme",
            "query",
            "empty-secret",
            "empty-login",
            "empty-provider-id",
            "zero-timeout",
            "unknown-key",
        ],
    )
    def test_refused(self, changes: dict[str, Any]) -> None:
        """A config the adapter could not work with fails validation."""
        values = {
            "base_url": BASE_URL,
            "secret_key": SECRET,
            "secure_login": "casino-a",
            **changes,
        }

        with pytest.raises(ValidationError):
            PragmaticConfig(**values)

    def test_defaults_and_secret(self) -> None:
        """The provider id defaults to PragmaticPlay and the secret is never shown."""
        config = PragmaticConfig(
            base_url=BASE_URL + "/", secret_key=SecretStr(SECRET), secure_login="c"
        )

        assert (config.base_url, config.provider_id) == (BASE_URL, "PragmaticPlay")
        assert SECRET not in repr(config)
