"""The `adyen` adapter: signatures, notifications, amounts, answers and failures."""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pluggy
import pytest
import respx
from pydantic import SecretStr, ValidationError

import adapters.adyen
from adapters.adyen import AdyenAdapter, AdyenConfig
from adapters.adyen.amounts import ADYEN_EXPONENTS, adyen_exponent, from_adyen, to_adyen
from adapters.adyen.answers import REFUSALS
from adapters.adyen.signing import sign, signing_string, verifies
from contracts import (
    AdapterContext,
    AmountError,
    BadRequest,
    Callback,
    CurrencyTable,
    GamegateError,
    InvalidSignature,
    Money,
    UnknownCurrency,
)
from contracts.hookspecs import PROJECT, AdapterSpecs
from contracts.payments import (
    PaymentAdapter,
    PaymentFailure,
    PaymentKind,
    PaymentMethod,
    PaymentOperation,
    PaymentRecord,
    PaymentRequest,
    PaymentState,
)

VECTORS = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "vectors"
    / "payment-signatures.json"
)
# The HMAC key of Adyen's published example notification (vector adyen-1).
HMAC_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
API_KEY = "placeholder-api-key"
REVIEW_KEY = "placeholder-review-key"
MERCHANT = "TestMerchant"
CHECKOUT = "https://checkout.adyen.example.test"
PAYOUT = "https://pal.adyen.example.test/pal/servlet"
PAYMENT_ID = "pay_0001"
PSP = "7914073381342284"
S = PaymentState


def adyen_vectors() -> list[Any]:
    """Return the published Adyen notification vectors, or a skip if absent."""
    if not VECTORS.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{VECTORS} missing"))]
    vectors = json.loads(VECTORS.read_text())["adyen_notification_hmac"]["vectors"]
    return [pytest.param(vector, id=vector["id"]) for vector in vectors]


def vector_item(vector: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the notification item a vector's signing string was made from.

    Only the merchant reference may hold colons in these vectors, so the
    three fields before it and the four after it are split off each end.
    """
    psp, original, merchant, rest = vector["signing_string"].split(":", 3)
    reference, value, currency, code, success = rest.rsplit(":", 4)
    item: dict[str, Any] = {
        "pspReference": psp,
        "merchantAccountCode": merchant,
        "merchantReference": reference,
        "amount": {"value": int(value), "currency": currency},
        "eventCode": code,
        "success": success,
        "additionalData": {"hmacSignature": vector["expected"]},
    }
    if original:
        item["originalReference"] = original
    return item


def item(
    event_code: str = "AUTHORISATION",
    success: str = "true",
    *,
    key: str = HMAC_KEY,
    **fields: Any,
) -> dict[str, Any]:
    """Return a notification item for the test payment, signed under `key`."""
    document: dict[str, Any] = {
        "pspReference": PSP,
        "merchantAccountCode": MERCHANT,
        "merchantReference": PAYMENT_ID,
        "amount": {"value": 1130, "currency": "EUR"},
        "eventCode": event_code,
        "eventDate": "2024-05-01T12:30:00+02:00",
        "success": success,
        "reason": "",
        **fields,
    }
    signature = sign(bytes.fromhex(key), signing_string(document))
    document["additionalData"] = {
        **document.get("additionalData", {}),
        "hmacSignature": signature,
    }
    return document


def batch(*items: dict[str, Any]) -> bytes:
    """Return a notification batch body carrying the items."""
    wrapped = [{"NotificationRequestItem": one} for one in items]
    return orjson.dumps({"live": "false", "notificationItems": wrapped})


def callback(body: bytes, method: str = "POST") -> Callback:
    """Build a webhook callback as the gateway hands it over."""
    headers = {"Content-Type": "application/json"}
    return Callback(
        path="notifications", method=method, headers=headers, query={}, body=body
    )


def config(**changes: Any) -> AdyenConfig:
    """Return a test config, with `changes` applied."""
    values: dict[str, Any] = {
        "checkout_url": CHECKOUT + "/",
        "payout_url": PAYOUT,
        "api_key": API_KEY,
        "review_api_key": REVIEW_KEY,
        "merchant_account": MERCHANT,
        "hmac_key": HMAC_KEY,
        **changes,
    }
    return AdyenConfig(**values)


def make_adapter(http: httpx.AsyncClient, **changes: Any) -> AdyenAdapter:
    """Build an adapter for the `adyen-eu` instance with a test config."""
    context = AdapterContext(
        instance="adyen-eu", currencies=CurrencyTable({"CNH": 2}), http=http
    )
    return AdyenAdapter(config(**changes), context)


def request(**changes: Any) -> PaymentRequest:
    """Return a deposit request for EUR 11.30, with `changes` applied."""
    values: dict[str, Any] = {
        "payment_id": PAYMENT_ID,
        "kind": PaymentKind.DEPOSIT,
        "reference": "casino-order-1",
        "idempotency_key": "idem-0001",
        "player": "player-0001",
        "amount": Money(1130, "EUR"),
        "method": PaymentMethod.CARD,
        "country": "NL",
        "locale": "nl-NL",
        "return_url": "https://casino.example.test/cashier/return",
        **changes,
    }
    return PaymentRequest(**values)


PAYOUT_KYC = {
    "email": "player@example.test",
    "date_of_birth": "1990-01-01",
    "nationality": "NL",
    "iban": "NL32 ABNA 0515 0714 39",
    "account_holder": "P. Layer",
    "first_name": "Pat",
    "last_name": "Layer",
}


def payout_request(**changes: Any) -> PaymentRequest:
    """Return a bank payout request for EUR 20.00."""
    values: dict[str, Any] = {
        "kind": PaymentKind.PAYOUT,
        "amount": Money(2000, "EUR"),
        "method": PaymentMethod.BANK_TRANSFER,
        "kyc": PAYOUT_KYC,
        **changes,
    }
    return request(**values)


def record(**changes: Any) -> PaymentRecord:
    """Return the gateway's record of a succeeded EUR 11.30 deposit."""
    values: dict[str, Any] = {
        "payment_id": PAYMENT_ID,
        "kind": PaymentKind.DEPOSIT,
        "state": S.SUCCEEDED,
        "amount": Money(1130, "EUR"),
        "provider_reference": PSP,
        "player": "player-0001",
        **changes,
    }
    return PaymentRecord(**values)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the one the gateway hands to adapters."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def adapter(http: httpx.AsyncClient) -> AdyenAdapter:
    """An adyen adapter keyed with the vector's HMAC key, automatic capture."""
    return make_adapter(http)


class TestSignatureVector:
    @pytest.mark.parametrize("vector", adyen_vectors())
    def test_signs_the_published_vector(self, vector: dict[str, Any]) -> None:
        """The HMAC of each published signing string is the published signature."""
        key = bytes.fromhex(vector["key_hex"])

        assert sign(key, vector["signing_string"]) == vector["expected"]

    @pytest.mark.parametrize("vector", adyen_vectors())
    def test_builds_the_signing_string(self, vector: dict[str, Any]) -> None:
        """An item's signing string joins its fields unescaped, missing as empty."""
        assert signing_string(vector_item(vector)) == vector["signing_string"]

    @pytest.mark.parametrize("vector", adyen_vectors())
    def test_item_verifies(self, vector: dict[str, Any]) -> None:
        """The item a vector was made from verifies under the vector's key."""
        assert verifies(bytes.fromhex(vector["key_hex"]), vector_item(vector))

    @pytest.mark.parametrize("vector", adyen_vectors())
    def test_other_key_does_not_verify(self, vector: dict[str, Any]) -> None:
        """The same item does not verify under another key."""
        assert not verifies(bytes(32), vector_item(vector))


class TestNotificationStates:
    @pytest.mark.parametrize(
        ("event_code", "success", "capture", "state"),
        [
            ("AUTHORISATION", "true", "automatic", S.SUCCEEDED),
            ("AUTHORISATION", "true", "manual", S.AUTHORIZED),
            ("AUTHORISATION", "false", "automatic", S.FAILED),
            ("AUTHORISATION", "false", "manual", S.FAILED),
            ("CAPTURE", "true", "manual", S.SUCCEEDED),
            ("CAPTURE", "false", "manual", None),
            ("CAPTURE_FAILED", "true", "manual", S.FAILED),
            ("CANCELLATION", "true", "manual", S.CANCELED),
            ("CANCELLATION", "false", "manual", None),
            ("TECHNICAL_CANCEL", "true", "automatic", S.CANCELED),
            ("REFUND", "true", "automatic", S.REFUNDED),
            ("REFUND", "false", "automatic", None),
            ("REFUND_FAILED", "true", "automatic", S.SUCCEEDED),
            ("REFUNDED_REVERSED", "true", "automatic", S.SUCCEEDED),
            ("CHARGEBACK", "true", "automatic", S.REVERSED),
            ("SECOND_CHARGEBACK", "true", "automatic", S.REVERSED),
            ("PREARBITRATION_LOST", "true", "automatic", S.REVERSED),
            ("CHARGEBACK_REVERSED", "true", "automatic", S.SUCCEEDED),
            ("PREARBITRATION_WON", "true", "automatic", S.SUCCEEDED),
            ("OFFER_CLOSED", "true", "automatic", S.EXPIRED),
            ("MANUAL_REVIEW_REJECT", "true", "automatic", S.FAILED),
            ("MANUAL_REVIEW_ACCEPT", "true", "automatic", None),
            ("PAYOUT_THIRDPARTY", "true", "automatic", S.PAID),
            ("PAYOUT_THIRDPARTY", "false", "automatic", S.FAILED),
            ("PAYOUT_DECLINE", "true", "automatic", S.CANCELED),
            ("PAYOUT_EXPIRE", "true", "automatic", S.CANCELED),
            ("PAIDOUT_REVERSED", "true", "automatic", S.RETURNED),
            ("NOTIFICATION_OF_CHARGEBACK", "true", "automatic", None),
            ("REQUEST_FOR_INFORMATION", "true", "automatic", None),
            ("REPORT_AVAILABLE", "true", "automatic", None),
            ("SOMETHING_NEW", "true", "automatic", None),
        ],
    )
    def test_event_code_maps_to_state(
        self,
        http: httpx.AsyncClient,
        event_code: str,
        success: str,
        capture: str,
        state: PaymentState | None,
    ) -> None:
        """Each eventCode and success reads as the state the table says, or none."""
        adapter = make_adapter(http, capture=capture)

        events = adapter.parse_webhook(callback(batch(item(event_code, success))))

        assert [event.state for event in events] == ([state] if state else [])

    @pytest.mark.parametrize(
        ("action", "state"), [("cancel", S.CANCELED), ("refund", S.REFUNDED)]
    )
    def test_cancel_or_refund_follows_the_action(
        self, adapter: AdyenAdapter, action: str, state: PaymentState
    ) -> None:
        """CANCEL_OR_REFUND reads as whichever modification Adyen says it made."""
        signed = item(
            "CANCEL_OR_REFUND", additionalData={"modification.action": action}
        )

        [event] = adapter.parse_webhook(callback(batch(signed)))

        assert event.state is state


class TestNotificationEvents:
    def test_reads_the_published_example(self, adapter: AdyenAdapter) -> None:
        """Adyen's example AUTHORISATION reads as a succeeded EUR 11.30 event."""
        signed = item(merchantReference="TestPayment-1407325143704")
        assert signed["additionalData"]["hmacSignature"] == (
            "coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="
        )

        [event] = adapter.parse_webhook(callback(batch(signed)))

        assert event.event_id == f"{PSP}:AUTHORISATION:true"
        assert event.state is S.SUCCEEDED
        assert event.payment_id == "TestPayment-1407325143704"
        assert event.provider_reference == PSP
        assert event.amount == Money(1130, "EUR")
        assert event.occurred_at == datetime(
            2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))
        )
        assert event.reason == ""

    def test_modification_names_the_original_payment(
        self, adapter: AdyenAdapter
    ) -> None:
        """A refund's event carries the payment's pspReference, not the refund's."""
        signed = item("REFUND", pspReference="8515131751004933", originalReference=PSP)

        [event] = adapter.parse_webhook(callback(batch(signed)))

        assert event.provider_reference == PSP
        assert event.event_id == "8515131751004933:REFUND:true"

    def test_reason_is_kept_but_not_a_card_summary(self, adapter: AdyenAdapter) -> None:
        """Refusal and chargeback reasons pass; an authorisation's card data not."""
        failed = item("AUTHORISATION", "false", reason="Not enough balance")
        succeeded = item(
            "AUTHORISATION", pspReference="8815131751004934", reason="1234:7777:12/2030"
        )
        chargeback = item(
            "CHARGEBACK",
            pspReference="9915131751004936",
            originalReference=PSP,
            reason="Fraudulent transaction",
        )

        events = adapter.parse_webhook(callback(batch(failed, succeeded, chargeback)))

        assert [event.reason for event in events] == [
            "Not enough balance",
            "",
            "Fraudulent transaction",
        ]

    def test_expired_payout_says_so(self, adapter: AdyenAdapter) -> None:
        """A payout nobody reviewed in time is canceled with the reason `expired`."""
        [event] = adapter.parse_webhook(callback(batch(item("PAYOUT_EXPIRE"))))

        assert (event.state, event.reason) == (S.CANCELED, "expired")

    def test_duplicates_share_an_event_id(self, adapter: AdyenAdapter) -> None:
        """A repeated item gives the same event id, so the gateway keeps one."""
        signed = item()

        first = adapter.parse_webhook(callback(batch(signed)))
        again = adapter.parse_webhook(callback(batch(signed, signed)))

        assert {event.event_id for event in [*first, *again]} == {
            f"{PSP}:AUTHORISATION:true"
        }

    def test_success_and_failure_are_different_events(
        self, adapter: AdyenAdapter
    ) -> None:
        """The same pspReference and eventCode with another success is a new event."""
        events = adapter.parse_webhook(
            callback(
                batch(
                    item("PAYOUT_THIRDPARTY", "true"),
                    item("PAYOUT_THIRDPARTY", "false"),
                )
            )
        )

        assert [event.event_id for event in events] == [
            f"{PSP}:PAYOUT_THIRDPARTY:true",
            f"{PSP}:PAYOUT_THIRDPARTY:false",
        ]

    def test_other_merchant_account_is_left_out(self, adapter: AdyenAdapter) -> None:
        """A verified item for another merchant account gives no event."""
        ours = item()
        theirs = item(
            merchantAccountCode="OtherMerchant", pspReference="9915131751004935"
        )

        events = adapter.parse_webhook(callback(batch(theirs, ours)))

        assert [event.provider_reference for event in events] == [PSP]

    def test_empty_batch_gives_no_events(self, adapter: AdyenAdapter) -> None:
        """A batch without items is accepted with no events."""
        assert adapter.parse_webhook(callback(batch())) == []

    def test_amount_at_adyen_exponent(self, adapter: AdyenAdapter) -> None:
        """An ISK amount is read at Adyen's two decimals into ISO's whole krónur."""
        signed = item(amount={"value": 150000, "currency": "ISK"})

        [event] = adapter.parse_webhook(callback(batch(signed)))

        assert event.amount == Money(1500, "ISK")

    def test_odd_event_date_is_no_refusal(self, adapter: AdyenAdapter) -> None:
        """An eventDate that does not parse leaves occurred_at empty."""
        [event] = adapter.parse_webhook(callback(batch(item(eventDate="soon"))))

        assert event.occurred_at is None


class TestNotificationRefusals:
    def test_one_forged_item_refuses_the_batch(self, adapter: AdyenAdapter) -> None:
        """A batch with one item signed under another key is refused whole."""
        genuine = item()
        forged = item("REFUND", pspReference="8515131751004933", key="00" * 32)

        with pytest.raises(InvalidSignature):
            adapter.parse_webhook(callback(batch(genuine, forged)))

    def test_tampered_value_is_refused(self, adapter: AdyenAdapter) -> None:
        """An amount raised after signing no longer verifies."""
        tampered = item()
        tampered["amount"] = {"value": 113000, "currency": "EUR"}

        with pytest.raises(InvalidSignature):
            adapter.parse_webhook(callback(batch(tampered)))

    @pytest.mark.parametrize(
        "field", ["merchantReference", "pspReference", "eventCode", "success"]
    )
    def test_tampered_signed_field_is_refused(
        self, adapter: AdyenAdapter, field: str
    ) -> None:
        """Changing any signed field after signing breaks the signature."""
        tampered = item()
        tampered[field] = "false" if field == "success" else "changed"

        with pytest.raises(InvalidSignature):
            adapter.parse_webhook(callback(batch(tampered)))

    @pytest.mark.parametrize(
        "additional",
        [{}, {"hmacSignature": ""}, {"hmacSignature": None}, None],
        ids=["missing", "empty", "null", "no-additional-data"],
    )
    def test_missing_signature_is_refused(
        self, adapter: AdyenAdapter, additional: dict[str, Any] | None
    ) -> None:
        """An item without a signature is refused."""
        unsigned = item()
        if additional is None:
            del unsigned["additionalData"]
        else:
            unsigned["additionalData"] = additional

        with pytest.raises(InvalidSignature):
            adapter.parse_webhook(callback(batch(unsigned)))

    def test_signature_case_matters(self, adapter: AdyenAdapter) -> None:
        """Base64 is case-sensitive: a signature with its case swapped is refused."""
        swapped = item()
        signature = swapped["additionalData"]["hmacSignature"]
        swapped["additionalData"]["hmacSignature"] = signature.swapcase()

        with pytest.raises(InvalidSignature):
            adapter.parse_webhook(callback(batch(swapped)))

    @pytest.mark.parametrize(
        "body",
        [
            b"not json",
            b"[]",
            b'{"live": "false"}',
            b'{"notificationItems": {}}',
            b'{"notificationItems": [{"Other": {}}]}',
        ],
        ids=["not-json", "list", "no-items", "items-not-list", "unwrapped"],
    )
    def test_malformed_batch_is_bad_request(
        self, adapter: AdyenAdapter, body: bytes
    ) -> None:
        """A body that is not a notification batch is a bad request."""
        with pytest.raises(BadRequest):
            adapter.parse_webhook(callback(body))

    def test_success_must_be_text(self, adapter: AdyenAdapter) -> None:
        """A verified item whose success is not `true` or `false` is refused."""
        with pytest.raises(BadRequest):
            adapter.parse_webhook(callback(batch(item(success="yes"))))

    def test_inexact_amount_is_refused(self, adapter: AdyenAdapter) -> None:
        """A signed ISK amount in hundredths that is not whole krónur is refused."""
        signed = item(amount={"value": 150050, "currency": "ISK"})

        with pytest.raises(AmountError):
            adapter.parse_webhook(callback(batch(signed)))

    def test_get_is_refused(self, adapter: AdyenAdapter) -> None:
        """Notifications arrive by POST only."""
        with pytest.raises(BadRequest):
            adapter.parse_webhook(callback(batch(item()), method="GET"))


class TestAcknowledge:
    def test_accepts_with_the_literal_body(self, adapter: AdyenAdapter) -> None:
        """An accepted batch is answered 200 with exactly `[accepted]`."""
        body = batch(item())
        events = adapter.parse_webhook(callback(body))

        answer = adapter.acknowledge(callback(body), events)

        assert answer.status == 200
        assert answer.body == b"[accepted]"
        assert answer.content_type == "text/plain"

    def test_accepts_an_empty_batch_the_same(self, adapter: AdyenAdapter) -> None:
        """A batch with no events for the gateway is still acknowledged."""
        answer = adapter.acknowledge(callback(batch()), [])

        assert (answer.status, answer.body) == (200, b"[accepted]")

    @pytest.mark.parametrize(
        ("error", "status"),
        [
            (InvalidSignature("forged"), 401),
            (BadRequest("malformed"), 400),
            (AmountError("odd"), 400),
            (GamegateError("core fault"), 500),
        ],
    )
    def test_refusal_is_not_2xx(
        self, adapter: AdyenAdapter, error: GamegateError, status: int
    ) -> None:
        """A refused batch gets a non-2xx status, so Adyen retries it."""
        answer = adapter.render_webhook_error(callback(b"{}"), error)

        assert answer.status == status
        assert b"accepted" not in answer.body


class TestAmounts:
    @pytest.mark.parametrize(
        ("currency", "iso", "adyen"),
        [("CLP", 0, 2), ("CVE", 2, 0), ("IDR", 2, 0), ("ISK", 0, 2)],
    )
    def test_adyen_exponents_differ_from_iso(
        self, currency: str, iso: int, adyen: int
    ) -> None:
        """The four currencies Adyen documents apart from ISO 4217 use its decimals."""
        assert CurrencyTable().exponent(currency) == iso
        assert adyen_exponent(currency) == ADYEN_EXPONENTS[currency] == adyen

    @pytest.mark.parametrize(
        ("money", "value"),
        [
            (Money(1130, "EUR"), 1130),
            (Money(500, "JPY"), 500),
            (Money(1234, "BHD"), 1234),
            (Money(1000, "CLP"), 100000),
            (Money(1500, "ISK"), 150000),
            (Money(12300, "IDR"), 123),
            (Money(500, "CVE"), 5),
            (Money(888, "CNH"), 888),
            (Money(0, "EUR"), 0),
        ],
        ids=lambda value: str(value),
    )
    def test_converts_both_ways(self, money: Money, value: int) -> None:
        """Gateway minor units and Adyen's convert exactly, each way."""
        currencies = CurrencyTable({"CNH": 2})
        adyen = {"value": value, "currency": money.currency}

        assert to_adyen(money, currencies) == adyen
        assert from_adyen(adyen, currencies) == money

    @pytest.mark.parametrize(
        "money",
        [Money(12345, "IDR"), Money(501, "CVE"), Money(1, "IDR")],
        ids=str,
    )
    def test_refuses_to_round_out(self, money: Money) -> None:
        """An amount finer than Adyen's exponent is refused, not rounded."""
        with pytest.raises(AmountError):
            to_adyen(money, CurrencyTable())

    @pytest.mark.parametrize(
        "amount",
        [
            {"value": 150, "currency": "CLP"},
            {"value": 99, "currency": "ISK"},
            {"value": 11.3, "currency": "EUR"},
            {"value": True, "currency": "EUR"},
            {"value": "1130", "currency": "EUR"},
            {"value": -1, "currency": "EUR"},
            "1130 EUR",
        ],
        ids=["clp-cents", "isk-aurar", "float", "bool", "string", "negative", "text"],
    )
    def test_refuses_odd_adyen_amounts(self, amount: Any) -> None:
        """An Adyen amount that is not exact integer minor units is refused."""
        with pytest.raises(BadRequest):
            from_adyen(amount, CurrencyTable())

    @pytest.mark.parametrize("currency", ["XYZ", "BTC"])
    def test_unknown_currency(self, currency: str) -> None:
        """A currency Adyen's table and ISO 4217 both lack is refused."""
        with pytest.raises(UnknownCurrency):
            adyen_exponent(currency)

    async def test_inexact_deposit_is_never_sent(self, adapter: AdyenAdapter) -> None:
        """A deposit Adyen's exponent cannot carry is declined before any call."""
        with respx.mock(base_url=CHECKOUT, assert_all_called=False) as router:
            route = router.post("/v71/sessions").respond(201, json=SESSION)
            with pytest.raises(PaymentFailure) as raised:
                await adapter.create_deposit(request(amount=Money(12345, "IDR")))

        assert raised.value.outcome == "declined"
        assert raised.value.shareable is False
        assert raised.value.may_fall_back is True
        assert not route.called


SESSION = {
    "amount": {"value": 1130, "currency": "EUR"},
    "expiresAt": "2024-05-01T13:30:00+02:00",
    "id": "CS1234567890ABCDEF",
    "merchantAccount": MERCHANT,
    "mode": "embedded",
    "reference": PAYMENT_ID,
    "returnUrl": "https://casino.example.test/cashier/return",
    "sessionData": "Ab02b4c0!BQABAgA...",
}


class TestDeposit:
    async def test_session_for_the_drop_in(self, adapter: AdyenAdapter) -> None:
        """A card deposit opens a session whose sessionData is the client secret."""
        with respx.mock(base_url=CHECKOUT, assert_all_called=True) as router:
            route = router.post("/v71/sessions").respond(201, json=SESSION)
            result = await adapter.create_deposit(request())

        assert result.state is S.REQUIRES_ACTION
        assert result.provider_reference is None
        assert result.action is not None
        assert result.action.kind == "client_secret"
        assert result.action.value == SESSION["sessionData"]
        assert result.action.details["session_id"] == SESSION["id"]
        sent = route.calls.last.request
        assert sent.headers["X-API-Key"] == API_KEY
        assert sent.headers["Idempotency-Key"] == "idem-0001"
        assert orjson.loads(sent.content) == {
            "merchantAccount": MERCHANT,
            "amount": {"value": 1130, "currency": "EUR"},
            "reference": PAYMENT_ID,
            "merchantOrderReference": "casino-order-1",
            "returnUrl": "https://casino.example.test/cashier/return",
            "shopperReference": "player-0001",
            "countryCode": "NL",
            "shopperLocale": "nl-NL",
            "mode": "embedded",
            "allowedPaymentMethods": ["scheme"],
        }

    async def test_long_idempotency_key_is_hashed(self, adapter: AdyenAdapter) -> None:
        """A key longer than Adyen's 64 characters is sent as its SHA-256, stably."""
        long_key = "k" * 100

        with respx.mock(base_url=CHECKOUT) as router:
            route = router.post("/v71/sessions").respond(201, json=SESSION)
            await adapter.create_deposit(request(idempotency_key=long_key))
            await adapter.create_deposit(request(idempotency_key=long_key))

        sent = [call.request.headers["Idempotency-Key"] for call in route.calls]
        assert sent[0] == sent[1] == hashlib.sha256(long_key.encode()).hexdigest()

    async def test_hosted_session_redirects(self, http: httpx.AsyncClient) -> None:
        """With session_mode hosted, the player is redirected to Adyen's page."""
        adapter = make_adapter(http, session_mode="hosted")
        hosted = {**SESSION, "mode": "hosted", "url": "https://test.adyen.link/CS12"}

        with respx.mock(base_url=CHECKOUT) as router:
            route = router.post("/v71/sessions").respond(201, json=hosted)
            result = await adapter.create_deposit(request(method=PaymentMethod.EWALLET))

        assert result.action is not None
        assert (result.action.kind, result.action.value) == (
            "redirect",
            "https://test.adyen.link/CS12",
        )
        sent = orjson.loads(route.calls.last.request.content)
        assert (sent["mode"], "allowedPaymentMethods" in sent) == ("hosted", False)

    async def test_redirect_method_goes_through_payments(
        self, http: httpx.AsyncClient
    ) -> None:
        """A method in redirect_methods is started with /payments and its type."""
        adapter = make_adapter(http, redirect_methods={"bank_transfer": "trustly"})
        redirect = {
            "resultCode": "RedirectShopper",
            "action": {
                "paymentMethodType": "trustly",
                "url": "https://checkoutshopper-test.adyen.com/redirect",
                "method": "GET",
                "type": "redirect",
            },
        }

        with respx.mock(base_url=CHECKOUT) as router:
            route = router.post("/v71/payments").respond(200, json=redirect)
            result = await adapter.create_deposit(
                request(method=PaymentMethod.BANK_TRANSFER)
            )

        assert result.state is S.REQUIRES_ACTION
        assert result.action is not None
        assert result.action.kind == "redirect"
        assert result.action.details == {"method": "GET"}
        sent = orjson.loads(route.calls.last.request.content)
        assert sent["paymentMethod"] == {"type": "trustly"}
        assert "mode" not in sent

    async def test_needs_a_return_url(self, adapter: AdyenAdapter) -> None:
        """Without a return URL the deposit is declined before any call."""
        with respx.mock(base_url=CHECKOUT, assert_all_called=False) as router:
            route = router.post("/v71/sessions").respond(201, json=SESSION)
            with pytest.raises(PaymentFailure) as raised:
                await adapter.create_deposit(request(return_url=None))

        assert (raised.value.outcome, raised.value.shareable) == ("declined", False)
        assert not route.called


REDIRECT_GET = {"type": "redirect", "method": "GET", "url": "https://bank.test/pay"}
REDIRECT_POST = {
    "type": "redirect",
    "method": "POST",
    "url": "https://issuer.test/3ds",
    "data": {"MD": "md-1", "PaReq": "pareq-1", "TermUrl": "https://t.test"},
}
THREEDS = {"type": "threeDS2", "subtype": "fingerprint", "token": "tok-1"}


class TestPaymentAnswers:
    @pytest.mark.parametrize(
        ("answer", "state", "action_kind"),
        [
            ({"resultCode": "Authorised", "pspReference": PSP}, S.AUTHORIZED, None),
            ({"resultCode": "Pending", "pspReference": PSP}, S.PENDING, None),
            ({"resultCode": "Received", "pspReference": PSP}, S.PENDING, None),
            (
                {"resultCode": "RedirectShopper", "action": REDIRECT_GET},
                S.REQUIRES_ACTION,
                "redirect",
            ),
            (
                {"resultCode": "RedirectShopper", "action": REDIRECT_POST},
                S.REQUIRES_ACTION,
                "redirect",
            ),
            (
                {"resultCode": "IdentifyShopper", "action": THREEDS},
                S.REQUIRES_ACTION,
                "client_secret",
            ),
            (
                {"resultCode": "ChallengeShopper", "action": THREEDS},
                S.REQUIRES_ACTION,
                "client_secret",
            ),
            (
                {"resultCode": "PresentToShopper", "action": {"type": "voucher"}},
                S.REQUIRES_ACTION,
                "client_secret",
            ),
            (
                {"resultCode": "Pending", "action": {"type": "await"}},
                S.PENDING,
                "client_secret",
            ),
        ],
        ids=[
            "authorised",
            "pending",
            "received",
            "redirect-get",
            "redirect-post",
            "identify",
            "challenge",
            "present",
            "pending-await",
        ],
    )
    async def test_answer_maps_to_result(
        self,
        http: httpx.AsyncClient,
        answer: dict[str, Any],
        state: PaymentState,
        action_kind: str | None,
    ) -> None:
        """Each resultCode reads as its state, with the action the player needs."""
        adapter = make_adapter(http, redirect_methods={"card": "scheme"})

        with respx.mock(base_url=CHECKOUT) as router:
            router.post("/v71/payments").respond(200, json=answer)
            result = await adapter.create_deposit(request())

        assert result.state is state
        assert result.provider_reference == answer.get("pspReference")
        assert (result.action.kind if result.action else None) == action_kind

    async def test_post_redirect_carries_its_form(
        self, http: httpx.AsyncClient
    ) -> None:
        """A POST redirect hands its form fields over as JSON in the details."""
        adapter = make_adapter(http, redirect_methods={"card": "scheme"})
        answer = {"resultCode": "RedirectShopper", "action": REDIRECT_POST}

        with respx.mock(base_url=CHECKOUT) as router:
            router.post("/v71/payments").respond(200, json=answer)
            result = await adapter.create_deposit(request())

        assert result.action is not None
        assert result.action.details["method"] == "POST"
        assert orjson.loads(result.action.details["data"]) == REDIRECT_POST["data"]

    async def test_web_component_action_is_handed_over_whole(
        self, http: httpx.AsyncClient
    ) -> None:
        """A 3D Secure 2 action reaches the casino's page as the action object."""
        adapter = make_adapter(http, redirect_methods={"card": "scheme"})
        answer = {"resultCode": "IdentifyShopper", "action": THREEDS}

        with respx.mock(base_url=CHECKOUT) as router:
            router.post("/v71/payments").respond(200, json=answer)
            result = await adapter.create_deposit(request())

        assert result.action is not None
        assert orjson.loads(result.action.value) == THREEDS
        assert result.action.details["action_type"] == "threeDS2"

    @pytest.mark.parametrize(
        "answer",
        [
            {"resultCode": "PartiallyAuthorised", "pspReference": PSP},
            {"resultCode": "SomethingNew"},
            {"pspReference": PSP},
            {"resultCode": "RedirectShopper"},
        ],
        ids=["partial", "new-code", "no-code", "action-missing"],
    )
    async def test_unreadable_answer_is_unknown(
        self, http: httpx.AsyncClient, answer: dict[str, Any]
    ) -> None:
        """An answer the adapter cannot place leaves the outcome unknown."""
        adapter = make_adapter(http, redirect_methods={"card": "scheme"})

        with respx.mock(base_url=CHECKOUT) as router:
            router.post("/v71/payments").respond(200, json=answer)
            with pytest.raises(PaymentFailure) as raised:
                await adapter.create_deposit(request())

        assert raised.value.outcome == "unknown"
        assert raised.value.may_fall_back is False

    @pytest.mark.parametrize(
        "answer",
        [{"id": "CS1"}, {"sessionData": "x"}, {"id": "CS1", "sessionData": ""}],
        ids=["no-data", "no-id", "empty-data"],
    )
    async def test_unreadable_session_is_unknown(
        self, adapter: AdyenAdapter, answer: dict[str, Any]
    ) -> None:
        """A session answer without its id and data leaves the outcome unknown."""
        with respx.mock(base_url=CHECKOUT) as router:
            router.post("/v71/sessions").respond(201, json=answer)
            with pytest.raises(PaymentFailure) as raised:
                await adapter.create_deposit(request())

        assert raised.value.outcome == "unknown"


class TestRefusals:
    @pytest.mark.parametrize(
        ("result_code", "reason", "code", "shareable"),
        [
            ("Refused", "Not enough balance", "12", True),
            ("Refused", "Expired Card", "6", True),
            ("Refused", "CVC Declined", "24", True),
            ("Refused", "FRAUD", "20", True),
            ("Refused", "Issuer Suspected Fraud", "31", True),
            ("Refused", "Blocked Card", "5", True),
            ("Refused", "Refused", "2", True),
            ("Refused", "Acquirer Error", "4", False),
            ("Refused", "Issuer Unavailable", "9", False),
            ("Refused", "Not Supported", "10", False),
            ("Refused", "Not Submitted", "21", False),
            ("Error", "Acquirer Error", "4", False),
            ("Error", "Unable to process", None, False),
            ("Refused", "Something new", "99", True),
            ("Cancelled", "Cancelled", "15", True),
            ("Cancelled", None, None, True),
        ],
    )
    async def test_refusal_reason_decides_shareable(
        self,
        http: httpx.AsyncClient,
        result_code: str,
        reason: str | None,
        code: str | None,
        shareable: bool,
    ) -> None:
        """A refusal is declined, shareable when it belongs to the player or card."""
        adapter = make_adapter(http, redirect_methods={"card": "scheme"})
        answer = {"resultCode": result_code, "pspReference": PSP}
        if reason is not None:
            answer["refusalReason"] = reason
        if code is not None:
            answer["refusalReasonCode"] = code

        with respx.mock(base_url=CHECKOUT) as router:
            router.post("/v71/payments").respond(200, json=answer)
            with pytest.raises(PaymentFailure) as raised:
                await adapter.create_deposit(request())

        assert raised.value.outcome == "declined"
        assert raised.value.shareable is shareable
        assert raised.value.may_fall_back is (not shareable)

    def test_documented_reasons_have_codes(self) -> None:
        """The table's codes and reasons are the ones Adyen documents, spot-checked."""
        assert REFUSALS["12"] == ("Not enough balance", True)
        assert REFUSALS["4"] == ("Acquirer Error", False)
        assert REFUSALS["9"] == ("Issuer Unavailable", False)
        assert REFUSALS["10"] == ("Not supported", False)


class TestFailures:
    @pytest.mark.parametrize(
        ("side_effect", "outcome"),
        [
            (httpx.ConnectError("refused"), "unreachable"),
            (httpx.ConnectTimeout("slow connect"), "unreachable"),
            (httpx.PoolTimeout("no connection free"), "unreachable"),
            (httpx.ReadTimeout("slow answer"), "unknown"),
            (httpx.WriteTimeout("slow send"), "unknown"),
            (httpx.RemoteProtocolError("dropped"), "unknown"),
            (httpx.ReadError("reset"), "unknown"),
        ],
        ids=lambda value: (
            type(value).__name__ if isinstance(value, Exception) else value
        ),
    )
    async def test_transport_failure(
        self, adapter: AdyenAdapter, side_effect: Exception, outcome: str
    ) -> None:
        """A failure before sending is unreachable; one after sending is unknown."""
        with respx.mock(base_url=CHECKOUT) as router:
            router.post("/v71/sessions").mock(side_effect=side_effect)
            with pytest.raises(PaymentFailure) as raised:
                await adapter.create_deposit(request())

        assert raised.value.outcome == outcome
        assert raised.value.may_fall_back is (outcome == "unreachable")

    @pytest.mark.parametrize(
        ("status", "body", "outcome", "shareable"),
        [
            (500, {"status": 500, "errorCode": "905"}, "unknown", True),
            (502, b"<html>bad gateway</html>", "unknown", True),
            (503, b"", "unknown", True),
            (422, {"status": 422, "errorCode": "704"}, "unknown", True),
            (409, {"status": 409, "errorCode": "704"}, "unknown", True),
            (302, b"", "unknown", True),
            (200, b"<html>a proxy page</html>", "unknown", True),
            (200, b"[]", "unknown", True),
            (401, {"status": 401, "errorCode": "000"}, "declined", False),
            (403, {"status": 403, "errorCode": "901"}, "declined", False),
            (422, {"status": 422, "errorCode": "137"}, "declined", False),
            (400, b"", "declined", False),
        ],
        ids=[
            "500",
            "502-html",
            "503-empty",
            "422-in-progress",
            "409-in-progress",
            "302",
            "200-html",
            "200-list",
            "401",
            "403",
            "422-validation",
            "400",
        ],
    )
    async def test_answer_failure(
        self,
        adapter: AdyenAdapter,
        status: int,
        body: dict[str, Any] | bytes,
        outcome: str,
        shareable: bool,
    ) -> None:
        """A 5xx or an unreadable answer is unknown; a plain 4xx is declined."""
        response = (
            httpx.Response(status, json=body)
            if isinstance(body, dict)
            else httpx.Response(status, content=body)
        )

        with respx.mock(base_url=CHECKOUT) as router:
            router.post("/v71/sessions").mock(return_value=response)
            with pytest.raises(PaymentFailure) as raised:
                await adapter.create_deposit(request())

        assert (raised.value.outcome, raised.value.shareable) == (outcome, shareable)

    async def test_api_key_never_in_the_message(self, adapter: AdyenAdapter) -> None:
        """A failure's message and context never carry the API key."""
        with respx.mock(base_url=CHECKOUT) as router:
            router.post("/v71/sessions").respond(401, json={"errorCode": "000"})
            with pytest.raises(PaymentFailure) as raised:
                await adapter.create_deposit(request())

        assert API_KEY not in str(raised.value)
        assert API_KEY not in repr(raised.value.context)


SUBMITTED = {
    "pspReference": "8815131768219992",
    "resultCode": "[payout-submit-received]",
}


class TestPayout:
    async def test_submits_for_review(self, adapter: AdyenAdapter) -> None:
        """A bank payout is stored and submitted, then waits for approval."""
        with respx.mock(base_url=PAYOUT, assert_all_called=True) as router:
            route = router.post("/Payout/v68/storeDetailAndSubmitThirdParty").respond(
                200, json=SUBMITTED
            )
            result = await adapter.create_payout(payout_request())

        assert result.state is S.PENDING_APPROVAL
        assert result.provider_reference == "8815131768219992"
        sent = route.calls.last.request
        assert sent.headers["X-API-Key"] == API_KEY
        assert sent.headers["Idempotency-Key"] == "idem-0001"
        assert orjson.loads(sent.content) == {
            "merchantAccount": MERCHANT,
            "amount": {"value": 2000, "currency": "EUR"},
            "reference": PAYMENT_ID,
            "recurring": {"contract": "PAYOUT"},
            "shopperReference": "player-0001",
            "shopperEmail": "player@example.test",
            "shopperName": {"firstName": "Pat", "lastName": "Layer"},
            "dateOfBirth": "1990-01-01",
            "nationality": "NL",
            "entityType": "NaturalPerson",
            "bank": {
                "iban": "NL32ABNA0515071439",
                "ownerName": "P. Layer",
                "countryCode": "NL",
            },
        }

    @pytest.mark.parametrize(
        "changes",
        [
            {"method": PaymentMethod.CARD},
            {"kyc": {**PAYOUT_KYC, "iban": ""}},
            {"kyc": {k: v for k, v in PAYOUT_KYC.items() if k != "date_of_birth"}},
            {"amount": Money(1, "IDR")},
        ],
        ids=["card", "no-iban", "no-birth-date", "inexact"],
    )
    async def test_refused_before_sending(
        self, adapter: AdyenAdapter, changes: dict[str, Any]
    ) -> None:
        """A payout Adyen could not take is declined before any call."""
        with respx.mock(base_url=PAYOUT, assert_all_called=False) as router:
            route = router.post("/Payout/v68/storeDetailAndSubmitThirdParty").respond(
                200, json=SUBMITTED
            )
            with pytest.raises(PaymentFailure) as raised:
                await adapter.create_payout(payout_request(**changes))

        assert (raised.value.outcome, raised.value.shareable) == ("declined", False)
        assert not route.called

    async def test_refused_submission(self, adapter: AdyenAdapter) -> None:
        """A submission Adyen refuses is declined with its reason."""
        refused = {"pspReference": "1", "resultCode": "Refused", "refusalReason": "X"}

        with respx.mock(base_url=PAYOUT) as router:
            router.post("/Payout/v68/storeDetailAndSubmitThirdParty").respond(
                200, json=refused
            )
            with pytest.raises(PaymentFailure) as raised:
                await adapter.create_payout(payout_request())

        assert raised.value.outcome == "declined"
        assert "X" in raised.value.message

    async def test_confirm_uses_the_review_key(self, adapter: AdyenAdapter) -> None:
        """Confirming a payout is the reviewer's call, and it then processes."""
        payout = record(
            kind=PaymentKind.PAYOUT,
            state=S.PENDING_APPROVAL,
            provider_reference="8815131768219992",
        )
        confirmed = {"pspReference": "8815", "response": "[payout-confirm-received]"}

        with respx.mock(base_url=PAYOUT) as router:
            route = router.post("/Payout/v68/confirmThirdParty").respond(
                200, json=confirmed
            )
            result = await adapter.confirm_payout(payout)

        assert result.state is S.PROCESSING
        sent = route.calls.last.request
        assert sent.headers["X-API-Key"] == REVIEW_KEY
        assert sent.headers["Idempotency-Key"] == f"{PAYMENT_ID}/confirmThirdParty"
        assert orjson.loads(sent.content) == {
            "merchantAccount": MERCHANT,
            "originalReference": "8815131768219992",
        }

    async def test_void_declines_a_payout(self, adapter: AdyenAdapter) -> None:
        """Voiding a payout under review declines it with the reviewer's key."""
        payout = record(kind=PaymentKind.PAYOUT, state=S.PENDING_APPROVAL)
        declined = {"pspReference": "8816", "response": "[payout-decline-received]"}

        with respx.mock(base_url=PAYOUT) as router:
            route = router.post("/Payout/v68/declineThirdParty").respond(
                200, json=declined
            )
            result = await adapter.void(payout)

        assert result.state is S.CANCELED
        assert route.calls.last.request.headers["X-API-Key"] == REVIEW_KEY

    async def test_review_needs_the_review_key(self, http: httpx.AsyncClient) -> None:
        """Without a review key, a payout cannot be confirmed through the API."""
        adapter = make_adapter(http, review_api_key=None)
        payout = record(kind=PaymentKind.PAYOUT, state=S.PENDING_APPROVAL)

        with pytest.raises(PaymentFailure) as raised:
            await adapter.confirm_payout(payout)

        assert raised.value.outcome == "declined"


RECEIVED = {
    "merchantAccount": MERCHANT,
    "paymentPspReference": PSP,
    "pspReference": "8515131751004933",
    "reference": PAYMENT_ID,
    "status": "received",
}


class TestModifications:
    async def test_refund_waits_for_the_notification(
        self, adapter: AdyenAdapter
    ) -> None:
        """A refund is received, not done: the state stays until REFUND arrives."""
        with respx.mock(base_url=CHECKOUT, assert_all_called=True) as router:
            route = router.post(f"/v71/payments/{PSP}/refunds").respond(
                201, json=RECEIVED
            )
            result = await adapter.refund(record(), Money(500, "EUR"))

        assert result.state is S.SUCCEEDED
        assert result.provider_reference == PSP
        assert "REFUND" in result.message
        sent = route.calls.last.request
        assert sent.headers["Idempotency-Key"] == f"{PAYMENT_ID}/refund/500"
        assert orjson.loads(sent.content) == {
            "merchantAccount": MERCHANT,
            "reference": PAYMENT_ID,
            "amount": {"value": 500, "currency": "EUR"},
        }

    async def test_void_cancels_by_psp_reference(self, adapter: AdyenAdapter) -> None:
        """An authorized deposit is cancelled under its pspReference."""
        authorized = record(state=S.AUTHORIZED)

        with respx.mock(base_url=CHECKOUT, assert_all_called=True) as router:
            router.post(f"/v71/payments/{PSP}/cancels").respond(201, json=RECEIVED)
            result = await adapter.void(authorized)

        assert result.state is S.AUTHORIZED

    async def test_void_cancels_by_our_reference(self, adapter: AdyenAdapter) -> None:
        """A deposit Adyen has not named yet is cancelled by the gateway's id."""
        unnamed = record(state=S.REQUIRES_ACTION, provider_reference=None)

        with respx.mock(base_url=CHECKOUT, assert_all_called=True) as router:
            route = router.post("/v71/cancels").respond(201, json=RECEIVED)
            await adapter.void(unnamed)

        assert orjson.loads(route.calls.last.request.content) == {
            "merchantAccount": MERCHANT,
            "reference": PAYMENT_ID,
            "paymentReference": PAYMENT_ID,
        }

    async def test_capture(self, http: httpx.AsyncClient) -> None:
        """With manual capture, a capture is asked for and CAPTURE settles it."""
        adapter = make_adapter(http, capture="manual")

        with respx.mock(base_url=CHECKOUT, assert_all_called=True) as router:
            route = router.post(f"/v71/payments/{PSP}/captures").respond(
                201, json=RECEIVED
            )
            result = await adapter.capture(
                record(state=S.AUTHORIZED), Money(1130, "EUR")
            )

        assert result.state is S.AUTHORIZED
        assert route.calls.last.request.headers["Idempotency-Key"] == (
            f"{PAYMENT_ID}/capture/1130"
        )

    async def test_refund_needs_a_psp_reference(self, adapter: AdyenAdapter) -> None:
        """A deposit Adyen never named cannot be refunded."""
        with pytest.raises(PaymentFailure) as raised:
            await adapter.refund(record(provider_reference=None), Money(1, "EUR"))

        assert raised.value.outcome == "declined"

    async def test_answer_not_received_is_unknown(self, adapter: AdyenAdapter) -> None:
        """A modification answer without `received` leaves the outcome unknown."""
        with respx.mock(base_url=CHECKOUT) as router:
            router.post(f"/v71/payments/{PSP}/refunds").respond(201, json={"a": 1})
            with pytest.raises(PaymentFailure) as raised:
                await adapter.refund(record(), Money(500, "EUR"))

        assert raised.value.outcome == "unknown"


class TestPlugin:
    def test_declares_the_contract(self) -> None:
        """The adapter declares its name, config, operations and webhook path."""
        assert issubclass(AdyenAdapter, PaymentAdapter)
        assert AdyenAdapter.name == "adyen"
        assert AdyenAdapter.kind == "payment"
        assert AdyenAdapter.config_model is AdyenConfig
        assert AdyenAdapter.webhook_paths == ("notifications",)
        assert PaymentOperation.STATUS not in AdyenAdapter.capabilities.operations
        assert PaymentMethod.CRYPTO not in AdyenAdapter.capabilities.methods

    def test_registers_through_the_hook(self) -> None:
        """The entry-point module registers the adapter through register_adapters."""
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(AdapterSpecs)
        manager.register(adapters.adyen)
        manager.check_pending()
        registered: list[type[PaymentAdapter]] = []

        manager.hook.register_adapters(register=registered.append)

        assert registered == [AdyenAdapter]

    def test_imports_only_the_contract(self) -> None:
        """The adapter imports contracts, the standard library and libraries only."""
        package = Path(adapters.adyen.__file__).parent
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
            f"adapters.adyen.{path.stem}" for path in package.glob("*.py")
        } | {"adapters.adyen"}


class TestConfig:
    @pytest.mark.parametrize(
        "changes",
        [
            {"checkout_url": "ftp://checkout.adyen.example.test"},
            {"payout_url": "pal.adyen.example.test"},
            {"checkout_url": "https://checkout.adyen.example.test/?a=1"},
            {"api_key": ""},
            {"review_api_key": ""},
            {"merchant_account": ""},
            {"hmac_key": "not hex"},
            {"hmac_key": "ABC"},
            {"hmac_key": ""},
            {"timeout_seconds": 0},
            {"capture": "sometimes"},
            {"session_mode": "popup"},
            {"redirect_methods": {"cash": "ideal"}},
            {"surprise": True},
        ],
        ids=[
            "ftp",
            "no-scheme",
            "query",
            "empty-api-key",
            "empty-review-key",
            "empty-merchant",
            "hmac-not-hex",
            "hmac-odd-length",
            "hmac-empty",
            "zero-timeout",
            "capture",
            "session-mode",
            "unknown-method",
            "unknown-key",
        ],
    )
    def test_refused(self, changes: dict[str, Any]) -> None:
        """A config the adapter could not work with fails validation."""
        with pytest.raises(ValidationError):
            config(**changes)

    def test_secrets_are_not_shown(self) -> None:
        """API keys and the HMAC key never appear in the config's repr."""
        shown = repr(config())

        assert API_KEY not in shown
        assert REVIEW_KEY not in shown
        assert HMAC_KEY not in shown

    def test_trailing_slash_goes(self) -> None:
        """A trailing slash on an API root is dropped, so paths join cleanly."""
        assert config().checkout_url == CHECKOUT
        assert config(payout_url=PAYOUT + "/").payout_url == PAYOUT

    def test_review_key_is_optional(self) -> None:
        """Without a review key, payouts are reviewed in the Customer Area."""
        assert config(review_api_key=None).review_api_key is None
        assert isinstance(config().api_key, SecretStr)
