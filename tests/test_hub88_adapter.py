"""The `hub88` adapter: signatures, money, native payloads, answers and API calls."""

from __future__ import annotations

import ast
import json
import re
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pluggy
import pytest
import respx
from pydantic import SecretStr, ValidationError

import adapters.hub88
from adapters.hub88 import FreeBetReward, Hub88Adapter, Hub88Config
from adapters.hub88.adapter import STATUS_CODES
from adapters.hub88.payload import (
    Amounts,
    AmountTypeError,
    CurrencyMismatch,
    UnreadableToken,
    WrongType,
    launch_token,
    read_token,
)
from adapters.hub88.signature import load_private_key, sign, verifies
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
from examples.hub88_simulator import keys as simulator_keys
from examples.hub88_simulator.keys import KeyPair
from gateway.plugins import load_adapters

BASE_URL = "https://api.hub88.example.test"
API = f"{BASE_URL}/operator/generic/v2"
VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "money.json"
USER = "casino-a:player-1"
SESSION = "gg-session-token-0001"
TOKEN = f"{SESSION}~EUR"
GAME = "sim_fruitreels"
HEADER = "X-Hub88-Signature"
PROCESSED = datetime(2024, 5, 6, 12, 45, 32, tzinfo=UTC)


@pytest.fixture(scope="session")
def operator_keys() -> KeyPair:
    """The operator's key pair, made once per test session."""
    return KeyPair.generate()


@pytest.fixture(scope="session")
def hub88_keys() -> KeyPair:
    """Hub88's key pair, made once per test session."""
    return KeyPair.generate()


@pytest.fixture(scope="session")
def stranger_keys() -> KeyPair:
    """A key pair that belongs to neither side."""
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


def make_config(
    operator_keys: KeyPair, hub88_keys: KeyPair, **changes: Any
) -> Hub88Config:
    """Build a config for the test Hub88, with the given changes."""
    values: dict[str, Any] = {
        "base_url": BASE_URL + "/",
        "operator_id": 7,
        "private_key": SecretStr(operator_keys.private_pem),
        "hub88_public_key": hub88_keys.public_pem,
        "scales": {"BTC": 10**8, "USDT": 10**6},
        **changes,
    }
    return Hub88Config(**values)


@pytest.fixture(scope="session")
def config(operator_keys: KeyPair, hub88_keys: KeyPair) -> Hub88Config:
    """The test config, validated once."""
    return make_config(operator_keys, hub88_keys)


def make_adapter(
    http: httpx.AsyncClient, config: Hub88Config, extra: dict[str, int] | None = None
) -> Hub88Adapter:
    """Build an adapter for the `hub88-main` instance."""
    currencies = CurrencyTable({"BTC": 8, "USDT": 6} if extra is None else extra)
    context = AdapterContext(instance="hub88-main", currencies=currencies, http=http)
    return Hub88Adapter(config, context)


@pytest.fixture
def adapter(http: httpx.AsyncClient, config: Hub88Config) -> Hub88Adapter:
    """A hub88 adapter for the `hub88-main` instance."""
    return make_adapter(http, config)


def signed(
    keys: KeyPair,
    body: bytes | dict[str, Any],
    path: str = "transaction/bet",
    *,
    signature: str | None = None,
    header: str = HEADER,
    method: str = "POST",
) -> Callback:
    """Build a callback as the gateway hands it over, signed unless told not to."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    signature = keys.sign(raw) if signature is None else signature
    headers = {header: signature} if signature else {}
    return Callback(path=path, method=method, headers=headers, query={}, body=raw)


def bet(**changes: Any) -> dict[str, Any]:
    """Return a native `/transaction/bet` body with the given changes."""
    return {
        "user": USER,
        "transaction_uuid": "b-1",
        "supplier_transaction_id": "s-1",
        "token": TOKEN,
        "round": "r-1",
        "round_closed": False,
        "request_uuid": "q-1",
        "is_free": False,
        "is_aggregated": False,
        "game_code": GAME,
        "currency": "EUR",
        "bet": "zero",
        "amount": 150_000,
        "meta": {},
        **changes,
    }


def win(**changes: Any) -> dict[str, Any]:
    """Return a native `/transaction/win` body with the given changes."""
    document = bet(transaction_uuid="w-1", amount=250_000, round_closed=True)
    document["reference_transaction_uuid"] = "b-1"
    return {**document, **changes}


def rollback(**changes: Any) -> dict[str, Any]:
    """Return a native `/transaction/rollback` body with the given changes."""
    return {
        "user": USER,
        "transaction_uuid": "rb-1",
        "supplier_transaction_id": "s-9",
        "reference_transaction_uuid": "b-1",
        "token": TOKEN,
        "round": "r-1",
        "round_closed": False,
        "game_code": GAME,
        "request_uuid": "q-3",
        "meta": {},
        **changes,
    }


BALANCE = {"user": USER, "token": TOKEN, "request_uuid": "q-0", "game_code": GAME}


class TestSignature:
    def test_signed_callback_reads(
        self, adapter: Hub88Adapter, hub88_keys: KeyPair
    ) -> None:
        """A callback signed with Hub88's key verifies and reads."""
        request = adapter.parse_callback(signed(hub88_keys, bet()))

        assert request.player == USER

    @pytest.mark.parametrize(
        "case", ["wrong-key", "operator-key", "tampered", "missing", "bad-base64"]
    )
    def test_refused_before_reading(
        self,
        adapter: Hub88Adapter,
        hub88_keys: KeyPair,
        operator_keys: KeyPair,
        stranger_keys: KeyPair,
        case: str,
    ) -> None:
        """A callback whose signature does not verify is refused before reading it."""
        body = orjson.dumps(bet(amount="not even an amount"))
        signatures = {
            "wrong-key": stranger_keys.sign(body),
            "operator-key": operator_keys.sign(body),
            "tampered": hub88_keys.sign(body.replace(b"b-1", b"b-2")),
            "missing": "",
            "bad-base64": "%%% not base64 %%%",
        }

        with pytest.raises(InvalidSignature):
            adapter.parse_callback(signed(hub88_keys, body, signature=signatures[case]))

    def test_signature_is_over_raw_bytes(
        self, adapter: Hub88Adapter, hub88_keys: KeyPair
    ) -> None:
        """Re-serialising the same JSON with other spacing breaks the signature."""
        original = orjson.dumps(bet())
        spaced = json.dumps(bet(), indent=1).encode()

        with pytest.raises(InvalidSignature):
            adapter.parse_callback(
                signed(hub88_keys, spaced, signature=hub88_keys.sign(original))
            )

    def test_header_case_does_not_matter(
        self, adapter: Hub88Adapter, hub88_keys: KeyPair
    ) -> None:
        """A signature header in lower case verifies like the canonical one."""
        arrived = signed(hub88_keys, bet(), header="x-hub88-signature")

        assert adapter.parse_callback(arrived).player == USER

    def test_answers_are_signed_with_the_operator_key(
        self, adapter: Hub88Adapter, hub88_keys: KeyPair, operator_keys: KeyPair
    ) -> None:
        """Every answer verifies under the operator's public key, not Hub88's."""
        arrived = signed(hub88_keys, BALANCE, "user/balance")
        request = adapter.parse_callback(arrived)
        outcome = WalletOutcome(status=Status.OK, currency="EUR", balance=100)

        answer = adapter.render_outcome(arrived, request, outcome)

        given = answer.headers[HEADER]
        public = simulator_keys.public_key
        assert simulator_keys.verifies(
            public(operator_keys.public_pem), answer.body, given
        )
        assert not simulator_keys.verifies(
            public(hub88_keys.public_pem), answer.body, given
        )

    def test_two_implementations_agree(self, operator_keys: KeyPair) -> None:
        """The adapter's signatures and the simulator's verify each other."""
        body = b'{"request_uuid":"q"}'
        private = load_private_key(operator_keys.private_pem)
        public = private.public_key()

        assert operator_keys.sign(body) == sign(private, body)
        assert verifies(public, body, operator_keys.sign(body))
        assert simulator_keys.verifies(public, body, sign(private, body))
        assert not verifies(public, body + b" ", sign(private, body))


def float_traps() -> list[Any]:
    """Return the float traps of the shared money vectors, if present."""
    if not VECTORS.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{VECTORS} missing"))]
    traps = json.loads(VECTORS.read_text())["float_traps"]
    return [pytest.param(trap, id=trap["expression"]) for trap in traps]


class TestAmounts:
    @pytest.mark.parametrize(
        ("currency", "hub88", "minor"),
        [
            ("EUR", 0, 0),
            ("EUR", 1_000, 1),
            ("EUR", 100_000, 100),
            ("EUR", 356_000, 356),
            ("EUR", 29_000, 29),
            ("JPY", 100_000, 1),
            ("KWD", 1_860_000, 18_600),
            ("BTC", 29_000_000, 29_000_000),
            ("BTC", 1, 1),
            ("USDT", 2_500_000, 2_500_000),
        ],
    )
    def test_exact_both_ways(
        self, adapter: Hub88Adapter, currency: str, hub88: int, minor: int
    ) -> None:
        """Hub88 integers and minor units convert exactly in both directions."""
        assert adapter.amounts.to_minor(hub88, currency) == minor
        assert adapter.amounts.to_hub88(minor, currency) == hub88

    @pytest.mark.parametrize(
        ("currency", "hub88", "error"),
        [
            ("EUR", 1_500, AmountError),
            ("EUR", 1, AmountError),
            ("JPY", 50_000, AmountError),
            ("EUR", -100_000, AmountError),
            ("EUR", "100000", AmountTypeError),
            ("EUR", 1.5, AmountTypeError),
            ("EUR", 100_000.0, AmountTypeError),
            ("EUR", True, AmountTypeError),
            ("EUR", None, AmountTypeError),
            ("XXQ", 100_000, UnknownCurrency),
        ],
        ids=[
            "finer-than-a-cent",
            "one-unit",
            "finer-than-a-yen",
            "negative",
            "string",
            "float",
            "whole-float",
            "bool",
            "missing",
            "unknown-currency",
        ],
    )
    def test_refused(
        self,
        adapter: Hub88Adapter,
        currency: str,
        hub88: object,
        error: type[GamegateError],
    ) -> None:
        """An amount that is not an exact integer at Hub88's scale is refused."""
        with pytest.raises(error):
            adapter.amounts.to_minor(hub88, currency)

    def test_int64_is_the_limit(self, adapter: Hub88Adapter) -> None:
        """Hub88 carries Int64 amounts; one past it is refused both ways."""
        largest = (2**63 - 1) // 100_000

        assert adapter.amounts.to_hub88(largest, "JPY") == largest * 100_000
        assert adapter.amounts.to_minor(largest * 100_000, "JPY") == largest
        with pytest.raises(AmountError):
            adapter.amounts.to_hub88(largest + 1, "JPY")
        with pytest.raises(AmountError):
            adapter.amounts.to_minor(2**63, "JPY")

    def test_crypto_without_a_scale_uses_the_fiat_scale(self) -> None:
        """A crypto currency left out of `scales` is at 100 000, and refuses dust."""
        amounts = Amounts(CurrencyTable({"BTC": 8}), {})

        assert amounts.to_minor(1, "BTC") == 1_000
        with pytest.raises(AmountError):
            amounts.to_hub88(1, "BTC")

    @pytest.mark.parametrize("trap", float_traps())
    def test_float_trap(self, adapter: Hub88Adapter, trap: dict[str, Any]) -> None:
        """A decimal that float arithmetic gets wrong converts to the right integer."""
        match = re.fullmatch(r"int\(([0-9.]+) \* ([0-9]+)\)", trap["expression"])
        assert match is not None
        decimal, multiplier = match[1], int(match[2])
        minor = CurrencyTable().parse(Decimal(decimal), "EUR").minor

        if multiplier == 100_000:
            assert adapter.amounts.to_hub88(minor, "EUR") == trap["right"]
            assert adapter.amounts.to_minor(trap["right"], "EUR") == minor
        else:
            assert (multiplier, minor) == (100, trap["right"])
        assert trap["wrong"] != trap["right"]


class TestToken:
    @pytest.mark.parametrize(
        ("token", "session", "currency"),
        [
            (TOKEN, SESSION, "EUR"),
            ("abc~def~USDT", "abc~def", "USDT"),
            ("plain-token", "plain-token", None),
            ("tok~eur", "tok~eur", None),
            ("~EUR", "~EUR", None),
        ],
    )
    def test_read(self, token: str, session: str, currency: str | None) -> None:
        """A token from Hub88 splits into the session token and its currency."""
        assert read_token(token) == (session, currency)

    def test_round_trip(self) -> None:
        """The launch token reads back as the session token and currency."""
        assert read_token(launch_token("t-1_x", "BTC")) == ("t-1_x", "BTC")


def debit(amount: int, **references: str) -> WalletOperation:
    """Return the debit of bet "b-1"."""
    return WalletOperation(
        operation=Operation.DEBIT,
        transaction_id="b-1",
        amount=amount,
        references=references,
    )


class TestParse:
    @pytest.mark.parametrize(
        ("path", "document", "expected"),
        [
            (
                "user/info",
                {"user": USER, "request_uuid": "q"},
                {"currency": "XXX"},
            ),
            (
                "user/balance",
                BALANCE,
                {"currency": "EUR", "session_token": SESSION, "game": GAME},
            ),
            (
                "user/balance",
                {**BALANCE, "game_code": None},
                {"currency": "EUR", "session_token": SESSION, "game": None},
            ),
            (
                "transaction/bet",
                bet(),
                {
                    "operations": (debit(150),),
                    "round_id": "r-1",
                },
            ),
            (
                "transaction/bet",
                bet(amount=0, is_free=True, reward_uuid="rw-1", round_closed=True),
                {
                    "operations": (debit(0, is_free="true", reward_uuid="rw-1"),),
                    "round_id": "r-1",
                    "round_closed": True,
                },
            ),
            (
                "transaction/bet",
                bet(currency="BTC", token=f"{SESSION}~BTC", amount=29_000_000),
                {
                    "currency": "BTC",
                    "operations": (debit(29_000_000),),
                    "round_id": "r-1",
                },
            ),
            (
                "transaction/win",
                win(),
                {
                    "operations": (
                        WalletOperation(
                            operation=Operation.CREDIT,
                            transaction_id="w-1",
                            amount=250,
                            credit_kind=CreditKind.WIN,
                            reference_transaction_id="b-1",
                        ),
                    ),
                    "round_id": "r-1",
                    "round_closed": True,
                },
            ),
            (
                "transaction/win",
                win(
                    is_supplier_promo=True,
                    reference_transaction_uuid=None,
                    token=None,
                    round_closed=False,
                ),
                {
                    "operations": (
                        WalletOperation(
                            operation=Operation.CREDIT,
                            transaction_id="w-1",
                            amount=250,
                            credit_kind=CreditKind.PROMO,
                        ),
                    ),
                    "session_token": None,
                    "round_id": "r-1",
                },
            ),
            (
                "transaction/rollback",
                rollback(),
                {
                    "operations": (
                        WalletOperation(
                            operation=Operation.ROLLBACK,
                            transaction_id="rb-1",
                            reference_transaction_id="b-1",
                        ),
                    ),
                    "round_id": "r-1",
                },
            ),
            (
                "transaction/rollback",
                rollback(round=None, round_closed=True),
                {
                    "operations": (
                        WalletOperation(
                            operation=Operation.ROLLBACK,
                            transaction_id="rb-1",
                            reference_transaction_id="b-1",
                        ),
                    ),
                    "round_closed": True,
                },
            ),
        ],
        ids=[
            "user-info",
            "balance",
            "balance-without-game",
            "bet",
            "free-bet-closing",
            "bet-in-btc",
            "win-closing",
            "supplier-promo-win",
            "rollback",
            "rollback-without-round",
        ],
    )
    def test_native_payload(
        self,
        adapter: Hub88Adapter,
        hub88_keys: KeyPair,
        path: str,
        document: dict[str, Any],
        expected: dict[str, Any],
    ) -> None:
        """Each native callback reads into the wallet request it asks for."""
        arrived = signed(hub88_keys, document, path)
        defaults: dict[str, Any] = {
            "player": USER,
            "currency": "EUR",
            "session_token": SESSION if path != "user/info" else None,
            "game": GAME if path != "user/info" else None,
        }

        request = adapter.parse_callback(arrived)

        assert request == WalletRequest(**{**defaults, **expected}, raw=arrived.body)

    def test_unknown_fields_are_ignored(
        self, adapter: Hub88Adapter, hub88_keys: KeyPair
    ) -> None:
        """Fields Hub88 adds later do not stop a callback from reading."""
        request = adapter.parse_callback(signed(hub88_keys, bet(jackpot_share=1)))

        assert request.operations[0].amount == 150


class TestRefuse:
    @pytest.mark.parametrize(
        ("path", "body", "error"),
        [
            ("transaction/bet", b"{not json", BadRequest),
            ("transaction/bet", b"[1, 2]", BadRequest),
            ("transaction/bet", b"", BadRequest),
            ("transaction/bet", bet(request_uuid=None), BadRequest),
            ("transaction/bet", bet(user=7), WrongType),
            ("transaction/bet", bet(user=""), BadRequest),
            ("transaction/bet", bet(amount="150000"), AmountTypeError),
            ("transaction/bet", bet(amount=1.5), AmountTypeError),
            ("transaction/bet", bet(amount=None), AmountTypeError),
            ("transaction/bet", bet(amount=-100_000), AmountError),
            ("transaction/bet", bet(amount=1_500), AmountError),
            ("transaction/bet", bet(currency="XXQ", token="t~XXQ"), UnknownCurrency),
            ("transaction/bet", bet(token=None), UnreadableToken),
            ("transaction/bet", bet(currency="USD"), CurrencyMismatch),
            ("transaction/bet", bet(round=None), BadRequest),
            ("transaction/bet", bet(round_closed="yes"), WrongType),
            ("transaction/bet", bet(is_free=1), WrongType),
            ("transaction/bet", bet(meta=[]), WrongType),
            ("transaction/win", win(amount="1"), AmountTypeError),
            ("transaction/win", win(reference_transaction_uuid=5), WrongType),
            ("user/balance", {**BALANCE, "token": None}, UnreadableToken),
            ("user/balance", {**BALANCE, "token": SESSION}, UnreadableToken),
            ("user/balance", {**BALANCE, "token": "t~XXQ"}, UnknownCurrency),
            ("user/info", {"request_uuid": "q"}, BadRequest),
            ("transaction/rollback", rollback(token=SESSION), UnreadableToken),
            (
                "transaction/rollback",
                rollback(reference_transaction_uuid=None),
                BadRequest,
            ),
            ("transaction/jackpot", bet(), UnknownOperation),
        ],
        ids=[
            "malformed-json",
            "not-an-object",
            "empty-body",
            "no-request-uuid",
            "user-not-string",
            "user-empty",
            "string-amount",
            "float-amount",
            "missing-amount",
            "negative-amount",
            "finer-than-a-cent",
            "unknown-currency",
            "bet-without-token",
            "currency-not-the-session's",
            "bet-without-round",
            "round-closed-not-bool",
            "is-free-not-bool",
            "meta-not-object",
            "win-string-amount",
            "reference-not-string",
            "balance-without-token",
            "balance-token-without-currency",
            "balance-unknown-currency",
            "info-without-user",
            "rollback-token-without-currency",
            "rollback-without-reference",
            "unknown-path",
        ],
    )
    def test_bad_request(
        self,
        adapter: Hub88Adapter,
        hub88_keys: KeyPair,
        path: str,
        body: bytes | dict[str, Any],
        error: type[BadRequest],
    ) -> None:
        """A signed body the protocol does not allow raises the matching BadRequest."""
        with pytest.raises(error):
            adapter.parse_callback(signed(hub88_keys, body, path))

    def test_get_is_refused(self, adapter: Hub88Adapter, hub88_keys: KeyPair) -> None:
        """A callback must be a POST even when its signature is right."""
        with pytest.raises(BadRequest):
            adapter.parse_callback(signed(hub88_keys, bet(), method="GET"))


def outcome(status: Status, balance: int | None = 9_900, **extra: Any) -> WalletOutcome:
    """Return a ledger outcome in EUR."""
    return WalletOutcome(status=status, currency="EUR", balance=balance, **extra)


class TestRender:
    def answer_of(
        self,
        adapter: Hub88Adapter,
        keys: KeyPair,
        result: WalletOutcome,
        document: dict[str, Any] | None = None,
        path: str = "transaction/bet",
    ) -> dict[str, Any]:
        """Render an outcome for a callback and return the answer's document."""
        arrived = signed(keys, document or bet(), path)
        request = adapter.parse_callback(arrived)
        answer = adapter.render_outcome(arrived, request, result)
        assert (answer.status, answer.content_type) == (200, "application/json")
        parsed: dict[str, Any] = orjson.loads(answer.body)
        return parsed

    def test_bet_answer(self, adapter: Hub88Adapter, hub88_keys: KeyPair) -> None:
        """An applied bet is answered RS_OK with the balance at Hub88's scale."""
        applied = OperationOutcome(
            transaction_id="b-1", gateway_transaction_id="17", processed_at=PROCESSED
        )

        document = self.answer_of(
            adapter, hub88_keys, outcome(Status.OK, operations=(applied,))
        )

        assert document == {
            "user": USER,
            "status": "RS_OK",
            "request_uuid": "q-1",
            "currency": "EUR",
            "balance": 9_900_000,
        }

    def test_replay_answer(self, adapter: Hub88Adapter, hub88_keys: KeyPair) -> None:
        """A replayed bet is answered RS_OK exactly like the original was."""
        first = OperationOutcome(
            transaction_id="b-1", gateway_transaction_id="17", processed_at=PROCESSED
        )
        again = OperationOutcome(
            transaction_id="b-1",
            gateway_transaction_id="17",
            processed_at=PROCESSED.astimezone(timezone(timedelta(hours=2))),
            replay=True,
        )

        original = self.answer_of(
            adapter, hub88_keys, outcome(Status.OK, operations=(first,))
        )
        replayed = self.answer_of(
            adapter, hub88_keys, outcome(Status.OK, operations=(again,))
        )

        assert replayed == original

    @pytest.mark.parametrize(
        ("status", "code"),
        [
            (Status.OK, "RS_OK"),
            (Status.INSUFFICIENT_FUNDS, "RS_ERROR_NOT_ENOUGH_MONEY"),
            (Status.UNKNOWN_PLAYER, "RS_ERROR_INVALID_TOKEN"),
            (Status.INVALID_SESSION, "RS_ERROR_INVALID_TOKEN"),
            (Status.SESSION_EXPIRED, "RS_ERROR_TOKEN_EXPIRED"),
            (Status.PLAYER_BLOCKED, "RS_ERROR_USER_DISABLED"),
            (Status.LIMIT_REACHED, "RS_ERROR_LIMIT_REACHED"),
            (Status.GAME_NOT_ALLOWED, "RS_ERROR_INVALID_GAME"),
            (Status.WRONG_CURRENCY, "RS_ERROR_WRONG_CURRENCY"),
            (Status.TRANSACTION_NOT_FOUND, "RS_ERROR_TRANSACTION_DOES_NOT_EXIST"),
            (Status.TRANSACTION_MISMATCH, "RS_ERROR_DUPLICATE_TRANSACTION"),
            (Status.ALREADY_SETTLED, "RS_ERROR_UNKNOWN"),
            (Status.ALREADY_ROLLED_BACK, "RS_ERROR_TRANSACTION_ROLLED_BACK"),
            (Status.ROUND_CLOSED, "RS_ERROR_UNKNOWN"),
            (Status.INVALID_SIGNATURE, "RS_ERROR_INVALID_SIGNATURE"),
            (Status.BAD_REQUEST, "RS_ERROR_WRONG_SYNTAX"),
            (Status.RETRYABLE_ERROR, "RS_ERROR_UNKNOWN"),
            (Status.FINAL_ERROR, "RS_ERROR_UNKNOWN"),
        ],
    )
    def test_status_table(
        self, adapter: Hub88Adapter, hub88_keys: KeyPair, status: Status, code: str
    ) -> None:
        """Each ledger status renders the protocol's status, with the balance."""
        document = self.answer_of(adapter, hub88_keys, outcome(status, 50))

        assert document == {
            "user": USER,
            "status": code,
            "request_uuid": "q-1",
            "currency": "EUR",
            "balance": 50_000,
        }

    def test_status_table_is_complete(self) -> None:
        """Every status has a protocol status, so none falls through."""
        assert set(STATUS_CODES) == set(Status)

    def test_refusal_without_balance(
        self, adapter: Hub88Adapter, hub88_keys: KeyPair
    ) -> None:
        """A refusal whose balance is unknown carries neither balance nor currency."""
        document = self.answer_of(
            adapter, hub88_keys, outcome(Status.UNKNOWN_PLAYER, None)
        )

        assert document == {
            "user": USER,
            "status": "RS_ERROR_INVALID_TOKEN",
            "request_uuid": "q-1",
        }

    def test_balance_beyond_int64(
        self, adapter: Hub88Adapter, hub88_keys: KeyPair
    ) -> None:
        """A balance Hub88's Int64 cannot carry is an error answer, not a crash."""
        document = bet(currency="JPY", token=f"{SESSION}~JPY", amount=100_000)
        result = WalletOutcome(status=Status.OK, currency="JPY", balance=2**53 + 1)

        answer = self.answer_of(adapter, hub88_keys, result, document)

        assert answer["status"] == "RS_ERROR_UNKNOWN"
        assert "balance" not in answer

    def test_ok_without_balance_is_an_unknown_error(
        self, adapter: Hub88Adapter, hub88_keys: KeyPair
    ) -> None:
        """An OK outcome missing its balance is never shown to Hub88 as a success."""
        document = self.answer_of(adapter, hub88_keys, outcome(Status.OK, None))

        assert document["status"] == "RS_ERROR_UNKNOWN"
        assert "balance" not in document

    def test_balance_finer_than_the_scale(
        self, http: httpx.AsyncClient, operator_keys: KeyPair, hub88_keys: KeyPair
    ) -> None:
        """A balance Hub88's scale cannot carry exactly is an error, never rounded."""
        config = make_config(operator_keys, hub88_keys, scales={})
        adapter = make_adapter(http, config, {"BTC": 8})
        document = bet(currency="BTC", token=f"{SESSION}~BTC", amount=100_000)
        result = WalletOutcome(status=Status.OK, currency="BTC", balance=1)

        answer = self.answer_of(adapter, hub88_keys, result, document)

        assert answer["status"] == "RS_ERROR_UNKNOWN"
        assert "balance" not in answer

    @pytest.mark.parametrize(
        ("status", "code"),
        [
            (Status.OK, "RS_OK"),
            (Status.WRONG_CURRENCY, "RS_OK"),
            (Status.UNKNOWN_PLAYER, "RS_ERROR_INVALID_TOKEN"),
        ],
    )
    def test_user_info(
        self, adapter: Hub88Adapter, hub88_keys: KeyPair, status: Status, code: str
    ) -> None:
        """`/user/info` says whether the player exists, without any balance."""
        info = {"user": USER, "request_uuid": "q-9"}
        result = WalletOutcome(status=status, currency="XXX", balance=None)

        document = self.answer_of(adapter, hub88_keys, result, info, "user/info")

        assert document == {"user": USER, "status": code, "request_uuid": "q-9"}

    @pytest.mark.parametrize(
        ("error", "code"),
        [
            (InvalidSignature(), "RS_ERROR_INVALID_SIGNATURE"),
            (UnreadableToken("no token"), "RS_ERROR_INVALID_TOKEN"),
            (UnknownCurrency("XXQ"), "RS_ERROR_WRONG_CURRENCY"),
            (CurrencyMismatch("USD"), "RS_ERROR_WRONG_CURRENCY"),
            (WrongType("user"), "RS_ERROR_WRONG_TYPES"),
            (AmountTypeError("string"), "RS_ERROR_WRONG_TYPES"),
            (AmountError("negative amount"), "RS_ERROR_WRONG_SYNTAX"),
            (BadRequest("body is not valid JSON"), "RS_ERROR_WRONG_SYNTAX"),
            (UnknownOperation("unknown path"), "RS_ERROR_WRONG_SYNTAX"),
            (BodyTooLarge(), "RS_ERROR_WRONG_SYNTAX"),
            (ProviderError("internal error", retryable=True), "RS_ERROR_UNKNOWN"),
            (GamegateError("anything"), "RS_ERROR_UNKNOWN"),
        ],
        ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "",
    )
    def test_error_table(
        self,
        adapter: Hub88Adapter,
        hub88_keys: KeyPair,
        operator_keys: KeyPair,
        error: GamegateError,
        code: str,
    ) -> None:
        """Errors raised before the ledger render as signed HTTP 200 statuses."""
        answer = adapter.render_error(signed(hub88_keys, bet()), error)

        document = orjson.loads(answer.body)
        assert (answer.status, document["status"]) == (200, code)
        public = simulator_keys.public_key(operator_keys.public_pem)
        assert simulator_keys.verifies(public, answer.body, answer.headers[HEADER])

    def test_error_echoes_only_a_signed_body(
        self, adapter: Hub88Adapter, hub88_keys: KeyPair, stranger_keys: KeyPair
    ) -> None:
        """An error echoes user and request_uuid only from a body Hub88 signed."""
        genuine = adapter.render_error(signed(hub88_keys, bet()), BadRequest())
        forged = adapter.render_error(signed(stranger_keys, bet()), InvalidSignature())

        assert orjson.loads(genuine.body) == {
            "user": USER,
            "request_uuid": "q-1",
            "status": "RS_ERROR_WRONG_SYNTAX",
        }
        assert orjson.loads(forged.body) == {"status": "RS_ERROR_INVALID_SIGNATURE"}

    def test_unknown_error_hides_its_detail(
        self, adapter: Hub88Adapter, hub88_keys: KeyPair
    ) -> None:
        """An unknown error does not repeat the internal error's message."""
        answer = adapter.render_error(signed(hub88_keys, bet()), GamegateError("db /x"))

        assert b"db /x" not in answer.body


def launch_request(mode: Mode = Mode.REAL) -> LaunchRequest:
    """Return a launch request with placeholder player data."""
    return LaunchRequest(
        session_token=SESSION,
        player=USER,
        game=GAME,
        currency="EUR",
        mode=mode,
        language="de-AT",
        country="AT",
        device=Device.MOBILE,
        ip="192.0.2.10",
        lobby_url="https://casino.example.test/lobby",
        cashier_url="https://casino.example.test/cashier",
    )


GAME_URL = "https://games.hub88.example.test/play/1"


def sent_document(route: respx.Route, keys: KeyPair) -> dict[str, Any]:
    """Return the body of a route's last call, after checking its signature."""
    sent = route.calls.last.request
    public = simulator_keys.public_key(keys.public_pem)
    assert simulator_keys.verifies(public, sent.content, sent.headers[HEADER])
    assert sent.headers["Content-Type"] == "application/json"
    document: dict[str, Any] = orjson.loads(sent.content)
    return document


class TestLaunch:
    @respx.mock(assert_all_called=True)
    async def test_real_launch(
        self,
        adapter: Hub88Adapter,
        operator_keys: KeyPair,
        respx_mock: respx.MockRouter,
    ) -> None:
        """A real launch posts the signed game URL request and returns the URL."""
        route = respx_mock.post(f"{API}/game/url").mock(
            return_value=httpx.Response(200, json={"url": GAME_URL})
        )

        result = await adapter.launch(launch_request())

        assert result.url == GAME_URL
        assert sent_document(route, operator_keys) == {
            "operator_id": 7,
            "game_code": GAME,
            "platform": "GPL_MOBILE",
            "lang": "de",
            "country": "AT",
            "ip": "192.0.2.10",
            "lobby_url": "https://casino.example.test/lobby",
            "meta": {},
            "user": USER,
            "token": TOKEN,
            "currency": "EUR",
            "game_currency": "EUR",
            "deposit_url": "https://casino.example.test/cashier",
        }

    @respx.mock(assert_all_called=True)
    async def test_demo_launch(
        self,
        adapter: Hub88Adapter,
        operator_keys: KeyPair,
        respx_mock: respx.MockRouter,
    ) -> None:
        """A demo launch sends currency XXX and neither user, token nor cashier."""
        route = respx_mock.post(f"{API}/game/url").mock(
            return_value=httpx.Response(200, json={"url": GAME_URL})
        )

        await adapter.launch(launch_request(Mode.DEMO))

        document = sent_document(route, operator_keys)
        assert document["currency"] == "XXX"
        assert not {"user", "token", "game_currency", "deposit_url"} & set(document)

    async def test_default_country_stands_in(
        self,
        http: httpx.AsyncClient,
        operator_keys: KeyPair,
        hub88_keys: KeyPair,
    ) -> None:
        """A launch naming no country sends the configured default country."""
        config = make_config(operator_keys, hub88_keys, default_country="MT")
        adapter = make_adapter(http, config)
        request = launch_request().model_copy(update={"country": None})
        with respx.mock() as router:
            route = router.post(f"{API}/game/url").mock(
                return_value=httpx.Response(200, json={"url": GAME_URL})
            )

            await adapter.launch(request)

        assert sent_document(route, operator_keys)["country"] == "MT"

    @pytest.mark.parametrize(
        ("answer", "retryable"),
        [
            (httpx.Response(500, json={"error": "internal"}), True),
            (httpx.Response(502, text="bad gateway"), True),
            (httpx.Response(503), True),
            (httpx.Response(429, json={"error": "rate limited"}), True),
            (httpx.ConnectError("refused"), True),
            (httpx.ConnectTimeout("slow"), True),
            (httpx.ReadTimeout("slow"), True),
            (httpx.Response(400, json={"error": "invalid parameters"}), False),
            (httpx.Response(401, json={"error": "invalid signature"}), False),
            (httpx.Response(403, json={"error": "game not enabled"}), False),
            (httpx.Response(404, text="no"), False),
            (httpx.Response(200, text="<html>"), False),
            (httpx.Response(200, json={}), False),
            (httpx.Response(200, json=[GAME_URL]), False),
            (httpx.Response(200, json={"url": "javascript:alert(1)"}), False),
        ],
        ids=[
            "500",
            "502-text",
            "503-empty",
            "429",
            "connect-error",
            "connect-timeout",
            "read-timeout",
            "400",
            "401",
            "403",
            "404",
            "not-json",
            "no-url",
            "not-an-object",
            "not-http-url",
        ],
    )
    async def test_launch_failure(
        self,
        adapter: Hub88Adapter,
        answer: httpx.Response | Exception,
        retryable: bool,
    ) -> None:
        """Failures are ProviderErrors, retryable only for 5xx, 429 and transport."""
        with respx.mock() as router:
            router.post(f"{API}/game/url").mock(side_effect=[answer])

            with pytest.raises(ProviderError) as raised:
                await adapter.launch(launch_request())

        assert raised.value.retryable is retryable
        assert raised.value.context["provider"] == "hub88-main"

    async def test_refusal_names_hubs_error(self, adapter: Hub88Adapter) -> None:
        """A refused launch carries Hub88's own error text in its message."""
        with respx.mock() as router:
            router.post(f"{API}/game/url").mock(
                return_value=httpx.Response(403, json={"error": "country blocked"})
            )

            with pytest.raises(ProviderError) as raised:
                await adapter.launch(launch_request())

        assert "country blocked" in raised.value.message

    @respx.mock(assert_all_called=True)
    async def test_list_games(
        self,
        adapter: Hub88Adapter,
        operator_keys: KeyPair,
        respx_mock: respx.MockRouter,
    ) -> None:
        """The game list maps to descriptors, leaving out disabled games."""
        route = respx_mock.post(f"{API}/game/list").mock(
            return_value=httpx.Response(
                200,
                json=[
                    {
                        "game_code": GAME,
                        "name": "Fruit Reels",
                        "product": "Example Studio",
                        "category": "Video Slots",
                        "demo_game_support": True,
                        "freebet_support": True,
                        "enabled": True,
                        "url_thumb": "https://cdn.example.test/f.png",
                    },
                    {
                        "game_code": "sim_blackjack",
                        "name": "Blackjack",
                        "product": "Example Studio",
                        "category": None,
                        "enabled": True,
                    },
                    {
                        "game_code": "sim_retired",
                        "name": "Retired",
                        "product": "Example Studio",
                        "enabled": False,
                    },
                ],
            )
        )

        games = await adapter.list_games()

        assert games == (
            GameDescriptor(
                id=GAME,
                name="Fruit Reels",
                studio="Example Studio",
                category="Video Slots",
                demo=True,
                free_rounds=True,
            ),
            GameDescriptor(
                id="sim_blackjack",
                name="Blackjack",
                studio="Example Studio",
                category="slots",
                demo=False,
            ),
        )
        assert sent_document(route, operator_keys) == {"operator_id": 7}

    @pytest.mark.parametrize(
        "document",
        [{"games": []}, [{"name": "no code", "product": "p"}], [7], [{"game_code": 1}]],
        ids=["not-a-list", "missing-code", "not-an-object", "code-not-string"],
    )
    async def test_malformed_game_list(
        self, adapter: Hub88Adapter, document: Any
    ) -> None:
        """A game list the adapter cannot read is a non-retryable ProviderError."""
        with respx.mock() as router:
            router.post(f"{API}/game/list").mock(
                return_value=httpx.Response(200, json=document)
            )

            with pytest.raises(ProviderError) as raised:
                await adapter.list_games()

        assert raised.value.retryable is False


class TestFreeBets:
    @respx.mock(assert_all_called=True)
    async def test_create(
        self,
        adapter: Hub88Adapter,
        operator_keys: KeyPair,
        respx_mock: respx.MockRouter,
    ) -> None:
        """A reward request is signed, in Hub88's money and UTC times."""
        route = respx_mock.post(f"{API}/freebet/rewards/create").mock(
            return_value=httpx.Response(
                200, json={"reward_uuid": "rw-1", "status": "FRS_NEW", "user": USER}
            )
        )
        start = datetime(2024, 5, 6, 14, 0, tzinfo=timezone(timedelta(hours=2)))

        reward = await adapter.create_free_bets(
            player=USER,
            currency="EUR",
            game=GAME,
            prepaid_uuid="pp-1",
            bet_count=10,
            bet_value=20,
            start=start,
            end=datetime(2024, 6, 1),
            reference="promo-7",
        )

        assert reward == FreeBetReward(
            reward_uuid="rw-1", player=USER, status="FRS_NEW"
        )
        assert sent_document(route, operator_keys) == {
            "operator_id": 7,
            "user": USER,
            "currency": "EUR",
            "game_code": GAME,
            "prepaid_uuid": "pp-1",
            "bet_count": 10,
            "bet_value": 20_000,
            "start_time": "2024-05-06T12:00:00",
            "end_time": "2024-06-01T00:00:00",
            "operator_reference": "promo-7",
        }

    async def test_inexact_value_is_refused_before_calling(
        self, http: httpx.AsyncClient, operator_keys: KeyPair, hub88_keys: KeyPair
    ) -> None:
        """A bet value Hub88's scale cannot carry is refused without any call."""
        config = make_config(operator_keys, hub88_keys, scales={})
        adapter = make_adapter(http, config, {"BTC": 8})
        with respx.mock(assert_all_called=False) as router:
            route = router.post(f"{API}/freebet/rewards/create")

            with pytest.raises(AmountError):
                await adapter.create_free_bets(
                    player=USER,
                    currency="BTC",
                    game=GAME,
                    prepaid_uuid="pp-1",
                    bet_value=1,
                )

        assert not route.called

    @pytest.mark.parametrize(
        "answer",
        [httpx.Response(200, json={"status": "FRS_NEW"}), httpx.Response(200, json=[])],
        ids=["no-reward-uuid", "not-an-object"],
    )
    async def test_unusable_answer(
        self, adapter: Hub88Adapter, answer: httpx.Response
    ) -> None:
        """An answer without a reward id is a non-retryable ProviderError."""
        with respx.mock() as router:
            router.post(f"{API}/freebet/rewards/create").mock(return_value=answer)

            with pytest.raises(ProviderError) as raised:
                await adapter.create_free_bets(
                    player=USER, currency="EUR", game=GAME, prepaid_uuid="pp-1"
                )

        assert raised.value.retryable is False


class TestPlugin:
    def test_declares_the_contract(self) -> None:
        """The adapter declares its name, config, profile and callback paths."""
        assert issubclass(Hub88Adapter, GameAdapter)
        assert Hub88Adapter.name == "hub88"
        assert Hub88Adapter.config_model is Hub88Config
        assert Hub88Adapter.callback_paths == (
            "user/info",
            "user/balance",
            "transaction/bet",
            "transaction/win",
            "transaction/rollback",
        )
        assert Hub88Adapter.profile.unknown_rollback is Status.OK
        assert Hub88Adapter.profile.credit_without_debit is False
        assert Hub88Adapter.profile.reverse_settled is False
        assert Hub88Adapter.capabilities.demo is True
        assert Hub88Adapter.capabilities.free_rounds is True

    def test_registers_through_the_hook(self) -> None:
        """The entry-point module registers the adapter through register_adapters."""
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(AdapterSpecs)
        manager.register(adapters.hub88)
        manager.check_pending()
        registered: list[type[GameAdapter]] = []

        manager.hook.register_adapters(register=registered.append)

        assert registered == [Hub88Adapter]

    def test_gateway_loads_it_in_process(self) -> None:
        """The gateway's loader accepts the package as an in-process plugin."""
        registry = load_adapters(plugins=[adapters.hub88])

        assert registry.get("hub88").cls is Hub88Adapter

    def test_imports_only_the_contract(self) -> None:
        """The adapter package imports neither the gateway nor the examples."""
        package = Path(adapters.hub88.__file__).parent
        imported: set[str] = set()
        for source in package.glob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    imported.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module:
                    imported.add(node.module)

        roots = {name.split(".")[0] for name in imported}
        assert not roots & {"gateway", "examples", "tests"}
        assert {name for name in imported if name.startswith("adapters.")} <= {
            "adapters.hub88.adapter",
            "adapters.hub88.config",
            "adapters.hub88.payload",
            "adapters.hub88.signature",
        }


class TestConfig:
    @pytest.mark.parametrize(
        "case",
        [
            "ftp",
            "no-host",
            "query",
            "operator-id-zero",
            "private-key-garbage",
            "private-key-is-public",
            "public-key-garbage",
            "public-key-is-private",
            "short-key",
            "zero-scale",
            "scale-not-a-code",
            "zero-timeout",
            "country-not-a-code",
            "unknown-key",
        ],
    )
    def test_refused(
        self, operator_keys: KeyPair, hub88_keys: KeyPair, case: str
    ) -> None:
        """A config the adapter could not work with fails validation."""
        short = KeyPair.generate(1024)
        variants: dict[str, dict[str, Any]] = {
            "ftp": {"base_url": "ftp://api.hub88.example.test"},
            "no-host": {"base_url": "https://"},
            "query": {"base_url": f"{BASE_URL}?a=1"},
            "operator-id-zero": {"operator_id": 0},
            "private-key-garbage": {"private_key": "not a key"},
            "private-key-is-public": {"private_key": operator_keys.public_pem},
            "public-key-garbage": {"hub88_public_key": "not a key"},
            "public-key-is-private": {"hub88_public_key": hub88_keys.private_pem},
            "short-key": {"private_key": short.private_pem},
            "zero-scale": {"scales": {"BTC": 0}},
            "scale-not-a-code": {"scales": {"btc": 10}},
            "zero-timeout": {"timeout_seconds": 0},
            "country-not-a-code": {"default_country": "mt"},
            "unknown-key": {"surprise": True},
        }

        with pytest.raises(ValidationError):
            make_config(operator_keys, hub88_keys, **variants[case])

    def test_private_key_is_never_shown(
        self, operator_keys: KeyPair, hub88_keys: KeyPair
    ) -> None:
        """The private key appears neither in the repr nor in a validation error."""
        config = make_config(operator_keys, hub88_keys)
        secret_line = operator_keys.private_pem.splitlines()[1]
        broken = operator_keys.private_pem.replace(secret_line, secret_line[::-1])

        with pytest.raises(ValidationError) as raised:
            make_config(operator_keys, hub88_keys, private_key=broken)

        assert secret_line not in repr(config)
        assert secret_line[::-1] not in str(raised.value)
        assert config.base_url == BASE_URL
