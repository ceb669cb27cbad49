"""The `coinspaid` adapter: signatures, exact amounts, callbacks, requests, failures."""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import re
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pluggy
import pytest
import respx
from pydantic import SecretStr, ValidationError

import adapters.coinspaid
from adapters.coinspaid import CoinspaidAdapter, CoinspaidConfig
from adapters.coinspaid.callbacks import load_document, read_amount
from contracts import (
    AdapterContext,
    AmountError,
    BadRequest,
    Callback,
    CurrencyTable,
    GamegateError,
    InvalidSignature,
    Money,
    ProviderError,
    UnknownCurrency,
    UnknownOperation,
)
from contracts.hookspecs import PROJECT, AdapterSpecs
from contracts.payments import (
    PaymentEvent,
    PaymentFailure,
    PaymentKind,
    PaymentMethod,
    PaymentRequest,
    PaymentState,
    can_move,
)

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"
PUBLIC_KEY = "placeholder-public-key"
SECRET = "placeholder-secret"
API_URL = "https://processing.example.test/api"
PLAYER = "player-0001"
BTC_ADDRESS = "39mFf3X46YzUtfdwVQpYXPCMydc74ccbAZ"
CURRENCIES = {"BTC": 8, "ETH": 18, "USDT": 6, "XRP": 6, "TEST5": 5}


def payment_vectors() -> list[Any]:
    """Return the shared CoinsPaid signature vectors, or nothing if absent."""
    path = VECTORS / "payment-signatures.json"
    if not path.is_file():
        return []
    return list(json.loads(path.read_text())["coinspaid"]["vectors"])


def float_traps() -> list[Any]:
    """Return the float traps of the shared money vectors, or nothing if absent."""
    path = VECTORS / "money.json"
    if not path.is_file():
        return []
    return list(json.loads(path.read_text())["float_traps"])


def skipped(name: str) -> list[Any]:
    """A single skipped parameter standing for a missing vectors file."""
    reason = f"{VECTORS / name} is missing"
    return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]


def sign(body: bytes, secret: str = SECRET) -> str:
    """Return CoinsPaid's signature of a body: hex HMAC-SHA512 under the secret."""
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def make_adapter(http: httpx.AsyncClient, **overrides: Any) -> CoinspaidAdapter:
    """Build an adapter for the `coinspaid-main` instance with a test config."""
    settings: dict[str, Any] = {
        "api_url": API_URL + "/",
        "public_key": PUBLIC_KEY,
        "secret": SecretStr(SECRET),
        **overrides,
    }
    context = AdapterContext(
        instance="coinspaid-main", currencies=CurrencyTable(CURRENCIES), http=http
    )
    return CoinspaidAdapter(CoinspaidConfig(**settings), context)


def callback(
    body: bytes | dict[str, Any],
    *,
    key: str | None = PUBLIC_KEY,
    signature: str | None = None,
    secret: str = SECRET,
    path: str = "callback",
    method: str = "POST",
) -> Callback:
    """Build a callback as the gateway hands it over, signed unless told not to."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-Processing-Key"] = key
    signature = sign(raw, secret) if signature is None else signature
    if signature:
        headers["X-Processing-Signature"] = signature
    return Callback(path=path, method=method, headers=headers, query={}, body=raw)


def deposit(
    status: str = "confirmed", amount: Any = "6.53157512", **fields: Any
) -> dict[str, Any]:
    """Return CoinsPaid's documented BTC deposit callback, adjusted."""
    document: dict[str, Any] = {
        "id": 2686563,
        "type": "deposit",
        "crypto_address": {
            "id": 381738,
            "currency": "BTC",
            "address": BTC_ADDRESS,
            "foreign_id": PLAYER,
            "tag": None,
        },
        "currency_sent": {"currency": "BTC", "amount": amount},
        "currency_received": {
            "currency": "BTC",
            "amount": amount,
            "amount_minus_fee": "6.5119800",
        },
        "transactions": [
            {
                "id": 714657,
                "currency": "BTC",
                "transaction_type": "blockchain",
                "type": "deposit",
                "address": BTC_ADDRESS,
                "tag": None,
                "amount": amount,
                "txid": "3950ad8149421a850d01dff88f024810e363ac18c9e8dd9bc0b91",
                "riskscore": "0.5",
                "confirmations": 3,
            }
        ],
        "fees": [{"type": "deposit", "currency": "BTC", "amount": "0.01959472"}],
        "error": "",
        "status": status,
    }
    document.update(fields)
    return document


def withdrawal(status: str = "confirmed", **fields: Any) -> dict[str, Any]:
    """Return CoinsPaid's documented BTC withdrawal callback, adjusted."""
    document: dict[str, Any] = {
        "id": 2686565,
        "foreign_id": "pay-0001",
        "type": "withdrawal",
        "crypto_address": {
            "id": 1,
            "currency": "BTC",
            "address": "115Mn1jCjBh1CNqug7yAB21Hq2rw8PfmTA",
            "tag": None,
        },
        "currency_sent": {"currency": "BTC", "amount": "0.02000000"},
        "currency_received": {"currency": "BTC", "amount": "0.02000000"},
        "transactions": [
            {
                "id": 1,
                "currency": "BTC",
                "transaction_type": "blockchain",
                "type": "withdrawal",
                "address": "115Mn1jCjBh1CNqug7yAB21Hq2rw8PfmTA",
                "tag": None,
                "amount": "0.02",
                "txid": "bb040d895ef7141ea0b06b04227d8f5dd4ee12d5b890e6e5633f",
                "confirmations": 3,
            }
        ],
        "fees": [{"type": "mining", "currency": "BTC", "amount": "0.00007402"}],
        "error": "",
        "status": status,
    }
    document.update(fields)
    return document


def request(
    kind: PaymentKind = PaymentKind.DEPOSIT,
    amount: Money | None = None,
    *,
    method: PaymentMethod = PaymentMethod.CRYPTO,
    player: str = PLAYER,
    kyc: dict[str, str] | None = None,
) -> PaymentRequest:
    """Return a payment request with placeholder player data."""
    return PaymentRequest(
        payment_id="pay-0001",
        kind=kind,
        reference="casino-ref-0001",
        idempotency_key="idem-0001",
        player=player,
        amount=amount or Money(2_000_000, "BTC"),
        method=method,
        kyc=kyc or {},
    )


def payout(amount: Money | None = None, **kyc: str) -> PaymentRequest:
    """Return a crypto payout request to a placeholder BTC address."""
    kyc = {"crypto_address": "115Mn1jCjBh1CNqug7yAB21Hq2rw8PfmTA", **kyc}
    return request(PaymentKind.PAYOUT, amount, kyc=kyc)


def read(adapter: CoinspaidAdapter, document: dict[str, Any] | bytes) -> PaymentEvent:
    """Parse one signed callback and return its single event."""
    events = adapter.parse_webhook(callback(document))
    assert len(events) == 1
    return events[0]


def as_numbers(document: dict[str, Any]) -> bytes:
    """Serialize a callback with every amount string written as a JSON number."""
    body = orjson.dumps(document)
    return re.sub(rb'"(amount|amount_minus_fee)":"([0-9.]+)"', rb'"\1":\2', body)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the one the gateway hands to adapters."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def adapter(http: httpx.AsyncClient) -> CoinspaidAdapter:
    """A coinspaid adapter keyed with the test key pair."""
    return make_adapter(http)


class TestSignatureVector:
    @pytest.mark.parametrize(
        "vector",
        payment_vectors() or skipped("payment-signatures.json"),
        ids=lambda vector: vector["id"] if vector else "missing",
    )
    def test_published_vector(self, vector: dict[str, Any]) -> None:
        """CoinsPaid's published example body signs to its published signature."""
        body = vector["body"].encode()

        assert sign(body, vector["secret"]) == vector["expected"]

    @pytest.mark.parametrize(
        "vector",
        payment_vectors() or skipped("payment-signatures.json"),
        ids=lambda vector: vector["id"] if vector else "missing",
    )
    def test_vector_passes_callback_verification(
        self, http: httpx.AsyncClient, vector: dict[str, Any]
    ) -> None:
        """A body carrying the published signature gets past verification."""
        adapter = make_adapter(http, secret=SecretStr(vector["secret"]))
        signed = callback(vector["body"].encode(), signature=vector["expected"])

        # The example is a request body, not a callback: it verifies, then the
        # reader refuses it for what it is.
        with pytest.raises(BadRequest) as refused:
            adapter.parse_webhook(signed)
        assert not isinstance(refused.value, InvalidSignature)

    @pytest.mark.parametrize(
        "vector",
        payment_vectors() or skipped("payment-signatures.json"),
        ids=lambda vector: vector["id"] if vector else "missing",
    )
    async def test_address_request_reproduces_vector(
        self, http: httpx.AsyncClient, vector: dict[str, Any]
    ) -> None:
        """Taking BTC for foreign id 123456 sends the vector's bytes and signature."""
        adapter = make_adapter(http, secret=SecretStr(vector["secret"]))
        answer = {"data": {"id": 1, "currency": "BTC", "address": BTC_ADDRESS}}
        with respx.mock() as router:
            route = router.post(f"{API_URL}/v2/addresses/take").mock(
                return_value=httpx.Response(201, json=answer)
            )
            await adapter.create_deposit(request(player="123456"))

        sent = route.calls.last.request
        assert sent.content == vector["body"].encode()
        assert sent.headers["X-Processing-Signature"] == vector["expected"]


class TestSignatureRefusals:
    @pytest.mark.parametrize(
        ("case", "build"),
        [
            ("no headers", lambda body: callback(body, key=None, signature="")),
            ("no key", lambda body: callback(body, key=None)),
            ("no signature", lambda body: callback(body, signature="")),
            ("wrong key id", lambda body: callback(body, key="someone-else")),
            ("key id prefix", lambda body: callback(body, key=PUBLIC_KEY[:-1])),
            ("wrong secret", lambda body: callback(body, secret="other-secret")),
            ("sha256 instead", lambda body: callback(body, signature="ab" * 32)),
            (
                "other body's signature",
                lambda body: callback(body, signature=sign(body + b" ")),
            ),
        ],
    )
    def test_refused(self, adapter: CoinspaidAdapter, case: str, build: Any) -> None:
        """A callback without this instance's key and a valid signature is refused."""
        with pytest.raises(InvalidSignature):
            adapter.parse_webhook(build(orjson.dumps(deposit())))

    def test_tampered_body_refused(self, adapter: CoinspaidAdapter) -> None:
        """Changing one byte of a signed body after signing is caught."""
        body = orjson.dumps(deposit("not_confirmed"))
        signed = callback(body)
        tampered = body.replace(b"not_confirmed", b"confirmed____")

        with pytest.raises(InvalidSignature):
            adapter.parse_webhook(
                Callback("callback", "POST", signed.headers, {}, tampered)
            )

    def test_verified_before_reading(self, adapter: CoinspaidAdapter) -> None:
        """An unsigned body that is not even JSON is refused for its signature."""
        with pytest.raises(InvalidSignature):
            adapter.parse_webhook(callback(b"\xff not json", signature="00"))

    def test_header_case_and_hex_case_accepted(self, adapter: CoinspaidAdapter) -> None:
        """Lower-case header names and an upper-case hex signature still verify."""
        body = orjson.dumps(deposit())
        headers = {
            "x-processing-key": PUBLIC_KEY,
            "x-processing-signature": sign(body).upper(),
        }

        events = adapter.parse_webhook(Callback("callback", "POST", headers, {}, body))

        assert events[0].state is PaymentState.SUCCEEDED


class TestExactAmounts:
    @pytest.mark.parametrize(
        ("amount", "currency", "minor"),
        [
            ("6.53157512", "BTC", 653_157_512),
            ("6.5119800", "BTC", 651_198_000),
            ("0.29", "BTC", 29_000_000),
            ("0.00000001", "BTC", 1),
            ("21000000.00000000", "BTC", 2_100_000_000_000_000),
            ("0", "BTC", 0),
            ("0.01000000", "ETH", 10**16),
            ("4.45600000", "USDT", 4_456_000),
            ("84.17070222", "TEST5", None),
            ("381", "EUR", 38_100),
        ],
    )
    @pytest.mark.parametrize("form", ["string", "number"])
    def test_converted_exactly(
        self,
        adapter: CoinspaidAdapter,
        amount: str,
        currency: str,
        minor: int | None,
        form: str,
    ) -> None:
        """Amounts as strings or JSON numbers give exact minor units, or are refused."""
        document = deposit(amount=amount)
        document["currency_received"]["currency"] = currency
        body = orjson.dumps(document) if form == "string" else as_numbers(document)

        if minor is None:
            with pytest.raises(AmountError, match="finer"):
                adapter.parse_webhook(callback(body))
            return
        event = read(adapter, body)

        assert event.amount == Money(minor, currency)

    @pytest.mark.parametrize(
        ("amount", "currency"),
        [
            ("0.000000001", "BTC"),
            ("1.12345678", "USDT"),
            ("10.005", "EUR"),
            ("84.17070222", "EUR"),
        ],
    )
    @pytest.mark.parametrize("form", ["string", "number"])
    def test_finer_than_exponent_refused(
        self, adapter: CoinspaidAdapter, amount: str, currency: str, form: str
    ) -> None:
        """An amount finer than the configured exponent is refused, never rounded."""
        document = deposit(amount=amount)
        document["currency_received"]["currency"] = currency
        body = orjson.dumps(document) if form == "string" else as_numbers(document)

        with pytest.raises(AmountError, match="finer"):
            adapter.parse_webhook(callback(body))

    @pytest.mark.parametrize(
        "trap",
        float_traps() or skipped("money.json"),
        ids=lambda trap: trap["expression"] if trap else "missing",
    )
    def test_float_traps(self, adapter: CoinspaidAdapter, trap: dict[str, Any]) -> None:
        """JSON numbers that a float would get wrong come out exactly right."""
        match = re.fullmatch(r"int\(([0-9.]+) \* ([0-9]+)\)", trap["expression"])
        assert match is not None
        literal, scale = match[1], int(match[2])
        currency = {100: "EUR", 100_000: "TEST5"}[scale]
        document = deposit(amount=literal)
        document["currency_received"]["currency"] = currency

        event = read(adapter, as_numbers(document))

        assert int(float(literal) * scale) == trap["wrong"]
        assert event.amount == Money(trap["right"], currency)

    def test_numbers_never_become_floats(self) -> None:
        """The body reader turns every JSON fraction into a Decimal, not a float."""
        document = load_document(b'{"amount": 0.10882300, "n": 381, "e": 1e-8}')

        assert document == {
            "amount": Decimal("0.10882300"),
            "n": 381,
            "e": Decimal("1E-8"),
        }
        assert not any(isinstance(value, float) for value in document.values())

    @pytest.mark.parametrize(
        "value",
        [True, None, 1.5, "-1.00", "1e-8", " 1.0", "1,5", "NaN", [], {}],
        ids=repr,
    )
    def test_malformed_amounts_refused(self, value: object) -> None:
        """Booleans, nulls, floats, negatives and odd strings are refused."""
        with pytest.raises(AmountError):
            read_amount(value, "BTC", CurrencyTable(CURRENCIES))

    @pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
    def test_json_constants_refused(
        self, adapter: CoinspaidAdapter, literal: bytes
    ) -> None:
        """NaN and the infinities are not amounts, though Python's JSON allows them."""
        body = orjson.dumps(deposit(amount="1")).replace(
            b'"amount":"1"', b'"amount":' + literal, 1
        )

        with pytest.raises(BadRequest):
            adapter.parse_webhook(callback(body))

    def test_unknown_currency_refused(self, adapter: CoinspaidAdapter) -> None:
        """A currency the gateway's table does not know is refused, not guessed."""
        document = deposit()
        document["currency_received"]["currency"] = "DOGE"

        with pytest.raises(UnknownCurrency):
            adapter.parse_webhook(callback(document))

    @pytest.mark.parametrize(
        ("money", "sent"),
        [
            (Money(1, "BTC"), "0.00000001"),
            (Money(2_000_000, "BTC"), "0.02000000"),
            (Money(10**16, "ETH"), "0.01000000"),
            (Money(4_456_000, "USDT"), "4.456000"),
            (Money(29_000, "TEST5"), "0.29000"),
        ],
    )
    async def test_payout_amount_sent_exactly(
        self, adapter: CoinspaidAdapter, money: Money, sent: str
    ) -> None:
        """A payout's minor units go out as the exact decimal string."""
        answer = {"data": {"id": 7, "foreign_id": "pay-0001", "status": "processing"}}
        with respx.mock() as router:
            route = router.post(f"{API_URL}/v2/withdrawal/crypto").mock(
                return_value=httpx.Response(201, json=answer)
            )
            await adapter.create_payout(payout(money))

        assert orjson.loads(route.calls.last.request.content)["amount"] == sent

    async def test_payout_finer_than_eight_decimals_declined_unsent(
        self, adapter: CoinspaidAdapter
    ) -> None:
        """1 wei cannot be written in eight decimals: declined, nothing sent."""
        with respx.mock(assert_all_called=False) as router:
            route = router.post(f"{API_URL}/v2/withdrawal/crypto")
            with pytest.raises(PaymentFailure) as failure:
                await adapter.create_payout(payout(Money(10**16 + 1, "ETH")))

        assert failure.value.outcome == "declined"
        assert failure.value.may_fall_back
        assert not route.called


class TestCallbackEvents:
    @pytest.mark.parametrize(
        ("kind", "status", "state"),
        [
            ("deposit", "not_confirmed", PaymentState.PENDING),
            ("deposit", "confirmed", PaymentState.SUCCEEDED),
            ("deposit", "cancelled", PaymentState.FAILED),
            ("deposit", "error", PaymentState.FAILED),
            ("deposit_exchange", "confirmed", PaymentState.SUCCEEDED),
            ("withdrawal", "pending", PaymentState.PENDING_APPROVAL),
            ("withdrawal", "processing", PaymentState.PROCESSING),
            ("withdrawal", "not_confirmed", PaymentState.PROCESSING),
            ("withdrawal", "confirmed", PaymentState.PAID),
            ("withdrawal", "cancelled", PaymentState.FAILED),
            ("withdrawal", "declined", PaymentState.FAILED),
            ("withdrawal", "error", PaymentState.FAILED),
            ("withdrawal_exchange", "confirmed", PaymentState.PAID),
            ("withdrawal_instant", "confirmed", PaymentState.PAID),
        ],
    )
    def test_status_to_state(
        self, adapter: CoinspaidAdapter, kind: str, status: str, state: PaymentState
    ) -> None:
        """Each callback type and status gives its documented state."""
        base = deposit if kind.startswith("deposit") else withdrawal
        event = read(adapter, base(status, type=kind))

        assert event.state is state
        assert event.event_id == f"{base()['id']}:{status}"

    def test_deposit_names_player_not_payment(self, adapter: CoinspaidAdapter) -> None:
        """A deposit carries no payment id, and the address's foreign id as player."""
        event = read(adapter, deposit())

        assert event == PaymentEvent(
            event_id="2686563:confirmed",
            state=PaymentState.SUCCEEDED,
            payment_id=None,
            provider_reference="2686563",
            amount=Money(653_157_512, "BTC"),
            player=PLAYER,
        )

    def test_withdrawal_names_payment(self, adapter: CoinspaidAdapter) -> None:
        """A withdrawal echoes the gateway's payment id as foreign_id."""
        event = read(adapter, withdrawal())

        assert event.payment_id == "pay-0001"
        assert event.provider_reference == "2686565"
        assert event.player is None
        assert event.amount == Money(2_000_000, "BTC")

    def test_two_statuses_are_two_events(self, adapter: CoinspaidAdapter) -> None:
        """A not_confirmed and a confirmed differ in event id, not in reference."""
        seen = read(adapter, deposit("not_confirmed"))
        confirmed = read(adapter, deposit("confirmed"))

        assert seen.event_id != confirmed.event_id
        assert seen.provider_reference == confirmed.provider_reference

    def test_repeat_is_the_same_event(self, adapter: CoinspaidAdapter) -> None:
        """A retried callback reads as the very same event, for the gateway to drop."""
        assert read(adapter, deposit()) == read(adapter, deposit())

    def test_out_of_order_never_moves_back(self, adapter: CoinspaidAdapter) -> None:
        """A late not_confirmed after confirmed is an event the states refuse."""
        late = read(adapter, deposit("not_confirmed"))
        early = read(adapter, deposit("confirmed"))

        assert can_move(PaymentKind.DEPOSIT, PaymentState.CREATED, early.state)
        assert not can_move(PaymentKind.DEPOSIT, early.state, late.state)

    def test_conversion_counts_what_reached_the_balance(
        self, adapter: CoinspaidAdapter
    ) -> None:
        """A deposit with exchange reports the converted EUR, not the BTC sent."""
        document = deposit(type="deposit_exchange")
        document["currency_sent"] = {"currency": "BTC", "amount": "0.01000000"}
        document["currency_received"] = {"currency": "EUR", "amount": "84.17"}

        assert read(adapter, document).amount == Money(8417, "EUR")

    def test_amount_from_transaction_when_alone(
        self, adapter: CoinspaidAdapter
    ) -> None:
        """A callback with only its blockchain transaction still gives the amount."""
        document = withdrawal()
        del document["currency_sent"], document["currency_received"]

        assert read(adapter, document).amount == Money(2_000_000, "BTC")

    def test_failure_reason_kept(self, adapter: CoinspaidAdapter) -> None:
        """A cancelled callback's error text becomes the event's reason."""
        event = read(adapter, deposit("cancelled", error="Double spend"))

        assert event.reason == "Double spend"

    @pytest.mark.parametrize("kind", ["exchange", "invoice"])
    def test_non_payments_give_no_event(
        self, adapter: CoinspaidAdapter, kind: str
    ) -> None:
        """Exchange and invoice callbacks are accepted and give no event."""
        assert adapter.parse_webhook(callback(deposit(type=kind))) == ()

    @pytest.mark.parametrize(
        ("change", "error"),
        [
            ({"type": "refund"}, UnknownOperation),
            ({"status": "exploded"}, BadRequest),
            ({"status": "pending"}, BadRequest),
            ({"id": None}, BadRequest),
            ({"id": True}, BadRequest),
            ({"id": -1}, BadRequest),
            ({"crypto_address": {"currency": "BTC"}}, BadRequest),
            ({"currency_received": "6.5"}, BadRequest),
            ({"transactions": "none"}, BadRequest),
        ],
        ids=str,
    )
    def test_malformed_refused(
        self, adapter: CoinspaidAdapter, change: dict[str, Any], error: type
    ) -> None:
        """Bodies the protocol does not allow are refused as bad requests."""
        with pytest.raises(error):
            adapter.parse_webhook(callback(deposit(**change)))

    def test_withdrawal_without_foreign_id_refused(
        self, adapter: CoinspaidAdapter
    ) -> None:
        """A withdrawal that does not name the payment is refused."""
        with pytest.raises(BadRequest):
            adapter.parse_webhook(callback(withdrawal(foreign_id="")))

    @pytest.mark.parametrize("body", [b"", b"[]", b"{", b'"deposit"', b"\xff\xfe"])
    def test_not_an_object_refused(
        self, adapter: CoinspaidAdapter, body: bytes
    ) -> None:
        """A signed body that is not a JSON object is a bad request."""
        with pytest.raises(BadRequest):
            adapter.parse_webhook(callback(body))

    @pytest.mark.parametrize(
        ("path", "method"), [("callbacks", "POST"), ("callback", "GET")]
    )
    def test_wrong_path_or_method_refused(
        self, adapter: CoinspaidAdapter, path: str, method: str
    ) -> None:
        """Callbacks arrive as POST on the one callback path."""
        with pytest.raises(BadRequest):
            adapter.parse_webhook(callback(deposit(), path=path, method=method))


class TestRequests:
    async def test_address_request_signed(self, adapter: CoinspaidAdapter) -> None:
        """addresses/take is posted with the key, the body's signature and JSON."""
        answer = {"data": {"id": 381738, "currency": "BTC", "address": BTC_ADDRESS}}
        with respx.mock() as router:
            route = router.post(f"{API_URL}/v2/addresses/take").mock(
                return_value=httpx.Response(201, json=answer)
            )
            await adapter.create_deposit(request())

        sent = route.calls.last.request
        assert orjson.loads(sent.content) == {"currency": "BTC", "foreign_id": PLAYER}
        assert sent.headers["X-Processing-Key"] == PUBLIC_KEY
        assert sent.headers["X-Processing-Signature"] == sign(sent.content)
        assert sent.headers["Content-Type"] == "application/json"

    async def test_address_answer_mapped(self, adapter: CoinspaidAdapter) -> None:
        """The address answer becomes a crypto_address action awaiting the player."""
        answer = {
            "data": {
                "id": 1,
                "currency": "XRP",
                "address": "rPEPPER7kfTD9w2To4CQk6UCfuHM9c6GDY",
                "tag": "123456789",
                "foreign_id": PLAYER,
            }
        }
        with respx.mock() as router:
            router.post(f"{API_URL}/v2/addresses/take").mock(
                return_value=httpx.Response(201, json=answer)
            )
            result = await adapter.create_deposit(request(amount=Money(1, "XRP")))

        assert result.state is PaymentState.REQUIRES_ACTION
        assert result.provider_reference == "address:1"
        assert result.action is not None
        assert result.action.kind == "crypto_address"
        assert result.action.value == "rPEPPER7kfTD9w2To4CQk6UCfuHM9c6GDY"
        assert result.action.details == {"currency": "XRP", "tag": "123456789"}

    async def test_convert_to_sent_when_configured(
        self, http: httpx.AsyncClient
    ) -> None:
        """An instance converting deposits asks for the conversion on the address."""
        adapter = make_adapter(http, convert_to="EUR")
        answer = {"data": {"id": 1, "currency": "BTC", "address": BTC_ADDRESS}}
        with respx.mock() as router:
            route = router.post(f"{API_URL}/v2/addresses/take").mock(
                return_value=httpx.Response(201, json=answer)
            )
            result = await adapter.create_deposit(request())

        assert orjson.loads(route.calls.last.request.content)["convert_to"] == "EUR"
        assert result.action is not None
        assert result.action.details["convert_to"] == "EUR"

    async def test_withdrawal_request_signed(self, adapter: CoinspaidAdapter) -> None:
        """withdrawal/crypto carries payment id, exact amount, address and tag."""
        answer = {"data": {"id": 9, "foreign_id": "pay-0001", "status": "processing"}}
        with respx.mock() as router:
            route = router.post(f"{API_URL}/v2/withdrawal/crypto").mock(
                return_value=httpx.Response(201, json=answer)
            )
            await adapter.create_payout(payout(crypto_tag="42"))

        sent = route.calls.last.request
        assert orjson.loads(sent.content) == {
            "foreign_id": "pay-0001",
            "amount": "0.02000000",
            "currency": "BTC",
            "address": "115Mn1jCjBh1CNqug7yAB21Hq2rw8PfmTA",
            "tag": "42",
        }
        assert sent.headers["X-Processing-Key"] == PUBLIC_KEY
        assert sent.headers["X-Processing-Signature"] == sign(sent.content)

    @pytest.mark.parametrize(
        ("status", "state"),
        [
            ("processing", PaymentState.PROCESSING),
            ("pending", PaymentState.PENDING_APPROVAL),
            ("confirmed", PaymentState.PAID),
        ],
    )
    async def test_withdrawal_answer_mapped(
        self, adapter: CoinspaidAdapter, status: str, state: PaymentState
    ) -> None:
        """The withdrawal answer's status and id become the result."""
        answer = {"data": {"id": 1, "foreign_id": "pay-0001", "status": status}}
        with respx.mock() as router:
            router.post(f"{API_URL}/v2/withdrawal/crypto").mock(
                return_value=httpx.Response(201, json=answer)
            )
            result = await adapter.create_payout(payout())

        assert result.state is state
        assert result.provider_reference == "1"

    @pytest.mark.parametrize(
        ("operation", "payment", "shareable"),
        [
            ("deposit", request(method=PaymentMethod.CARD), False),
            ("payout", request(PaymentKind.PAYOUT), True),
            (
                "payout",
                request(
                    PaymentKind.PAYOUT,
                    method=PaymentMethod.BANK_TRANSFER,
                    kyc={"crypto_address": BTC_ADDRESS},
                ),
                False,
            ),
            ("payout", request(kyc={"crypto_address": BTC_ADDRESS}), False),
        ],
        ids=["card deposit", "payout without address", "bank payout", "kind"],
    )
    async def test_unservable_requests_declined_unsent(
        self,
        adapter: CoinspaidAdapter,
        operation: str,
        payment: PaymentRequest,
        shareable: bool,
    ) -> None:
        """A non-crypto payment, or a payout without an address, is declined unsent."""
        with respx.mock(assert_all_called=False) as router:
            route = router.post(url__startswith=API_URL)
            with pytest.raises(PaymentFailure) as failure:
                if operation == "deposit":
                    await adapter.create_deposit(payment)
                else:
                    await adapter.create_payout(payment)

        assert failure.value.outcome == "declined"
        assert failure.value.shareable is shareable
        assert not route.called


def refused(status: int, document: Any) -> httpx.Response:
    """An error answer as CoinsPaid sends one."""
    return httpx.Response(status, json=document)


class TestFailures:
    @pytest.mark.parametrize(
        ("answer", "outcome", "shareable"),
        [
            (httpx.ConnectError("refused"), "unreachable", True),
            (httpx.ConnectTimeout("connect timed out"), "unreachable", True),
            (httpx.PoolTimeout("no connection free"), "unreachable", True),
            (httpx.ReadTimeout("read timed out"), "unknown", False),
            (httpx.WriteTimeout("write timed out"), "unknown", False),
            (httpx.RemoteProtocolError("reset"), "unknown", False),
            (httpx.ReadError("dropped"), "unknown", False),
            (httpx.Response(500), "unknown", False),
            (httpx.Response(502, text="Bad gateway"), "unknown", False),
            (httpx.Response(503), "unknown", False),
            (httpx.Response(302), "unknown", False),
            (httpx.Response(201, text="<html>ok</html>"), "unknown", False),
            (httpx.Response(201, json={"address": "x"}), "unknown", False),
            (httpx.Response(201, json={"data": {"id": 1}}), "unknown", False),
            (
                httpx.Response(
                    201, json={"data": {"address": "a", "foreign_id": "someone"}}
                ),
                "unknown",
                False,
            ),
            (
                refused(400, {"errors": {"address": "The address is invalid."}}),
                "declined",
                True,
            ),
            (
                refused(400, {"errors": {"tag": "The tag field is required."}}),
                "declined",
                True,
            ),
            (
                refused(
                    400,
                    {
                        "errors": {"currency": "Currency BTC is not enabled"},
                        "error_code": "forbidden_currency",
                    },
                ),
                "declined",
                False,
            ),
            (
                refused(
                    400, {"errors": {"amount": "The amount must be at least 0.001."}}
                ),
                "declined",
                False,
            ),
            (
                refused(400, {"errors": {"amount": "Not enough money on balance"}}),
                "declined",
                False,
            ),
            (
                refused(400, {"errors": {"convert_to": "Exchange is unavailable"}}),
                "declined",
                False,
            ),
            (
                refused(
                    400, {"errors": {"foreign_id": "The foreign id field is required."}}
                ),
                "declined",
                False,
            ),
            (
                refused(
                    400,
                    {
                        "errors": {
                            "foreign_id": "The foreign id has already been taken."
                        }
                    },
                ),
                "unknown",
                False,
            ),
            (
                refused(
                    400,
                    {"errors": {"currency": "not enabled", "address": "invalid"}},
                ),
                "declined",
                True,
            ),
            (refused(401, {"error": "Bad key", "code": "bad_key"}), "declined", False),
            (
                refused(403, {"error": "Bad sign", "code": "bad_sign"}),
                "declined",
                False,
            ),
            (refused(429, {"errors": {"error code: 1015": "rate"}}), "declined", False),
            (httpx.Response(404, text="not found"), "declined", False),
        ],
        ids=lambda value: (
            repr(value)[:60] if not isinstance(value, str | bool) else None
        ),
    )
    @pytest.mark.parametrize("operation", ["deposit", "payout"])
    async def test_failure_table(
        self,
        adapter: CoinspaidAdapter,
        answer: Exception | httpx.Response,
        outcome: str,
        shareable: bool,
        operation: str,
    ) -> None:
        """Every way a call fails becomes the PaymentFailure it means."""
        path = "addresses/take" if operation == "deposit" else "withdrawal/crypto"
        with respx.mock() as router:
            route = router.post(f"{API_URL}/v2/{path}")
            if isinstance(answer, Exception):
                route.mock(side_effect=answer)
            else:
                route.mock(return_value=answer)
            with pytest.raises(PaymentFailure) as failure:
                if operation == "deposit":
                    await adapter.create_deposit(request())
                else:
                    await adapter.create_payout(payout())

        error = failure.value
        assert error.outcome == outcome
        if outcome == "declined":
            assert error.shareable is shareable
        assert error.may_fall_back is (
            outcome == "unreachable" or (outcome == "declined" and not shareable)
        )
        assert error.context["provider"] == "coinspaid-main"
        assert SECRET not in str(error)


class TestAnswers:
    def test_acknowledge_is_empty_200(self, adapter: CoinspaidAdapter) -> None:
        """An accepted callback is answered with an empty HTTP 200, nothing more."""
        signed = callback(deposit())
        answer = adapter.acknowledge(signed, adapter.parse_webhook(signed))

        assert answer.status == 200
        assert answer.body == b""
        assert not answer.headers

    @pytest.mark.parametrize(
        ("error", "status"),
        [
            (InvalidSignature("forged"), 403),
            (BadRequest("malformed"), 400),
            (AmountError("finer"), 400),
            (ProviderError("ledger down"), 500),
            (GamegateError("anything"), 500),
        ],
    )
    def test_refusals_are_not_200(
        self, adapter: CoinspaidAdapter, error: GamegateError, status: int
    ) -> None:
        """A refused callback gets a non-200, so CoinsPaid keeps it queued."""
        answer = adapter.render_webhook_error(callback(deposit()), error)

        assert answer.status == status
        assert orjson.loads(answer.body) == {"error": error.code}


class TestConfig:
    @pytest.mark.parametrize(
        "change",
        [
            {"api_url": "ftp://processing.example.test"},
            {"api_url": "https://"},
            {"api_url": "https://processing.example.test/api?x=1"},
            {"public_key": ""},
            {"secret": SecretStr("")},
            {"timeout_seconds": 0},
            {"convert_to": "eur"},
            {"unknown": "key"},
        ],
        ids=str,
    )
    def test_invalid_config_refused(self, change: dict[str, Any]) -> None:
        """A config that cannot reach or sign for CoinsPaid is refused at start-up."""
        settings = {
            "api_url": API_URL,
            "public_key": PUBLIC_KEY,
            "secret": SecretStr(SECRET),
            **change,
        }

        with pytest.raises(ValidationError):
            CoinspaidConfig(**settings)

    def test_secret_never_shown(self) -> None:
        """The secret does not appear in the config's repr or dump."""
        config = CoinspaidConfig(
            api_url=API_URL, public_key=PUBLIC_KEY, secret=SecretStr(SECRET)
        )

        assert SECRET not in repr(config)
        assert SECRET not in str(config.model_dump())
        assert config.api_url == API_URL


class TestPlugin:
    def test_registers_through_hook(self) -> None:
        """The package's hook offers exactly the CoinspaidAdapter class."""
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(AdapterSpecs)
        manager.register(adapters.coinspaid)
        registered: list[type] = []

        manager.hook.register_adapters(register=registered.append)

        assert registered == [CoinspaidAdapter]
        assert CoinspaidAdapter.name == "coinspaid"
        assert CoinspaidAdapter.kind == "payment"
        assert CoinspaidAdapter.webhook_paths == ("callback",)

    def test_imports_only_contracts_stdlib_and_libraries(self) -> None:
        """The adapter imports contracts, the standard library and libraries only."""
        package = Path(adapters.coinspaid.__file__).parent
        allowed = {"contracts", "adapters", "httpx", "orjson", "pydantic"}
        for module in package.glob("*.py"):
            tree = ast.parse(module.read_text())
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    assert top in allowed or top in sys.stdlib_module_names, name
                    if top == "adapters":
                        assert name.startswith("adapters.coinspaid"), name
