"""The `evolution` adapter: authToken, IP allow-list, exact numbers, answers, launch."""

from __future__ import annotations

import ast
import base64
import hmac
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pluggy
import pytest
import respx
from pydantic import SecretStr, ValidationError

import adapters.evolution
from adapters.evolution import EvolutionAdapter, EvolutionConfig
from adapters.evolution.adapter import DEBIT_STATUS_CODES, STATUS_CODES
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
from examples.evolution_simulator import json_bytes
from gateway.plugins import load_adapters

AUTH_TOKEN = "placeholder-callback-token"
API_TOKEN = "placeholder-ua-token"
LOBBY_TOKEN = "placeholder-lobby-token"
CASINO_KEY = "casino-key-0001"
BASE_URL = "https://evo.example.test"
PLAYER = "casino-a:player-1"
SID = "gg-session-token-1"
TABLE = "example-roulette-01"
VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"
PROCESSED = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)


def make_adapter(
    http: httpx.AsyncClient,
    *,
    currencies: CurrencyTable | None = None,
    **settings: Any,
) -> EvolutionAdapter:
    """Build an adapter for the `evo-live` instance with a test config."""
    values: dict[str, Any] = {
        "base_url": BASE_URL + "/",
        "casino_key": CASINO_KEY,
        "api_token": API_TOKEN,
        "auth_token": AUTH_TOKEN,
        "lobby_api_token": LOBBY_TOKEN,
        **settings,
    }
    context = AdapterContext(
        instance="evo-live",
        currencies=currencies or CurrencyTable({"USDT": 6}),
        http=http,
    )
    return EvolutionAdapter(EvolutionConfig(**values), context)


def callback(
    body: bytes | dict[str, Any],
    path: str = "debit",
    *,
    token: str | None = AUTH_TOKEN,
    remote: str | None = "127.0.0.1",
    method: str = "POST",
) -> Callback:
    """Build a callback as the gateway hands it over, with the authToken query."""
    raw = body if isinstance(body, bytes) else json_bytes(body)
    query = {"authToken": token} if token is not None else {}
    return Callback(
        path=path, method=method, headers={}, query=query, body=raw, remote=remote
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the one the gateway hands to adapters."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def adapter(http: httpx.AsyncClient) -> EvolutionAdapter:
    """An evolution adapter with the test tokens and no IP allow-list."""
    return make_adapter(http)


GAME = {
    "id": "game-round-1",
    "type": "roulette",
    "details": {"table": {"id": TABLE, "vid": None}},
}


def envelope(**changes: Any) -> dict[str, Any]:
    """Return the fields every money method carries, with changes applied."""
    document = {
        "sid": SID,
        "userId": PLAYER,
        "currency": "EUR",
        "game": GAME,
        "uuid": "uuid-1",
    }
    return {**document, **changes}


def money_call(
    amount: Any = Decimal("2.50"),
    id: str = "D1",
    ref: str | None = "R1",
    **changes: Any,
) -> dict[str, Any]:
    """Return a debit, credit or cancel body with one transaction."""
    transaction = {"id": id, "refId": ref, "amount": amount}
    return envelope(transaction=transaction, **changes)


def with_amount(text: str, currency: str = "EUR") -> bytes:
    """Return a debit body whose amount is the given raw JSON text."""
    head = json_bytes(money_call(Decimal(0), currency=currency))
    return head.replace(b'"amount":0', b'"amount":' + text.encode())


class TestAuthentication:
    @pytest.mark.parametrize(
        "token",
        [None, "", "placeholder-callback-toke", AUTH_TOKEN + "x", AUTH_TOKEN.upper()],
        ids=["missing", "empty", "prefix", "longer", "other-case"],
    )
    def test_wrong_token_is_refused_before_the_body(
        self, adapter: EvolutionAdapter, token: str | None
    ) -> None:
        """A missing or wrong authToken is refused before the body is even parsed."""
        with pytest.raises(InvalidSignature):
            adapter.parse_callback(callback(b"{not json", token=token))

    def test_token_is_compared_in_constant_time(
        self, adapter: EvolutionAdapter, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The authToken goes through hmac.compare_digest, never through ==."""
        seen: list[tuple[bytes, bytes]] = []
        original = hmac.compare_digest

        def spy(expected: Any, given: Any) -> bool:
            seen.append((expected, given))
            return original(expected, given)

        monkeypatch.setattr(hmac, "compare_digest", spy)

        adapter.parse_callback(callback(money_call()))

        assert seen == [(AUTH_TOKEN.encode(), AUTH_TOKEN.encode())]

    @pytest.mark.parametrize(
        ("allowed", "remote", "accepted"),
        [
            (["203.0.113.7"], "203.0.113.7", True),
            (["203.0.113.7"], "203.0.113.8", False),
            (["10.0.0.0/8"], "10.200.3.4", True),
            (["10.0.0.0/8"], "11.0.0.1", False),
            (["10.0.0.0/8"], "::ffff:10.1.1.1", True),
            (["2001:db8::/32"], "2001:db8::5", True),
            (["2001:db8::/32"], "2001:db9::5", False),
            (["10.0.0.0/8", "192.0.2.0/24"], "192.0.2.200", True),
            (["10.0.0.0/8"], None, False),
            (["10.0.0.0/8"], "not-an-address", False),
            ([], None, True),
        ],
        ids=[
            "address",
            "other-address",
            "cidr",
            "outside-cidr",
            "ipv4-mapped",
            "ipv6-cidr",
            "outside-ipv6",
            "second-entry",
            "unknown-remote",
            "garbage-remote",
            "no-list",
        ],
    )
    def test_ip_allow_list(
        self,
        http: httpx.AsyncClient,
        allowed: list[str],
        remote: str | None,
        accepted: bool,
    ) -> None:
        """Callbacks come only from the allowed addresses and networks, when set."""
        adapter = make_adapter(http, allowed_ips=allowed)
        arrived = callback(money_call(), remote=remote)

        if accepted:
            assert adapter.parse_callback(arrived).player == PLAYER
        else:
            with pytest.raises(InvalidSignature):
                adapter.parse_callback(arrived)

    def test_get_is_refused(self, adapter: EvolutionAdapter) -> None:
        """A callback must be a POST even when its authToken is right."""
        with pytest.raises(BadRequest):
            adapter.parse_callback(callback(money_call(), method="GET"))


def request(
    path: str, document: dict[str, Any], **fields: Any
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Pair a native body with the WalletRequest fields it must read into."""
    return path, document, fields


def debit(id: str, amount: int) -> WalletOperation:
    """Return the expected debit operation."""
    return WalletOperation(operation=Operation.DEBIT, transaction_id=id, amount=amount)


PARSED = [
    request(
        "check",
        {"sid": SID, "userId": PLAYER, "channel": {"type": "P"}, "uuid": "u"},
        currency="XXX",
        session_token=SID,
    ),
    request(
        "balance",
        envelope(game=None),
        currency="EUR",
        session_token=SID,
    ),
    request(
        "balance",
        envelope(game={"type": "roulette", "details": {"table": {"id": TABLE}}}),
        currency="EUR",
        session_token=SID,
        game=TABLE,
    ),
    request(
        "debit",
        money_call(Decimal("2.50")),
        currency="EUR",
        operations=(debit("D1", 250),),
        session_token=SID,
        game=TABLE,
        round_id="R1",
    ),
    request(
        "credit",
        money_call(Decimal("5.00"), id="C1"),
        currency="EUR",
        operations=(
            WalletOperation(
                operation=Operation.CREDIT,
                transaction_id="C1",
                amount=500,
                credit_kind=CreditKind.WIN,
            ),
        ),
        session_token=SID,
        game=TABLE,
        round_id="R1",
        round_closed=True,
    ),
    request(
        "credit",
        money_call(Decimal(0), id="C2", sid=""),
        currency="EUR",
        operations=(
            WalletOperation(
                operation=Operation.CREDIT,
                transaction_id="C2",
                amount=0,
                credit_kind=CreditKind.WIN,
            ),
        ),
        game=TABLE,
        round_id="R1",
        round_closed=True,
    ),
    request(
        "cancel",
        money_call(Decimal("2.50")),
        currency="EUR",
        operations=(
            WalletOperation(
                operation=Operation.ROLLBACK,
                transaction_id="cancel:D1",
                amount=250,
                reference_transaction_id="D1",
            ),
        ),
        session_token=SID,
        game=TABLE,
        round_id="R1",
    ),
    request(
        "promo_payout",
        envelope(
            promoTransaction={
                "type": "JackpotWin",
                "id": "P1",
                "amount": Decimal("350.762048"),
            },
            currency="USDT",
        ),
        currency="USDT",
        operations=(
            WalletOperation(
                operation=Operation.CREDIT,
                transaction_id="promo:P1",
                amount=350_762_048,
                credit_kind=CreditKind.PROMO,
                references={"promo_transaction": "P1", "promo_type": "JackpotWin"},
            ),
        ),
        session_token=SID,
        game=TABLE,
    ),
]


class TestParse:
    @pytest.mark.parametrize(
        ("path", "document", "fields"),
        PARSED,
        ids=[
            "check",
            "balance-lobby",
            "balance-table",
            "debit",
            "credit",
            "credit-empty-sid",
            "cancel",
            "promo-payout",
        ],
    )
    def test_native_payload(
        self,
        adapter: EvolutionAdapter,
        path: str,
        document: dict[str, Any],
        fields: dict[str, Any],
    ) -> None:
        """Each One Wallet method reads into the wallet request it asks for."""
        arrived = callback(document, path)

        assert adapter.parse_callback(arrived) == WalletRequest(
            player=PLAYER, raw=arrived.body, **fields
        )

    def test_unknown_fields_are_ignored(self, adapter: EvolutionAdapter) -> None:
        """Fields the protocol adds later do not stop a callback from reading."""
        document = money_call(bonusAmount=Decimal(1), channel={"type": "M"})
        document["transaction"]["bets"] = [{"code": "RL_Red"}]

        assert adapter.parse_callback(callback(document)).operations == (
            debit("D1", 250),
        )


class TestAmounts:
    @pytest.mark.parametrize(
        ("text", "currency", "minor"),
        [
            ("0.1", "EUR", 10),
            ("10", "EUR", 1000),
            ("10.50", "EUR", 1050),
            ("1.550", "EUR", 155),
            ("0", "EUR", 0),
            ("-0.0", "EUR", 0),
            ("1e2", "EUR", 10_000),
            ("1.005", "KWD", 1005),
            ("2000", "JPY", 2000),
            ("0.000001", "USDT", 1),
            ("123456.789012", "USDT", 123_456_789_012),
            ("92233720368547758.07", "EUR", 2**63 - 1),
        ],
        ids=lambda value: str(value),
    )
    def test_exact(
        self, adapter: EvolutionAdapter, text: str, currency: str, minor: int
    ) -> None:
        """A JSON number converts to exact minor units at the currency's exponent."""
        request = adapter.parse_callback(callback(with_amount(text, currency)))

        assert request.operations[0].amount == minor

    @pytest.mark.parametrize(
        ("text", "currency", "error"),
        [
            ("123456.789012", "EUR", AmountError),
            ("1e-7", "EUR", AmountError),
            ("10.005", "EUR", AmountError),
            ("1.5", "JPY", AmountError),
            ("1.0005", "KWD", AmountError),
            ("-1.00", "EUR", AmountError),
            ("92233720368547758.08", "EUR", AmountError),
            ("1e30", "EUR", AmountError),
            ("1" * 45, "EUR", AmountError),
            ("1e400", "EUR", AmountError),
            ('"10.00"', "EUR", AmountError),
            ("true", "EUR", AmountError),
            ("null", "EUR", AmountError),
            ("[1]", "EUR", AmountError),
            ("NaN", "EUR", BadRequest),
            ("Infinity", "EUR", BadRequest),
            ("1" * 5000, "EUR", AmountError),
        ],
        ids=[
            "finer-than-eur",
            "tiny-exponent",
            "half-cent",
            "fraction-of-yen",
            "finer-than-kwd",
            "negative",
            "above-int64",
            "huge-exponent",
            "too-many-digits",
            "beyond-decimal-range",
            "string",
            "bool",
            "null",
            "list",
            "nan",
            "infinity",
            "five-thousand-digits",
        ],
    )
    def test_refused(
        self,
        adapter: EvolutionAdapter,
        text: str,
        currency: str,
        error: type[BadRequest],
    ) -> None:
        """An amount that is not an exact, non-negative JSON number is refused."""
        with pytest.raises(error):
            adapter.parse_callback(callback(with_amount(text, currency)))


def float_traps() -> list[Any]:
    """Return the shared float traps as (number text, exponent, right minor units)."""
    path = VECTORS / "money.json"
    if not path.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{path} missing"))]
    traps = []
    for trap in json.loads(path.read_text())["float_traps"]:
        match = re.fullmatch(r"int\(([0-9.]+) \* (10*)\)", trap["expression"])
        assert match, trap["expression"]
        traps.append(
            pytest.param(
                (match[1], len(match[2]) - 1, trap["right"]), id=trap["expression"]
            )
        )
    return traps


class TestFloatTraps:
    @pytest.mark.parametrize("trap", float_traps())
    def test_no_float_on_the_way(
        self, http: httpx.AsyncClient, trap: tuple[str, int, int]
    ) -> None:
        """The amounts a float would round down arrive as their exact minor units."""
        text, exponent, right = trap
        adapter = make_adapter(http, currencies=CurrencyTable({"TRAP": exponent}))

        request = adapter.parse_callback(callback(with_amount(text, "TRAP")))

        assert request.operations[0].amount == right


BAD_BODIES = [
    (b"{not json", "debit", BadRequest),
    (b"[1, 2]", "debit", BadRequest),
    (b"", "balance", BadRequest),
    (b"\xff\xfe{", "debit", BadRequest),
    (b"[" * 100_000, "debit", BadRequest),
    (json_bytes(money_call(userId=7)), "debit", BadRequest),
    (json_bytes(money_call(userId="")), "debit", BadRequest),
    (json_bytes(money_call(currency=None)), "debit", BadRequest),
    (json_bytes(money_call(currency="XXQ")), "debit", UnknownCurrency),
    (json_bytes(money_call(currency="eur")), "debit", UnknownCurrency),
    (json_bytes(envelope()), "debit", BadRequest),
    (json_bytes(envelope(transaction=[1])), "debit", BadRequest),
    (json_bytes(money_call(id="")), "debit", BadRequest),
    (json_bytes(money_call(ref=None)), "credit", BadRequest),
    (json_bytes(money_call(sid="")), "debit", BadRequest),
    (json_bytes(money_call(sid=None)), "debit", BadRequest),
    (json_bytes(money_call(sid=12)), "credit", BadRequest),
    (json_bytes(money_call(game="roulette")), "debit", BadRequest),
    (json_bytes(money_call(game={"details": 1})), "debit", BadRequest),
    (
        json_bytes(money_call(game={"details": {"table": {"id": 5}}})),
        "debit",
        BadRequest,
    ),
    (json_bytes(envelope()), "promo_payout", BadRequest),
    (json_bytes(envelope(promoTransaction={"id": "P"})), "promo_payout", AmountError),
    (json_bytes({"userId": PLAYER, "uuid": "u"}), "check", BadRequest),
    (json_bytes(money_call()), "sid", UnknownOperation),
    (json_bytes(money_call()), "refund", UnknownOperation),
]


class TestRefuse:
    @pytest.mark.parametrize(
        ("body", "path", "error"),
        BAD_BODIES,
        ids=[
            "malformed-json",
            "not-an-object",
            "empty-body",
            "not-utf8",
            "too-deep",
            "user-not-string",
            "user-empty",
            "currency-null",
            "unknown-currency",
            "lower-case-currency",
            "no-transaction",
            "transaction-not-object",
            "transaction-id-empty",
            "no-ref-id",
            "debit-empty-sid",
            "debit-no-sid",
            "sid-not-string",
            "game-not-object",
            "details-not-object",
            "table-id-not-string",
            "no-promo-transaction",
            "promo-without-amount",
            "check-without-sid",
            "test-only-sid-method",
            "unknown-method",
        ],
    )
    def test_bad_request(
        self,
        adapter: EvolutionAdapter,
        body: bytes,
        path: str,
        error: type[BadRequest],
    ) -> None:
        """A body the protocol does not allow raises the matching BadRequest."""
        with pytest.raises(error):
            adapter.parse_callback(callback(body, path))


def outcome(
    status: Status = Status.OK,
    balance: int | None = 1234,
    currency: str = "EUR",
    replay: bool = False,
) -> WalletOutcome:
    """Return a ledger outcome with one operation."""
    applied = OperationOutcome(
        transaction_id="D1",
        gateway_transaction_id="17",
        processed_at=PROCESSED,
        replay=replay,
    )
    operations = (applied,) if status is Status.OK else ()
    return WalletOutcome(
        status=status, currency=currency, balance=balance, operations=operations
    )


Render = Callable[[str, dict[str, Any], WalletOutcome], dict[str, Any]]


@pytest.fixture
def render(adapter: EvolutionAdapter) -> Render:
    """Parse a native body, render an outcome for it, and return the answer."""

    def answer(path: str, document: dict[str, Any], result: WalletOutcome) -> Any:
        arrived = callback(document, path)
        rendered = adapter.render_outcome(
            arrived, adapter.parse_callback(arrived), result
        )
        assert (rendered.status, rendered.content_type) == (200, "application/json")
        return json.loads(rendered.body, parse_float=Decimal)

    return answer


PROMO = envelope(promoTransaction={"id": "P1", "amount": Decimal(1)})


class TestRender:
    def test_ok_body_is_exact(self, adapter: EvolutionAdapter) -> None:
        """An OK answer carries status, balance and bonus as numbers, and the uuid."""
        arrived = callback(money_call())

        answer = adapter.render_outcome(
            arrived, adapter.parse_callback(arrived), outcome()
        )

        assert answer.body == (
            b'{"status":"OK","balance":12.34,"bonus":0.00,"uuid":"uuid-1"}'
        )

    @pytest.mark.parametrize(
        ("currency", "minor", "text"),
        [
            ("EUR", 0, "0.00"),
            ("EUR", 5, "0.05"),
            ("EUR", 123_456, "1234.56"),
            ("EUR", 2**63 - 1, "92233720368547758.07"),
            ("JPY", 2000, "2000"),
            ("KWD", 1005, "1.005"),
            ("USDT", 1, "0.000001"),
        ],
    )
    def test_balance_is_an_exact_json_number(
        self, adapter: EvolutionAdapter, currency: str, minor: int, text: str
    ) -> None:
        """The balance is written from minor units with the currency's decimals."""
        arrived = callback(envelope(currency=currency), "balance")
        request = adapter.parse_callback(arrived)

        answer = adapter.render_outcome(
            arrived, request, outcome(balance=minor, currency=currency)
        )

        assert b'"balance":' + text.encode() + b"," in answer.body
        balance = json.loads(answer.body, parse_float=Decimal)["balance"]
        assert str(balance) == text

    @pytest.mark.parametrize(
        ("path", "document", "code"),
        [
            ("debit", money_call(), "BET_ALREADY_EXIST"),
            ("credit", money_call(id="C1"), "BET_ALREADY_SETTLED"),
            ("cancel", money_call(), "BET_ALREADY_SETTLED"),
            ("promo_payout", PROMO, "BET_ALREADY_SETTLED"),
        ],
        ids=["debit", "credit", "cancel", "promo-payout"],
    )
    def test_replay_answers(
        self, render: Render, path: str, document: dict[str, Any], code: str
    ) -> None:
        """A replay is answered with Evolution's own code, its balance and the flag."""
        answer = render(path, document, outcome(replay=True))

        assert answer == {
            "status": code,
            "balance": Decimal("12.34"),
            "bonus": Decimal("0.00"),
            "retransmission": True,
            "uuid": "uuid-1",
        }

    @pytest.mark.parametrize(
        ("status", "code"),
        [
            (Status.INSUFFICIENT_FUNDS, "INSUFFICIENT_FUNDS"),
            (Status.UNKNOWN_PLAYER, "INVALID_PARAMETER"),
            (Status.INVALID_SESSION, "INVALID_SID"),
            (Status.SESSION_EXPIRED, "INVALID_SID"),
            (Status.PLAYER_BLOCKED, "ACCOUNT_LOCKED"),
            (Status.LIMIT_REACHED, "FINAL_ERROR_ACTION_FAILED"),
            (Status.GAME_NOT_ALLOWED, "FINAL_ERROR_ACTION_FAILED"),
            (Status.WRONG_CURRENCY, "INVALID_PARAMETER"),
            (Status.TRANSACTION_NOT_FOUND, "BET_DOES_NOT_EXIST"),
            (Status.TRANSACTION_MISMATCH, "INVALID_PARAMETER"),
            (Status.ALREADY_SETTLED, "BET_ALREADY_SETTLED"),
            (Status.ALREADY_ROLLED_BACK, "FINAL_ERROR_ACTION_FAILED"),
            (Status.ROUND_CLOSED, "BET_ALREADY_SETTLED"),
            (Status.INVALID_SIGNATURE, "INVALID_TOKEN_ID"),
            (Status.BAD_REQUEST, "INVALID_PARAMETER"),
            (Status.RETRYABLE_ERROR, "TEMPORARY_ERROR"),
            (Status.FINAL_ERROR, "FINAL_ERROR_ACTION_FAILED"),
        ],
    )
    def test_status_table(self, render: Render, status: Status, code: str) -> None:
        """Each refusal of a credit renders the protocol's status, with the balance."""
        answer = render("credit", money_call(id="C1"), outcome(status, balance=50))

        assert answer == {
            "status": code,
            "balance": Decimal("0.50"),
            "bonus": Decimal("0.00"),
            "uuid": "uuid-1",
        }

    def test_status_table_is_complete(self) -> None:
        """Every status but OK has a protocol status, so none falls through."""
        assert set(STATUS_CODES) == set(Status) - {Status.OK}
        assert set(DEBIT_STATUS_CODES) <= set(STATUS_CODES)

    @pytest.mark.parametrize(
        ("path", "document", "code"),
        [
            ("debit", money_call(), "FINAL_ERROR_ACTION_FAILED"),
            ("credit", money_call(id="C1"), "BET_ALREADY_SETTLED"),
        ],
        ids=["debit", "credit"],
    )
    def test_closed_round(
        self, render: Render, path: str, document: dict[str, Any], code: str
    ) -> None:
        """A debit into a settled refId is refused; a second credit reads as settled."""
        answer = render(path, document, outcome(Status.ROUND_CLOSED))

        assert answer["status"] == code

    def test_refusal_without_balance(self, render: Render) -> None:
        """An unknown player's refusal carries no balance or bonus."""
        answer = render("debit", money_call(), outcome(Status.UNKNOWN_PLAYER, None))

        assert answer == {"status": "INVALID_PARAMETER", "uuid": "uuid-1"}

    def test_ok_without_balance_is_an_unknown_error(self, render: Render) -> None:
        """An OK outcome missing its balance is never answered with a balance of 0."""
        answer = render("balance", envelope(), outcome(balance=None))

        assert answer == {"status": "UNKNOWN_ERROR", "uuid": "uuid-1"}

    @pytest.mark.parametrize(
        ("status", "answer"),
        [
            (Status.OK, {"status": "OK", "sid": SID, "uuid": "u"}),
            (Status.WRONG_CURRENCY, {"status": "OK", "sid": SID, "uuid": "u"}),
            (Status.UNKNOWN_PLAYER, {"status": "INVALID_PARAMETER", "uuid": "u"}),
        ],
    )
    def test_check_answers_the_same_sid(
        self, render: Render, status: Status, answer: dict[str, Any]
    ) -> None:
        """A known player's check is OK with the same sid as the refreshed one."""
        document = {"sid": SID, "userId": PLAYER, "uuid": "u"}

        assert render("check", document, outcome(status, None, "XXX")) == answer

    def test_uuid_is_echoed_only_when_a_string(self, render: Render) -> None:
        """A uuid that is not a string is left out rather than echoed."""
        answer = render("balance", envelope(uuid=12), outcome())

        assert "uuid" not in answer

    @pytest.mark.parametrize(
        ("error", "code"),
        [
            (BadRequest("body is not valid JSON"), "INVALID_PARAMETER"),
            (AmountError("negative amount"), "INVALID_PARAMETER"),
            (UnknownCurrency("XXQ"), "INVALID_PARAMETER"),
            (UnknownOperation("unknown method"), "INVALID_PARAMETER"),
            (BodyTooLarge(), "INVALID_PARAMETER"),
            (ProviderError("internal error", retryable=True), "TEMPORARY_ERROR"),
            (ProviderError("upstream"), "UNKNOWN_ERROR"),
            (GamegateError("anything"), "UNKNOWN_ERROR"),
        ],
        ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "",
    )
    def test_error_table(
        self, adapter: EvolutionAdapter, error: GamegateError, code: str
    ) -> None:
        """Errors raised before the ledger render as the protocol's status, 200."""
        answer = adapter.render_error(callback(money_call()), error)

        assert answer.status == 200
        assert orjson.loads(answer.body) == {"status": code, "uuid": "uuid-1"}

    def test_refused_token_reads_nothing(self, adapter: EvolutionAdapter) -> None:
        """An INVALID_TOKEN_ID answer does not even echo the unauthenticated uuid."""
        answer = adapter.render_error(callback(money_call()), InvalidSignature())

        assert orjson.loads(answer.body) == {"status": "INVALID_TOKEN_ID"}

    def test_unknown_error_hides_its_detail(self, adapter: EvolutionAdapter) -> None:
        """An UNKNOWN_ERROR answer does not repeat the internal error's message."""
        answer = adapter.render_error(callback(b"{}"), GamegateError("db at /x"))

        assert b"db at" not in answer.body


def launch_request(**changes: Any) -> LaunchRequest:
    """Return a launch request with placeholder player data."""
    values: dict[str, Any] = {
        "session_token": SID,
        "player": PLAYER,
        "game": TABLE,
        "currency": "EUR",
        "language": "de-AT",
        "country": "AT",
        "device": Device.MOBILE,
        "ip": "192.0.2.10",
        "lobby_url": "https://casino.example.test/lobby",
        "cashier_url": "https://casino.example.test/cashier",
        **changes,
    }
    return LaunchRequest(**values)


ENTRY = "/entry?params=c2l0ZT0x&JSESSIONID=abc123"
UA_PATH = f"/ua/v1/{CASINO_KEY}/{API_TOKEN}"


def ua_error(status: int, code: str) -> httpx.Response:
    """Return a User Authentication failure with one error code."""
    return httpx.Response(status, json={"errors": [{"code": code, "message": "m"}]})


class TestLaunch:
    @respx.mock(base_url=BASE_URL, assert_all_called=True)
    async def test_real_launch(
        self, adapter: EvolutionAdapter, respx_mock: respx.MockRouter
    ) -> None:
        """A launch posts the UA body and joins the entry path to the base URL."""
        route = respx_mock.post(UA_PATH).mock(
            return_value=httpx.Response(200, json={"entry": ENTRY})
        )

        result = await adapter.launch(launch_request())

        assert result.url == BASE_URL + ENTRY
        sent = orjson.loads(route.calls.last.request.content)
        assert re.fullmatch(r"[0-9a-f-]{36}", sent.pop("uuid"))
        assert sent == {
            "player": {
                "id": PLAYER,
                "update": False,
                "firstName": "Player",
                "lastName": "Player",
                "country": "AT",
                "language": "de",
                "currency": "EUR",
                "session": {"id": SID, "ip": "192.0.2.10"},
            },
            "config": {
                "game": {"table": {"id": TABLE}},
                "channel": {"wrapped": False, "mobile": True},
                "urls": {
                    "cashier": "https://casino.example.test/cashier",
                    "lobby": "https://casino.example.test/lobby",
                },
            },
        }

    @respx.mock(base_url=BASE_URL, assert_all_called=True)
    async def test_defaults_and_quoting(
        self, http: httpx.AsyncClient, respx_mock: respx.MockRouter
    ) -> None:
        """Key and token are quoted in the path; a missing country takes the default."""
        adapter = make_adapter(
            http, casino_key="key/1", api_token="t?k n", default_country="MT"
        )
        route = respx_mock.post(url__regex=r"/ua/v1/key%2F1/t%3Fk%20n$").mock(
            return_value=httpx.Response(200, json={"entry": ENTRY})
        )

        await adapter.launch(
            launch_request(
                country=None, ip=None, lobby_url=None, cashier_url=None, language="x"
            )
        )

        sent = orjson.loads(route.calls.last.request.content)
        assert (sent["player"]["country"], sent["player"]["language"]) == ("MT", "en")
        assert sent["player"]["session"] == {"id": SID}
        assert "urls" not in sent["config"]

    @pytest.mark.parametrize(
        "changes",
        [{"mode": Mode.DEMO}, {"player": "casino-a:" + "p" * 48}],
        ids=["demo", "player-too-long"],
    )
    async def test_refused_without_calling(
        self, adapter: EvolutionAdapter, changes: dict[str, Any]
    ) -> None:
        """Demo play and over-long player ids are refused before any call."""
        with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
            route = router.post(UA_PATH)

            with pytest.raises(ProviderError) as raised:
                await adapter.launch(launch_request(**changes))

        assert raised.value.retryable is False
        assert not route.called

    @pytest.mark.parametrize(
        ("answer", "retryable"),
        [
            (ua_error(500, "G.0"), True),
            (httpx.Response(502, text="bad gateway"), True),
            (httpx.Response(503), True),
            (httpx.ConnectError("refused"), True),
            (httpx.ConnectTimeout("slow"), True),
            (httpx.ReadTimeout("slow"), True),
            (ua_error(400, "G.0"), True),
            (ua_error(400, "G.5"), True),
            (ua_error(401, "G.2"), False),
            (ua_error(400, "V.34"), False),
            (httpx.Response(404, text="no"), False),
            (httpx.Response(200, text="not json"), False),
            (httpx.Response(200, json=[ENTRY]), False),
            (httpx.Response(200, json={"entryEmbedded": ENTRY}), False),
            (httpx.Response(200, json={"entry": "https://evil.example/x"}), False),
            (httpx.Response(200, json={"entry": "//evil.example/x"}), False),
            (httpx.Response(200, json={"entry": "/\\evil.example"}), False),
            (httpx.Response(200, json={"entry": "/entry?a=1 2"}), False),
        ],
        ids=[
            "500",
            "502-text",
            "503-empty",
            "connect-error",
            "connect-timeout",
            "read-timeout",
            "400-g0-retry",
            "400-g5-retry",
            "401-bad-token",
            "400-unknown-table",
            "404",
            "not-json",
            "not-an-object",
            "no-entry",
            "other-host",
            "protocol-relative",
            "backslash",
            "space",
        ],
    )
    async def test_launch_failure(
        self,
        adapter: EvolutionAdapter,
        answer: httpx.Response | Exception,
        retryable: bool,
    ) -> None:
        """Failures are ProviderErrors, retryable for 5xx, transport and G.0-style."""
        with respx.mock(base_url=BASE_URL) as router:
            router.post(UA_PATH).mock(side_effect=[answer])

            with pytest.raises(ProviderError) as raised:
                await adapter.launch(launch_request())

        assert raised.value.retryable is retryable
        assert raised.value.context["provider"] == "evo-live"
        assert API_TOKEN not in raised.value.message
        assert raised.value.__cause__ is None

    @respx.mock(base_url=BASE_URL, assert_all_called=True)
    async def test_list_games(
        self, adapter: EvolutionAdapter, respx_mock: respx.MockRouter
    ) -> None:
        """The Lobby API's tables map to game descriptors, behind Basic auth."""
        route = respx_mock.get(f"/api/lobby/v1/{CASINO_KEY}/state").mock(
            return_value=httpx.Response(
                200,
                json={
                    "tables": {
                        TABLE: {
                            "tableId": TABLE,
                            "name": "Example Roulette",
                            "gameType": "roulette",
                            "gameVertical": "live",
                            "gameProvider": "evolution",
                        },
                        "slot-1": {"name": "Example Slot", "gameVertical": "slots"},
                    }
                },
            )
        )

        games = await adapter.list_games()

        assert games == (
            GameDescriptor(
                id=TABLE,
                name="Example Roulette",
                studio="evolution",
                category="live",
                demo=False,
            ),
            GameDescriptor(
                id="slot-1",
                name="Example Slot",
                studio="evolution",
                category="slots",
                demo=False,
            ),
        )
        credentials = base64.b64encode(f"{CASINO_KEY}:{LOBBY_TOKEN}".encode())
        sent = route.calls.last.request
        assert sent.headers["Authorization"] == f"Basic {credentials.decode()}"

    async def test_no_lobby_token_lists_nothing(self, http: httpx.AsyncClient) -> None:
        """Without a Lobby API token the adapter lists no games and calls nothing."""
        adapter = make_adapter(http, lobby_api_token=None)

        with respx.mock(base_url=BASE_URL, assert_all_called=False):
            assert await adapter.list_games() == ()

    @pytest.mark.parametrize(
        "document",
        [{"tables": []}, {"tables": {"t": {"tableId": "t"}}}, {"tables": {"t": 7}}],
        ids=["not-a-map", "missing-name", "not-an-object"],
    )
    async def test_malformed_game_list(
        self, adapter: EvolutionAdapter, document: dict[str, Any]
    ) -> None:
        """A table list the adapter cannot read is a non-retryable ProviderError."""
        with respx.mock(base_url=BASE_URL) as router:
            router.get(f"/api/lobby/v1/{CASINO_KEY}/state").mock(
                return_value=httpx.Response(200, json=document)
            )

            with pytest.raises(ProviderError) as raised:
                await adapter.list_games()

        assert raised.value.retryable is False


class TestPlugin:
    def test_declares_the_contract(self) -> None:
        """The adapter declares its name, config, profile, paths and no demo."""
        assert issubclass(EvolutionAdapter, GameAdapter)
        assert EvolutionAdapter.name == "evolution"
        assert EvolutionAdapter.config_model is EvolutionConfig
        assert EvolutionAdapter.callback_paths == (
            "check",
            "balance",
            "debit",
            "credit",
            "cancel",
            "promo_payout",
        )
        assert EvolutionAdapter.profile.unknown_rollback is Status.TRANSACTION_NOT_FOUND
        assert EvolutionAdapter.profile.credit_without_debit is False
        assert EvolutionAdapter.profile.reverse_settled is False
        assert EvolutionAdapter.capabilities.demo is False

    def test_registers_through_the_hook(self) -> None:
        """The entry-point module registers the adapter through register_adapters."""
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(AdapterSpecs)
        manager.register(adapters.evolution)
        manager.check_pending()
        registered: list[type[GameAdapter]] = []

        manager.hook.register_adapters(register=registered.append)

        assert registered == [EvolutionAdapter]

    def test_loads_in_process(self) -> None:
        """The gateway's loader accepts the package as an in-process plugin."""
        registry = load_adapters(plugins=[adapters.evolution])

        assert registry.get("evolution").cls is EvolutionAdapter

    def test_imports_only_the_contract(self) -> None:
        """The adapter package imports contracts, stdlib and libraries, no gateway."""
        package = Path(adapters.evolution.__file__).parent
        imported: set[str] = set()
        for source in package.glob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    imported.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module:
                    imported.add(node.module)

        roots = {name.split(".")[0] for name in imported}
        assert not roots & {"gateway", "examples", "tests"}
        assert {n for n in imported if n.startswith("adapters.")} <= {
            "adapters.evolution.adapter",
            "adapters.evolution.config",
            "adapters.evolution.payload",
        }


class TestConfig:
    @pytest.mark.parametrize(
        "changes",
        [
            {"base_url": "ftp://evo.example.test"},
            {"base_url": "evo.example.test"},
            {"base_url": "https://evo.example.test/?a=1"},
            {"casino_key": ""},
            {"api_token": ""},
            {"auth_token": ""},
            {"lobby_api_token": ""},
            {"allowed_ips": ["10.0.0.0/33"]},
            {"allowed_ips": ["example.test"]},
            {"default_country": "deu"},
            {"timeout_seconds": 0},
            {"surprise": True},
        ],
        ids=[
            "ftp",
            "no-scheme",
            "query",
            "empty-key",
            "empty-api-token",
            "empty-auth-token",
            "empty-lobby-token",
            "bad-cidr",
            "host-name",
            "bad-country",
            "zero-timeout",
            "unknown-key",
        ],
    )
    def test_refused(self, changes: dict[str, Any]) -> None:
        """A config the adapter could not work with fails validation."""
        values = {
            "base_url": BASE_URL,
            "casino_key": CASINO_KEY,
            "api_token": API_TOKEN,
            "auth_token": AUTH_TOKEN,
            **changes,
        }

        with pytest.raises(ValidationError):
            EvolutionConfig(**values)

    def test_secrets_are_not_shown(self) -> None:
        """No token appears in the config's repr."""
        config = EvolutionConfig(
            base_url=BASE_URL,
            casino_key=CASINO_KEY,
            api_token=SecretStr(API_TOKEN),
            auth_token=SecretStr(AUTH_TOKEN),
            lobby_api_token=SecretStr(LOBBY_TOKEN),
        )

        assert not {API_TOKEN, AUTH_TOKEN, LOBBY_TOKEN} & set(
            re.findall(r"[\w-]+", repr(config))
        )
        assert config.allowed_ips == []
