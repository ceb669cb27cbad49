"""The `trustly` adapter: signatures, notifications, API calls and failures."""

from __future__ import annotations

import ast
import json
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
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

import adapters.trustly
from adapters.trustly import TrustlyAdapter, TrustlyConfig
from adapters.trustly.rpc import ERROR_CODES
from adapters.trustly.signature import (
    load_public_key,
    plaintext,
    serialize,
    verifies,
)
from contracts import (
    AdapterConfig,
    AdapterContext,
    AmountError,
    BadRequest,
    Callback,
    ConfigError,
    CurrencyTable,
    InvalidSignature,
    Money,
    ProviderError,
    UnknownCurrency,
    UnknownOperation,
)
from contracts.hookspecs import PROJECT, AdapterSpecs
from contracts.payments import (
    NextAction,
    PaymentAdapter,
    PaymentEvent,
    PaymentFailure,
    PaymentKind,
    PaymentMethod,
    PaymentOperation,
    PaymentRecord,
    PaymentRequest,
    PaymentState,
)
from examples.trustly_simulator import keys as simulator_keys
from examples.trustly_simulator.keys import KeyPair

VECTORS = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "vectors"
    / "payment-signatures.json"
)
NO_VECTORS = f"the shared vectors are not at {VECTORS}"
API_URL = "https://test.trustly.example/api/1"
NOTIFY = "https://gateway.example/providers/trustly-main"
PLAYER = "casino-a:player-1"
UUID = "258a2184-2842-b485-25ca-293525152425"
ORDER = "1187741486"
_S = PaymentState


def _trustly_vectors() -> dict[str, Any] | None:
    if not VECTORS.is_file():
        return None
    vectors: dict[str, Any] = json.loads(VECTORS.read_text())["trustly"]
    return vectors


TRUSTLY = _trustly_vectors()
needs_vectors = pytest.mark.skipif(TRUSTLY is None, reason=NO_VECTORS)
SERIALIZATION = (
    [
        pytest.param(case, id=repr(case["input"])[:30])
        for case in TRUSTLY["serialization"]
    ]
    if TRUSTLY
    else [pytest.param(None, marks=pytest.mark.skip(reason=NO_VECTORS))]
)


@pytest.fixture(scope="session")
def merchant_keys() -> KeyPair:
    """The merchant's key pair, made once per test session."""
    return KeyPair.generate()


@pytest.fixture(scope="session")
def trustly_keys() -> KeyPair:
    """Trustly's key pair, made once per test session."""
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
    merchant_keys: KeyPair, trustly_public_pem: str, **changes: Any
) -> TrustlyConfig:
    """Build a config for the test Trustly, with the given changes."""
    values: dict[str, Any] = {
        "api_url": API_URL,
        "username": "merchant",
        "password": SecretStr("merchant-password"),
        "private_key": SecretStr(merchant_keys.private_pem),
        "trustly_public_key": trustly_public_pem,
        "notification_url": NOTIFY + "/",
        **changes,
    }
    return TrustlyConfig(**values)


@pytest.fixture(scope="session")
def config(merchant_keys: KeyPair, trustly_keys: KeyPair) -> TrustlyConfig:
    """The test config, validated once."""
    return make_config(merchant_keys, trustly_keys.public_pem)


def make_adapter(http: httpx.AsyncClient, config: TrustlyConfig) -> TrustlyAdapter:
    """Build an adapter for the `trustly-main` instance."""
    context = AdapterContext(
        instance="trustly-main", currencies=CurrencyTable({"KWD": 3}), http=http
    )
    return TrustlyAdapter(config, context)


@pytest.fixture
def adapter(http: httpx.AsyncClient, config: TrustlyConfig) -> TrustlyAdapter:
    """A trustly adapter for the `trustly-main` instance."""
    return make_adapter(http, config)


def deposit(**changes: Any) -> PaymentRequest:
    """Build a deposit request of SEK 20.00, with the given changes."""
    values: dict[str, Any] = {
        "payment_id": "pay-1",
        "kind": PaymentKind.DEPOSIT,
        "reference": "casino-ref-1",
        "idempotency_key": "idem-1",
        "player": PLAYER,
        "amount": Money(2000, "SEK"),
        "method": PaymentMethod.BANK_TRANSFER,
        "country": "SE",
        "locale": "sv-SE",
        "ip": "203.0.113.9",
        "return_url": "https://casino.example/ok",
        "cancel_url": "https://casino.example/fail",
        "kyc": {"first_name": "Steve", "last_name": "Smith", "email": "s@example.com"},
        **changes,
    }
    return PaymentRequest(**values)


def payout(**changes: Any) -> PaymentRequest:
    """Build a payout request of SEK 50.00, with the given changes."""
    values: dict[str, Any] = {
        "payment_id": "pay-2",
        "kind": PaymentKind.PAYOUT,
        "idempotency_key": "idem-2",
        "amount": Money(5000, "SEK"),
        "kyc": {"first_name": "Steve", "date_of_birth": "1990-01-20"},
        **changes,
    }
    return deposit(**values)


def record(kind: PaymentKind, state: PaymentState, **changes: Any) -> PaymentRecord:
    """Build what the gateway knows of a payment Trustly holds as `ORDER`."""
    values: dict[str, Any] = {
        "payment_id": "pay-1",
        "kind": kind,
        "state": state,
        "amount": Money(2000, "SEK"),
        "provider_reference": ORDER,
        "player": PLAYER,
        **changes,
    }
    return PaymentRecord(**values)


def notification_data(**changes: Any) -> dict[str, Any]:
    """Build the data of a credit-like notification, with the given changes."""
    data: dict[str, Any] = {
        "amount": "20.00",
        "currency": "SEK",
        "messageid": "pay-1",
        "orderid": ORDER,
        "enduserid": PLAYER,
        "notificationid": "4567897654",
        "timestamp": "2010-01-20 14:42:04.675645+01",
        "attributes": {},
        **changes,
    }
    return {key: value for key, value in data.items() if value is not None}


def notification_body(
    keys: KeyPair,
    method: str = "credit",
    data: dict[str, Any] | None = None,
    uuid: str = UUID,
    signature: str | None = None,
) -> bytes:
    """Build a notification as Trustly posts it, signed with `keys`."""
    data = notification_data() if data is None else data
    params = {
        "signature": signature or keys.sign(method, uuid, data),
        "uuid": uuid,
        "data": data,
    }
    document = {"method": method, "params": params, "version": "1.1"}
    return orjson.dumps(document, default=_json_number)


def _json_number(value: object) -> orjson.Fragment:
    # A Decimal goes out as a JSON number with its exact digits.
    if not isinstance(value, Decimal):
        raise TypeError(f"{type(value).__name__} is not JSON")
    return orjson.Fragment(str(value))


def callback(body: bytes, path: str = "deposit", method: str = "POST") -> Callback:
    """Wrap a body as the gateway hands it to the adapter."""
    return Callback(
        path=path,
        method=method,
        headers={"Content-Type": "application/json"},
        query={},
        body=body,
    )


def signed_result(
    keys: KeyPair, method: str, uuid: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Build Trustly's signed answer to one call."""
    result = {
        "signature": keys.sign(method, uuid, data),
        "uuid": uuid,
        "method": method,
        "data": data,
    }
    return {"result": result, "version": "1.1"}


def signed_error(
    keys: KeyPair, method: str | None, uuid: str | None, code: int, message: str
) -> dict[str, Any]:
    """Build Trustly's signed JSON-RPC error for one call."""
    data = {"code": code, "message": message}
    inner = {
        "signature": keys.sign(method or "", uuid or "", data),
        "uuid": uuid,
        "method": method,
        "data": data,
    }
    error = {"name": "JSONRPCError", "code": code, "message": message}
    return {"version": "1.1", "error": {**error, "error": inner}}


Answer = Callable[[str, str], dict[str, Any]]


class TrustlyApi:
    """Trustly's API behind respx: it verifies each call and answers as told."""

    def __init__(self, router: respx.Router, merchant: KeyPair, trustly: KeyPair):
        self.calls: list[dict[str, Any]] = []
        self.trustly = trustly
        self._merchant = simulator_keys.public_key(merchant.public_pem)
        self._answer: Answer = self.ok({"orderid": ORDER, "url": "https://t.example/1"})
        router.post(API_URL).mock(side_effect=self._handle)

    def ok(self, data: dict[str, Any]) -> Answer:
        """Answer every call with `data`, signed by Trustly."""
        return lambda method, uuid: signed_result(self.trustly, method, uuid, data)

    def answer(self, answer: Answer) -> None:
        """Answer from now on with `answer(method, uuid)`."""
        self._answer = answer

    @property
    def last(self) -> dict[str, Any]:
        """The `Data` of the last call."""
        data: dict[str, Any] = self.calls[-1]["params"]["Data"]
        return data

    def _handle(self, request: httpx.Request) -> httpx.Response:
        document = json.loads(request.content, parse_float=Decimal)
        method, params = document["method"], document["params"]
        assert document["version"] == "1.1"
        assert request.headers["content-type"].startswith("application/json")
        assert simulator_keys.verifies(
            self._merchant,
            method,
            params["UUID"],
            params["Data"],
            params["Signature"],
        ), "the call's signature does not verify with the merchant's key"
        self.calls.append(document)

        return httpx.Response(200, json=self._answer(method, params["UUID"]))


@pytest.fixture
def trustly(merchant_keys: KeyPair, trustly_keys: KeyPair) -> Iterator[TrustlyApi]:
    """Trustly's API, mocked, verifying every call's signature."""
    with respx.mock(assert_all_called=False) as router:
        yield TrustlyApi(router, merchant_keys, trustly_keys)


class TestVectors:
    @pytest.mark.parametrize("case", SERIALIZATION)
    def test_serialization(self, case: dict[str, Any]) -> None:
        """Each published serialization case gives exactly its expected text."""
        assert serialize(case["input"]) == case["expected"]

    @needs_vectors
    def test_plaintext_of_the_signed_notification(self) -> None:
        """The published notification's signed text is method + uuid + data."""
        assert TRUSTLY is not None
        signed = TRUSTLY["signed_notification"]

        text = plaintext(signed["method"], signed["uuid"], signed["data"])

        assert text == signed["plaintext"].encode()

    @needs_vectors
    def test_signed_notification_verifies(self) -> None:
        """The published notification verifies with the published public key."""
        assert TRUSTLY is not None
        signed = TRUSTLY["signed_notification"]
        key = load_public_key(TRUSTLY["test_public_key_pem"])

        assert verifies(
            key, signed["method"], signed["uuid"], signed["data"], signed["signature"]
        )

    @needs_vectors
    def test_tampered_notification_does_not_verify(self) -> None:
        """The published tampered copy fails, as the vectors say it must."""
        assert TRUSTLY is not None
        signed = TRUSTLY["signed_notification"]
        tampered = signed["tampered"]
        key = load_public_key(TRUSTLY["test_public_key_pem"])
        data = {**signed["data"], "messageid": tampered["messageid"]}

        verified = verifies(
            key, signed["method"], signed["uuid"], data, signed["signature"]
        )

        assert verified is tampered["verifies"]

    @needs_vectors
    async def test_adapter_reads_the_published_notification(
        self, http: httpx.AsyncClient, merchant_keys: KeyPair
    ) -> None:
        """An adapter holding the published key reads the notification as a credit."""
        assert TRUSTLY is not None
        signed = TRUSTLY["signed_notification"]
        config = make_config(merchant_keys, TRUSTLY["test_public_key_pem"])
        body = notification_body(
            merchant_keys, "credit", signed["data"], signed["uuid"], signed["signature"]
        )

        events = make_adapter(http, config).parse_webhook(callback(body))

        assert events == (
            PaymentEvent(
                event_id="3653956920",
                state=_S.SUCCEEDED,
                payment_id="5001_655548",
                provider_reference="3931155141",
                amount=Money(2000, "SEK"),
                occurred_at=datetime(2015, 3, 12, 15, 14, 18, 616710, tzinfo=UTC),
            ),
        )

    @needs_vectors
    async def test_adapter_refuses_the_tampered_notification(
        self, http: httpx.AsyncClient, merchant_keys: KeyPair
    ) -> None:
        """The tampered copy is refused before anything in it is read."""
        assert TRUSTLY is not None
        signed = TRUSTLY["signed_notification"]
        config = make_config(merchant_keys, TRUSTLY["test_public_key_pem"])
        data = {**signed["data"], "messageid": signed["tampered"]["messageid"]}
        body = notification_body(
            merchant_keys, "credit", data, signed["uuid"], signed["signature"]
        )

        with pytest.raises(InvalidSignature):
            make_adapter(http, config).parse_webhook(callback(body))


class TestSerialize:
    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            ({"Attributes": None, "OrderID": "1"}, "AttributesOrderID1"),
            ({"b": True, "a": False}, "afalsebtrue"),
            ({"n": 3, "d": Decimal("20.00")}, "d20.00n3"),
            ({"Z": "1", "a": "2", "B": "3"}, "B3Z1a2"),
            ([{"k": ["x", None]}, "y"], "kxy"),
            ({}, ""),
            ("", ""),
            (None, ""),
        ],
        ids=["null", "booleans", "numbers", "case", "nested", "empty", "blank", "none"],
    )
    def test_rules(self, data: object, expected: str) -> None:
        """Nulls, booleans, numbers, key order and nesting serialize as Trustly's."""
        assert serialize(data) == expected

    def test_float_is_refused(self) -> None:
        """A binary float has no exact text to sign and is refused."""
        with pytest.raises(ValueError, match="float"):
            serialize({"amount": 20.5})

    @pytest.mark.parametrize(
        "signature",
        ["", "not base64 at all!", "QUJD", "A" * 4096, None, 12],
        ids=["empty", "not-base64", "short", "oversized", "none", "number"],
    )
    def test_bad_signatures_never_verify(
        self, trustly_keys: KeyPair, signature: object
    ) -> None:
        """A missing, malformed or oversized signature is simply false."""
        key = load_public_key(trustly_keys.public_pem)

        assert not verifies(key, "credit", UUID, {"a": "1"}, signature)

    def test_deep_data_never_verifies(self, trustly_keys: KeyPair) -> None:
        """Data nested beyond any message Trustly sends is refused, not recursed."""
        key = load_public_key(trustly_keys.public_pem)
        data: dict[str, Any] = {}
        for _ in range(100):
            data = {"a": data}

        assert not verifies(key, "credit", UUID, data, "QUJD")


class TestReply:
    def test_ok_reply_round_trips(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair, merchant_keys: KeyPair
    ) -> None:
        """The OK reply echoes method and uuid and verifies with the merchant's key."""
        body = notification_body(trustly_keys)

        answer = adapter.acknowledge(callback(body), ())

        document = orjson.loads(answer.body)
        result = document["result"]
        merchant = simulator_keys.public_key(merchant_keys.public_pem)
        assert answer.status == 200
        assert document["version"] == "1.1"
        assert (result["uuid"], result["method"]) == (UUID, "credit")
        assert result["data"] == {"status": "OK"}
        assert simulator_keys.verifies(
            merchant, "credit", UUID, result["data"], result["signature"]
        )
        assert verifies(
            load_public_key(merchant_keys.public_pem),
            "credit",
            UUID,
            {"status": "OK"},
            result["signature"],
        )

    def test_reply_signs_method_uuid_and_status(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """What the reply signs is exactly `credit{uuid}statusOK`."""
        assert plaintext("credit", UUID, {"status": "OK"}) == (
            f"credit{UUID}statusOK".encode()
        )

    def test_failed_reply_is_signed_too(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair, merchant_keys: KeyPair
    ) -> None:
        """A verified notification the adapter cannot read gets a signed FAILED."""
        body = notification_body(trustly_keys, data=notification_data(amount="2.005"))
        with pytest.raises(AmountError) as raised:
            adapter.parse_webhook(callback(body))

        answer = adapter.render_webhook_error(callback(body), raised.value)

        result = orjson.loads(answer.body)["result"]
        merchant = simulator_keys.public_key(merchant_keys.public_pem)
        assert answer.status == 200
        assert result["data"] == {"status": "FAILED"}
        assert simulator_keys.verifies(
            merchant, "credit", UUID, result["data"], result["signature"]
        )


NOTIFICATIONS = [
    ("deposit", "pending", (_S.PENDING,)),
    ("deposit", "credit", (_S.SUCCEEDED,)),
    ("deposit", "debit", (_S.REVERSED,)),
    ("deposit", "cancel", (_S.CANCELED,)),
    ("deposit", "payoutconfirmation", (_S.REFUNDED,)),
    ("payout", "pending", (_S.PROCESSING,)),
    ("payout", "debit", (_S.PENDING_APPROVAL,)),
    ("payout", "credit", (_S.FAILED, _S.RETURNED)),
    ("payout", "cancel", (_S.CANCELED,)),
    ("payout", "payoutconfirmation", (_S.PAID,)),
    ("deposit", "account", ()),
    ("payout", "account", ()),
    ("deposit", "kyc", ()),
]


class TestNotifications:
    @pytest.mark.parametrize(
        ("path", "method", "states"),
        NOTIFICATIONS,
        ids=[f"{path}-{method}" for path, method, _ in NOTIFICATIONS],
    )
    def test_event_table(
        self,
        adapter: TrustlyAdapter,
        trustly_keys: KeyPair,
        path: str,
        method: str,
        states: tuple[PaymentState, ...],
    ) -> None:
        """Each notification on each path gives the states of the documented table."""
        body = notification_body(trustly_keys, method)

        events = adapter.parse_webhook(callback(body, path))

        assert tuple(event.state for event in events) == states

    def test_event_fields(self, adapter: TrustlyAdapter, trustly_keys: KeyPair) -> None:
        """An event names the notification, the payment, the order and the money."""
        body = notification_body(trustly_keys, "pending")

        (event,) = adapter.parse_webhook(callback(body))

        assert event == PaymentEvent(
            event_id="4567897654",
            state=_S.PENDING,
            payment_id="pay-1",
            provider_reference=ORDER,
            amount=Money(2000, "SEK"),
            occurred_at=datetime(
                2010, 1, 20, 14, 42, 4, 675645, tzinfo=timezone(timedelta(hours=1))
            ),
        )

    def test_payout_credit_names_both_events(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """A payout's credit gives failed then returned, under two event ids."""
        body = notification_body(trustly_keys, "credit")

        events = adapter.parse_webhook(callback(body, "payout"))

        assert [event.event_id for event in events] == [
            "4567897654",
            "4567897654:returned",
        ]

    def test_cancel_carries_no_amount(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """A cancel names no amount, and its attributes give the reason."""
        data = notification_data(
            amount=None,
            currency=None,
            attributes={"reason": "ERROR_CHARGE_NOT_APPROVED", "details": "BACS"},
        )
        body = notification_body(trustly_keys, "cancel", data)

        (event,) = adapter.parse_webhook(callback(body))

        assert event.amount is None
        assert event.reason == "ERROR_CHARGE_NOT_APPROVED: BACS"

    def test_repeat_gives_the_same_event_id(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """A notification sent again (a new uuid) keeps its notificationid."""
        first = notification_body(trustly_keys, "credit")
        again = notification_body(
            trustly_keys, "credit", uuid="0f0b2d5e-4a53-4f1f-9f36-6f3e2a1b0c9d"
        )

        assert adapter.parse_webhook(callback(first)) == adapter.parse_webhook(
            callback(again)
        )

    @pytest.mark.parametrize(
        ("amount", "currency", "minor"),
        [
            ("20.00", "SEK", 2000),
            ("11", "SEK", 1100),
            ("0.5", "EUR", 50),
            ("100", "JPY", 100),
            ("100.00", "JPY", 100),
            ("1.234", "KWD", 1234),
            (Decimal("902.50"), "EUR", 90250),
        ],
        ids=["sek", "whole", "one-decimal", "jpy", "jpy-zeros", "kwd", "number"],
    )
    def test_amounts_are_exact(
        self,
        adapter: TrustlyAdapter,
        trustly_keys: KeyPair,
        amount: object,
        currency: str,
        minor: int,
    ) -> None:
        """Decimal amounts convert exactly, in each currency's own exponent."""
        data = notification_data(amount=amount, currency=currency)
        body = notification_body(trustly_keys, "credit", data)

        (event,) = adapter.parse_webhook(callback(body))

        assert event.amount == Money(minor, currency)

    @pytest.mark.parametrize(
        ("changes", "error"),
        [
            ({"amount": "2.005"}, AmountError),
            ({"amount": "-1.00"}, AmountError),
            ({"amount": True}, BadRequest),
            ({"currency": "XQQ"}, UnknownCurrency),
            ({"currency": None}, BadRequest),
            ({"notificationid": None}, BadRequest),
            ({"messageid": ""}, BadRequest),
            ({"orderid": None}, BadRequest),
        ],
        ids=[
            "finer",
            "negative",
            "boolean",
            "currency",
            "no-currency",
            "no-id",
            "no-msg",
            "no-order",
        ],
    )
    def test_unreadable_data_is_refused(
        self,
        adapter: TrustlyAdapter,
        trustly_keys: KeyPair,
        changes: dict[str, Any],
        error: type[Exception],
    ) -> None:
        """Signed data the protocol does not allow is a BadRequest, never rounded."""
        body = notification_body(trustly_keys, "credit", notification_data(**changes))

        with pytest.raises(error):
            adapter.parse_webhook(callback(body))

    def test_odd_timestamp_is_left_out(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """A timestamp in another form is dropped, not a reason to refuse money."""
        data = notification_data(timestamp="yesterday")
        body = notification_body(trustly_keys, "credit", data)

        (event,) = adapter.parse_webhook(callback(body))

        assert event.occurred_at is None

    def test_method_case_and_uuid_case_are_folded(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """`Credit` with an upper-case UUID reads as credit and is answered as sent."""
        uuid = UUID.upper()
        body = notification_body(trustly_keys, "Credit", uuid=uuid)

        (event,) = adapter.parse_webhook(callback(body))
        result = orjson.loads(adapter.acknowledge(callback(body), (event,)).body)

        assert event.state is _S.SUCCEEDED
        assert (result["result"]["method"], result["result"]["uuid"]) == (
            "Credit",
            uuid,
        )

    def test_unknown_method_is_refused(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """A notification method the adapter does not know is an UnknownOperation."""
        body = notification_body(trustly_keys, "surprise")

        with pytest.raises(UnknownOperation):
            adapter.parse_webhook(callback(body))

    def test_unknown_path_is_refused(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """A notification below a path the adapter never names is refused."""
        body = notification_body(trustly_keys, "credit")

        with pytest.raises(UnknownOperation):
            adapter.parse_webhook(callback(body, "elsewhere"))

    def test_get_is_refused(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """Notifications are POSTs."""
        body = notification_body(trustly_keys, "credit")

        with pytest.raises(BadRequest):
            adapter.parse_webhook(callback(body, method="GET"))

    def test_silent_notification_is_acknowledged(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """An account notification moves nothing but is answered OK."""
        data = {"accountid": "1234567890", "messageid": "pay-1", "notificationid": "9"}
        body = notification_body(trustly_keys, "account", data)

        events = adapter.parse_webhook(callback(body))
        answer = adapter.acknowledge(callback(body), events)

        assert events == ()
        assert orjson.loads(answer.body)["result"]["data"] == {"status": "OK"}


class TestForged:
    def test_stranger_signature_is_refused(
        self, adapter: TrustlyAdapter, stranger_keys: KeyPair
    ) -> None:
        """A notification signed with a key that is not Trustly's is refused."""
        body = notification_body(stranger_keys, "credit")

        with pytest.raises(InvalidSignature):
            adapter.parse_webhook(callback(body))

    def test_tampered_data_is_refused(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """Changing the amount after Trustly signed breaks the signature."""
        data = notification_data()
        signature = trustly_keys.sign("credit", UUID, data)
        body = notification_body(
            trustly_keys, "credit", {**data, "amount": "2000.00"}, signature=signature
        )

        with pytest.raises(InvalidSignature):
            adapter.parse_webhook(callback(body))

    def test_changed_method_is_refused(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """A pending turned into a credit no longer verifies."""
        data = notification_data()
        signature = trustly_keys.sign("pending", UUID, data)
        body = notification_body(trustly_keys, "credit", data, signature=signature)

        with pytest.raises(InvalidSignature):
            adapter.parse_webhook(callback(body))

    def test_missing_signature_is_refused(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """A notification without a signature is refused."""
        document = orjson.loads(notification_body(trustly_keys))
        del document["params"]["signature"]

        with pytest.raises(InvalidSignature):
            adapter.parse_webhook(callback(orjson.dumps(document)))

    @pytest.mark.parametrize(
        "body",
        [b"not json", b"[]", b'{"method": "credit"}', b'{"params": {"data": {}}}'],
        ids=["text", "array", "no-params", "no-method"],
    )
    def test_malformed_body_is_a_bad_request(
        self, adapter: TrustlyAdapter, body: bytes
    ) -> None:
        """A body that is not a notification at all is a BadRequest, answered 400."""
        with pytest.raises(BadRequest) as raised:
            adapter.parse_webhook(callback(body))

        answer = adapter.render_webhook_error(callback(body), raised.value)

        assert answer.status == 400
        assert "result" not in orjson.loads(answer.body)

    def test_forged_notification_is_never_signed(
        self, adapter: TrustlyAdapter, stranger_keys: KeyPair
    ) -> None:
        """A forged notification is answered 401 without the merchant's signature."""
        body = notification_body(stranger_keys, "credit")
        with pytest.raises(InvalidSignature) as raised:
            adapter.parse_webhook(callback(body))

        refused = adapter.render_webhook_error(callback(body), raised.value)
        acknowledged = adapter.acknowledge(callback(body), ())

        for answer in (refused, acknowledged):
            document = orjson.loads(answer.body)
            assert answer.status == 401
            assert "result" not in document
            assert "signature" not in document["error"]

    def test_non_uuid_is_never_signed(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """A verified notification whose uuid is not a UUID gets no signed reply."""
        body = notification_body(trustly_keys, "credit", uuid="Refund1234Amount")
        with pytest.raises(BadRequest) as raised:
            adapter.parse_webhook(callback(body))

        answer = adapter.render_webhook_error(callback(body), raised.value)

        assert answer.status == 400
        assert "result" not in orjson.loads(answer.body)

    def test_silent_non_uuid_is_never_signed(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """An account notification whose uuid is not a UUID gets no signed OK."""
        body = notification_body(trustly_keys, "account", uuid="Deposit-x")
        with pytest.raises(BadRequest):
            adapter.parse_webhook(callback(body))

        answer = adapter.acknowledge(callback(body), ())

        assert answer.status == 400
        assert "result" not in orjson.loads(answer.body)

    def test_other_errors_ask_for_a_resend(
        self, adapter: TrustlyAdapter, trustly_keys: KeyPair
    ) -> None:
        """An error that is the gateway's own is HTTP 500, so Trustly sends again."""
        body = notification_body(trustly_keys, "credit")

        answer = adapter.render_webhook_error(callback(body), ProviderError("db down"))

        assert answer.status == 500
        assert "result" not in orjson.loads(answer.body)


class TestCalls:
    async def test_deposit(self, adapter: TrustlyAdapter, trustly: TrustlyApi) -> None:
        """A deposit is a signed Deposit call whose url the player must follow."""
        result = await adapter.create_deposit(deposit())

        (call,) = trustly.calls
        assert call["method"] == "Deposit"
        assert trustly.last == {
            "NotificationURL": f"{NOTIFY}/deposit",
            "EndUserID": PLAYER,
            "MessageID": "pay-1",
            "Username": "merchant",
            "Password": "merchant-password",
            "Attributes": {
                "Country": "SE",
                "Locale": "sv_SE",
                "IP": "203.0.113.9",
                "Firstname": "Steve",
                "Lastname": "Smith",
                "Email": "s@example.com",
                "Currency": "SEK",
                "Amount": "20.00",
                "SuccessURL": "https://casino.example/ok",
                "FailURL": "https://casino.example/fail",
            },
        }
        assert result.state is _S.REQUIRES_ACTION
        assert result.provider_reference == ORDER
        assert result.action == NextAction("redirect", "https://t.example/1")

    async def test_deposit_in_an_iframe(
        self,
        http: httpx.AsyncClient,
        merchant_keys: KeyPair,
        trustly_keys: KeyPair,
        trustly: TrustlyApi,
    ) -> None:
        """With `presentation: iframe` the next action is an iframe."""
        config = make_config(
            merchant_keys, trustly_keys.public_pem, presentation="iframe"
        )

        result = await make_adapter(http, config).create_deposit(deposit())

        assert result.action == NextAction("iframe", "https://t.example/1")

    async def test_retry_is_the_same_call(
        self, adapter: TrustlyAdapter, trustly: TrustlyApi
    ) -> None:
        """A retry of one request sends the same UUID; another request a new one."""
        await adapter.create_deposit(deposit())
        await adapter.create_deposit(deposit())
        await adapter.create_deposit(deposit(idempotency_key="idem-other"))

        uuids = [call["params"]["UUID"] for call in trustly.calls]
        assert uuids[0] == uuids[1] != uuids[2]

    async def test_withdraw(self, adapter: TrustlyAdapter, trustly: TrustlyApi) -> None:
        """A payout without an account is a Withdraw the player confirms."""
        result = await adapter.create_payout(payout())

        assert trustly.calls[-1]["method"] == "Withdraw"
        assert trustly.last["NotificationURL"] == f"{NOTIFY}/payout"
        assert trustly.last["Currency"] == "SEK"
        assert trustly.last["Attributes"]["SuggestedAmount"] == "50.00"
        assert trustly.last["Attributes"]["DateOfBirth"] == "1990-01-20"
        assert result.state is _S.REQUESTED
        assert result.action == NextAction("redirect", "https://t.example/1")

    async def test_account_payout(
        self, adapter: TrustlyAdapter, trustly: TrustlyApi
    ) -> None:
        """A payout to a known account is an AccountPayout, processing at once."""
        trustly.answer(trustly.ok({"orderid": ORDER, "result": "1"}))

        result = await adapter.create_payout(payout(kyc={"account_id": "9988776655"}))

        assert trustly.calls[-1]["method"] == "AccountPayout"
        assert trustly.last["AccountID"] == "9988776655"
        assert trustly.last["Amount"] == "50.00"
        assert trustly.last["Attributes"] is None
        assert result.state is _S.PROCESSING
        assert result.provider_reference == ORDER

    @pytest.mark.parametrize(
        ("minor", "state"),
        [(2000, _S.REFUNDED), (500, _S.SUCCEEDED)],
        ids=["whole", "part"],
    )
    async def test_refund(
        self,
        adapter: TrustlyAdapter,
        trustly: TrustlyApi,
        minor: int,
        state: PaymentState,
    ) -> None:
        """A whole refund leaves the deposit refunded, a partial one succeeded."""
        trustly.answer(trustly.ok({"orderid": ORDER, "result": "1"}))
        payment = record(PaymentKind.DEPOSIT, _S.SUCCEEDED)

        result = await adapter.refund(payment, Money(minor, "SEK"))

        assert trustly.calls[-1]["method"] == "Refund"
        assert trustly.last["OrderID"] == ORDER
        assert trustly.last["Amount"] == f"{minor // 100}.{minor % 100:02d}"
        assert trustly.last["Attributes"] is None
        assert result.state is state

    async def test_approve(self, adapter: TrustlyAdapter, trustly: TrustlyApi) -> None:
        """Approving a confirmed withdrawal sends ApproveWithdrawal: processing."""
        trustly.answer(trustly.ok({"orderid": ORDER, "result": "1"}))
        payment = record(PaymentKind.PAYOUT, _S.PENDING_APPROVAL)

        result = await adapter.approve_payout(payment)

        assert trustly.calls[-1]["method"] == "ApproveWithdrawal"
        assert trustly.last["OrderID"] == ORDER
        assert result.state is _S.PROCESSING

    async def test_void_denies_a_payout(
        self, adapter: TrustlyAdapter, trustly: TrustlyApi
    ) -> None:
        """Voiding a payout awaiting approval sends DenyWithdrawal: canceled."""
        trustly.answer(trustly.ok({"orderid": ORDER, "result": "1"}))
        payment = record(PaymentKind.PAYOUT, _S.PENDING_APPROVAL)

        result = await adapter.void(payment)

        assert trustly.calls[-1]["method"] == "DenyWithdrawal"
        assert result.state is _S.CANCELED

    @pytest.mark.parametrize(
        "action",
        [
            "void-deposit",
            "approve-requested",
            "approve-paid",
            "refund-payout",
            "refund-no-order",
            "refund-currency",
        ],
    )
    async def test_refused_without_a_call(
        self, adapter: TrustlyAdapter, trustly: TrustlyApi, action: str
    ) -> None:
        """What Trustly cannot do is declined before anything is sent."""
        deposit_record = record(PaymentKind.DEPOSIT, _S.SUCCEEDED)
        actions = {
            "void-deposit": lambda: adapter.void(deposit_record),
            "approve-requested": lambda: adapter.approve_payout(
                record(PaymentKind.PAYOUT, _S.REQUESTED)
            ),
            "approve-paid": lambda: adapter.approve_payout(
                record(PaymentKind.PAYOUT, _S.PAID)
            ),
            "refund-payout": lambda: adapter.refund(
                record(PaymentKind.PAYOUT, _S.PAID), Money(1, "SEK")
            ),
            "refund-no-order": lambda: adapter.refund(
                record(PaymentKind.DEPOSIT, _S.SUCCEEDED, provider_reference=None),
                Money(1, "SEK"),
            ),
            "refund-currency": lambda: adapter.refund(deposit_record, Money(1, "EUR")),
        }

        with pytest.raises(PaymentFailure) as raised:
            await actions[action]()

        assert raised.value.outcome == "declined"
        assert trustly.calls == []

    @pytest.mark.parametrize(
        ("locale", "sent"),
        [
            ("sv-SE", "sv_SE"),
            ("sv", "sv"),
            ("EN_gb", "en_GB"),
            (None, "en"),
            ("xx-", "xx"),
            ("garbage", "en"),
        ],
    )
    async def test_locale(
        self,
        adapter: TrustlyAdapter,
        trustly: TrustlyApi,
        locale: str | None,
        sent: str,
    ) -> None:
        """Locales are sent as Trustly's `language[_territory]`, else the default."""
        await adapter.create_deposit(deposit(locale=locale))

        assert trustly.last["Attributes"]["Locale"] == sent

    @pytest.mark.parametrize(
        ("money", "sent"),
        [
            (Money(2000, "SEK"), "20.00"),
            (Money(5, "EUR"), "0.05"),
            (Money(500, "JPY"), "500.00"),
            (Money(1230, "KWD"), "1.23"),
        ],
        ids=["sek", "cents", "jpy", "kwd"],
    )
    async def test_amounts_have_two_decimals(
        self, adapter: TrustlyAdapter, trustly: TrustlyApi, money: Money, sent: str
    ) -> None:
        """Amounts go out with exactly two decimals, whatever the exponent."""
        await adapter.create_deposit(deposit(amount=money))

        assert trustly.last["Attributes"]["Amount"] == sent


def _failing(kind: str) -> Any:
    """Return a respx side effect that fails in the way `kind` names."""
    transport = {
        "connect-error": httpx.ConnectError("refused"),
        "connect-timeout": httpx.ConnectTimeout("slow"),
        "pool-timeout": httpx.PoolTimeout("busy"),
        "read-timeout": httpx.ReadTimeout("slow"),
        "write-timeout": httpx.WriteTimeout("slow"),
        "protocol": httpx.RemoteProtocolError("reset"),
    }
    if kind in transport:
        return transport[kind]
    status = {"http-500": 500, "http-503": 503, "http-403": 403}
    return httpx.Response(status.get(kind, 200), content=b"<html>no</html>")


class TestFailures:
    @pytest.mark.parametrize(
        ("kind", "outcome"),
        [
            ("connect-error", "unreachable"),
            ("connect-timeout", "unreachable"),
            ("pool-timeout", "unreachable"),
            ("read-timeout", "unknown"),
            ("write-timeout", "unknown"),
            ("protocol", "unknown"),
            ("http-500", "unknown"),
            ("http-503", "unknown"),
            ("http-403", "unknown"),
            ("not-json", "unknown"),
        ],
    )
    async def test_transport(
        self, adapter: TrustlyAdapter, kind: str, outcome: str
    ) -> None:
        """Nothing sent is unreachable; anything that may have arrived is unknown."""
        with respx.mock() as router:
            router.post(API_URL).mock(side_effect=[_failing(kind)])

            with pytest.raises(PaymentFailure) as raised:
                await adapter.create_deposit(deposit())

        assert raised.value.outcome == outcome
        assert raised.value.may_fall_back is (outcome == "unreachable")

    @pytest.mark.parametrize(
        "answer",
        [
            "stranger",
            "other-uuid",
            "other-method",
            "no-orderid",
            "no-url",
            "ftp-url",
            "error-by-stranger",
            "neither",
        ],
    )
    async def test_unusable_answer_is_unknown(
        self,
        adapter: TrustlyAdapter,
        trustly: TrustlyApi,
        stranger_keys: KeyPair,
        answer: str,
    ) -> None:
        """An answer not verifiably Trustly's, for this call, with an order: unknown."""
        keys = trustly.trustly
        answers: dict[str, Answer] = {
            "stranger": lambda m, u: signed_result(
                stranger_keys, m, u, {"orderid": ORDER, "url": "https://t.example/1"}
            ),
            "other-uuid": lambda m, u: signed_result(
                keys, m, UUID, {"orderid": ORDER, "url": "https://t.example/1"}
            ),
            "other-method": lambda m, u: signed_result(
                keys, "Withdraw", u, {"orderid": ORDER, "url": "https://t.example/1"}
            ),
            "no-orderid": trustly.ok({"url": "https://t.example/1"}),
            "no-url": trustly.ok({"orderid": ORDER}),
            "ftp-url": trustly.ok({"orderid": ORDER, "url": "ftp://t.example/1"}),
            "error-by-stranger": lambda m, u: signed_error(
                stranger_keys, m, u, 638, "ERROR_ENDUSER_IS_BLOCKED"
            ),
            "neither": lambda m, u: {"version": "1.1"},
        }
        trustly.answer(answers[answer])

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit())

        assert raised.value.outcome == "unknown"
        assert not raised.value.may_fall_back

    @pytest.mark.parametrize(
        ("code", "outcome", "shareable"),
        [
            (602, "declined", False),
            (607, "declined", False),
            (615, "declined", False),
            (616, "declined", False),
            (620, "declined", False),
            (622, "declined", False),
            (623, "declined", False),
            (636, "declined", False),
            (637, "unknown", True),
            (638, "declined", True),
            (639, "declined", False),
            (699, "declined", False),
        ],
    )
    async def test_error_codes(
        self,
        adapter: TrustlyAdapter,
        trustly: TrustlyApi,
        code: int,
        outcome: str,
        shareable: bool,
    ) -> None:
        """Each of Trustly's signed error codes gives its outcome from the table."""
        name = ERROR_CODES[code].name if code in ERROR_CODES else "ERROR_NEW"
        trustly.answer(lambda m, u: signed_error(trustly.trustly, m, u, code, name))

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit())

        assert raised.value.outcome == outcome
        assert raised.value.shareable is shareable
        assert raised.value.context["code"] == code
        assert name in raised.value.message

    def test_error_table_is_the_documented_one(self) -> None:
        """The table names exactly the codes of Trustly's error-messages page."""
        assert sorted(ERROR_CODES) == [
            602,
            607,
            615,
            616,
            620,
            622,
            623,
            636,
            637,
            638,
            639,
        ]

    async def test_json_rpc_error_without_a_call(
        self, adapter: TrustlyAdapter, trustly: TrustlyApi
    ) -> None:
        """A signed JSON-RPC error with null uuid and method is still a refusal."""
        trustly.answer(
            lambda m, u: signed_error(trustly.trustly, None, None, 623, "INVALID")
        )

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit())

        assert raised.value.outcome == "declined"

    async def test_not_accepted_is_declined(
        self, adapter: TrustlyAdapter, trustly: TrustlyApi
    ) -> None:
        """An AccountPayout Trustly does not accept (`result` "0") is declined."""
        trustly.answer(trustly.ok({"orderid": ORDER, "result": "0", "rejected": "no"}))

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_payout(payout(kyc={"account_id": "1"}))

        assert raised.value.outcome == "declined"
        assert raised.value.may_fall_back
        assert "no" in raised.value.message

    @pytest.mark.parametrize(
        "changes",
        [
            {"country": None},
            {"country": "Sweden"},
            {"return_url": None},
            {"amount": Money(1234, "KWD")},
            {"amount": Money(100, "XQQ")},
            {"method": PaymentMethod.CARD},
        ],
        ids=[
            "no-country",
            "bad-country",
            "no-return-url",
            "three-decimals",
            "currency",
            "card",
        ],
    )
    async def test_request_trustly_cannot_take(
        self, adapter: TrustlyAdapter, trustly: TrustlyApi, changes: dict[str, Any]
    ) -> None:
        """A request Trustly would refuse is declined here, so another may try."""
        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit(**changes))

        assert raised.value.outcome == "declined"
        assert raised.value.may_fall_back
        assert trustly.calls == []

    async def test_secrets_stay_out_of_failures(
        self, adapter: TrustlyAdapter, trustly: TrustlyApi
    ) -> None:
        """No failure message repeats the API password."""
        trustly.answer(lambda m, u: signed_error(trustly.trustly, m, u, 616, "CREDS"))

        with pytest.raises(PaymentFailure) as raised:
            await adapter.create_deposit(deposit())

        assert "merchant-password" not in str(raised.value)
        assert "merchant-password" not in repr(raised.value.context)


class TestConfig:
    @pytest.mark.parametrize(
        "case",
        [
            "ftp",
            "no-host",
            "api-query",
            "notification-query",
            "no-username",
            "private-key-garbage",
            "private-key-is-public",
            "public-key-garbage",
            "short-key",
            "locale",
            "zero-timeout",
            "presentation",
            "unknown-key",
        ],
    )
    def test_refused(
        self, merchant_keys: KeyPair, trustly_keys: KeyPair, case: str
    ) -> None:
        """A config the adapter could not work with fails validation."""
        short = KeyPair.generate(1024)
        variants: dict[str, dict[str, Any]] = {
            "ftp": {"api_url": "ftp://test.trustly.example/api/1"},
            "no-host": {"api_url": "https://"},
            "api-query": {"api_url": f"{API_URL}?a=1"},
            "notification-query": {"notification_url": f"{NOTIFY}?token=1"},
            "no-username": {"username": ""},
            "private-key-garbage": {"private_key": SecretStr("not a key")},
            "private-key-is-public": {
                "private_key": SecretStr(merchant_keys.public_pem)
            },
            "public-key-garbage": {"trustly_public_key": "not a key"},
            "short-key": {"private_key": SecretStr(short.private_pem)},
            "locale": {"default_locale": "english"},
            "zero-timeout": {"timeout_seconds": 0},
            "presentation": {"presentation": "popup"},
            "unknown-key": {"surprise": True},
        }

        with pytest.raises(ValidationError):
            make_config(merchant_keys, trustly_keys.public_pem, **variants[case])

    def test_secrets_are_never_shown(
        self, merchant_keys: KeyPair, trustly_keys: KeyPair
    ) -> None:
        """The private key and password appear neither in a repr nor in an error."""
        config = make_config(merchant_keys, trustly_keys.public_pem)
        secret_line = merchant_keys.private_pem.splitlines()[1]
        broken = merchant_keys.private_pem.replace(secret_line, secret_line[::-1])

        with pytest.raises(ValidationError) as raised:
            make_config(
                merchant_keys, trustly_keys.public_pem, private_key=SecretStr(broken)
            )

        assert secret_line not in repr(config)
        assert "merchant-password" not in repr(config)
        assert secret_line[::-1] not in str(raised.value)
        assert config.notification_url == NOTIFY

    async def test_adapter_needs_its_config(self, http: httpx.AsyncClient) -> None:
        """Handing the adapter another adapter's config stops start-up."""
        context = AdapterContext(
            instance="trustly-main", currencies=CurrencyTable(), http=http
        )

        with pytest.raises(ConfigError):
            TrustlyAdapter(AdapterConfig(), context)


class TestPlugin:
    def test_registers_through_the_hook(self) -> None:
        """The entry-point module registers the adapter through register_adapters."""
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(AdapterSpecs)
        manager.register(adapters.trustly)
        manager.check_pending()
        registered: list[type[PaymentAdapter]] = []

        manager.hook.register_adapters(register=registered.append)

        assert registered == [TrustlyAdapter]

    def test_declarations(self) -> None:
        """The adapter declares its name, kind, operations, method and paths."""
        capabilities = TrustlyAdapter.capabilities

        assert (TrustlyAdapter.name, TrustlyAdapter.kind) == ("trustly", "payment")
        assert TrustlyAdapter.config_model is TrustlyConfig
        assert TrustlyAdapter.webhook_paths == ("deposit", "payout")
        assert capabilities.methods == frozenset({PaymentMethod.BANK_TRANSFER})
        assert PaymentOperation.STATUS not in capabilities.operations
        assert PaymentOperation.WEBHOOK in capabilities.operations

    def test_imports_only_the_contract(self) -> None:
        """The adapter package imports neither the gateway nor the examples."""
        package = Path(adapters.trustly.__file__).parent
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
            "adapters.trustly.adapter",
            "adapters.trustly.config",
            "adapters.trustly.notification",
            "adapters.trustly.rpc",
            "adapters.trustly.signature",
        }
