"""The `adyen` adapter: Adyen's Checkout API, classic Payout API and webhooks.

What it supports
- operations: deposits (`POST {checkout_url}/v71/sessions` for the Drop-in or
  the hosted page; `POST /v71/payments` with a redirect for the methods in
  `redirect_methods`), payouts to bank accounts (`POST {payout_url}/Payout/v68/
  storeDetailAndSubmitThirdParty`, then `confirmThirdParty` or
  `declineThirdParty` under the reviewer's own API key), refunds
  (`/payments/{pspReference}/refunds`), voids (`/cancels`, or a payout's
  decline), captures (`/captures`) and the standard notification webhook.
  Adyen has no status query: its notifications are the source of truth.
- methods: card, bank transfer and e-wallet deposits; bank transfer payouts.
- currencies: every currency Adyen counts with a known exponent; amounts are
  converted to Adyen's exponents (`adapters.adyen.amounts`) and one that
  does not convert exactly is refused before anything is sent.
- signature: each notification item's `additionalData.hmacSignature`, the
  base64 HMAC-SHA256 of eight of its fields under the hex HMAC key
  (`adapters.adyen.signing`); a batch with one item that does not verify is
  refused whole. Outbound calls carry `X-API-Key`.
- money format: `{"value": <integer minor units>, "currency": "EUR"}`.
- idempotency: every call carries `Idempotency-Key`; Adyen answers a repeat
  as the first (https://docs.adyen.com/development-resources/
  api-idempotency; keys of at most 64 characters, so a longer one is sent
  as its SHA-256). A create sends the request's own key; a refund, capture,
  void or review derives one from the payment id, the operation and the
  amount, since the contract hands over no key for them.
- acknowledgement: HTTP 200 with the body `[accepted]`, which Adyen required
  until it began accepting any 2xx (https://www.adyen.com/knowledge-hub/
  webhooks-accept-2xx); both readings are met.

Payouts use the classic Payout API because its review step is the one the
gateway's `pending_approval` models: a submitter credential stores and
submits, and only a reviewer credential confirms or declines, within seven
days before the payout expires. Its notifications are standard ones, under
the same HMAC as deposits. Adyen takes no new integrations on it and points
them to the Transfers API, whose payouts need a balance platform and sign
their webhooks differently; that move is a second adapter, not a setting.

Payout states: requested, then `pending_approval` once Adyen holds the
submitted payout for review, `processing` once the reviewer confirmed it,
`paid` on PAYOUT_THIRDPARTY, `failed` if that says no, `canceled` on a
decline or an expiry, `returned` on PAIDOUT_REVERSED.

How failures read (`PaymentFailure.outcome`):

| what happened                                   | outcome     | shareable |
| ----------------------------------------------- | ----------- | --------- |
| connection refused, DNS, connect or pool        | unreachable | -         |
| timeout: nothing was sent                       |             |           |
| read or write timeout, a dropped connection,    | unknown     | -         |
| HTTP 5xx, a 3xx, an answer that is not JSON     |             |           |
| HTTP 409 or 422 with errorCode 704 (the same    | unknown     | -         |
| key is still being processed)                   |             |           |
| any other 4xx (credentials, validation)         | declined    | False     |
| an amount Adyen's exponent cannot carry, a      | declined    | False     |
| method or detail this route lacks               |             |           |
| resultCode Refused, Error, Cancelled            | declined    | by reason |
|                                                 |             | (answers) |
| a payout submission Adyen did not receive       | declined    | True      |
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
import orjson

from adapters.adyen import payload
from adapters.adyen.answers import (
    REFUSED_RESULTS,
    RESULT_STATES,
    UNKNOWN_SHAREABLE,
    payment_action,
    refusal,
    session_action,
)
from adapters.adyen.config import AdyenConfig
from adapters.adyen.notifications import read_batch
from contracts import (
    AdapterConfig,
    AdapterContext,
    BadRequest,
    Callback,
    CallbackAnswer,
    ConfigError,
    CurrencyTable,
    GamegateError,
    InvalidSignature,
    Money,
)
from contracts.payments import (
    NextAction,
    PaymentAdapter,
    PaymentCapabilities,
    PaymentEvent,
    PaymentFailure,
    PaymentKind,
    PaymentMethod,
    PaymentOperation,
    PaymentRecord,
    PaymentRequest,
    PaymentResult,
    PaymentState,
)

CHECKOUT_VERSION = "v71"
PAYOUT_VERSION = "v68"
API_KEY_HEADER = "X-API-Key"
IDEMPOTENCY_HEADER = "Idempotency-Key"
ACKNOWLEDGEMENT = b"[accepted]"
PAYOUT_SUBMITTED = "[payout-submit-received]"
PAYOUT_CONFIRMED = "[payout-confirm-received]"
PAYOUT_DECLINED = "[payout-decline-received]"
IN_PROGRESS = "704"
IDEMPOTENCY_MAX = 64

# A body builder of `adapters.adyen.payload`: request, merchant account, table.
_Builder = Callable[[PaymentRequest, str, CurrencyTable], dict[str, Any]]

# Failures raised before a byte of the request left: nothing happened.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)


class AdyenAdapter(PaymentAdapter):
    """Translates Adyen's APIs and standard notifications to and from the contract."""

    name = "adyen"
    version = "0.1.0"
    config_model = AdyenConfig
    capabilities = PaymentCapabilities(
        operations=frozenset(
            {
                PaymentOperation.CREATE_DEPOSIT,
                PaymentOperation.CREATE_PAYOUT,
                PaymentOperation.REFUND,
                PaymentOperation.VOID,
                PaymentOperation.WEBHOOK,
            }
        ),
        methods=frozenset(
            {PaymentMethod.CARD, PaymentMethod.BANK_TRANSFER, PaymentMethod.EWALLET}
        ),
        signature="additionalData.hmacSignature per item: base64 HMAC-SHA256, hex key",
        money_format="{value, currency}: integer minor units at Adyen's exponents",
    )
    webhook_paths = ("notifications",)

    config: AdyenConfig

    def __init__(self, config: AdapterConfig, context: AdapterContext) -> None:
        if not isinstance(config, AdyenConfig):
            raise ConfigError("adyen needs an AdyenConfig", instance=context.instance)
        super().__init__(config, context)
        self._hmac_key = bytes.fromhex(config.hmac_key.get_secret_value())

    async def create_deposit(self, request: PaymentRequest) -> PaymentResult:
        """Open a session for the Drop-in or hosted page, or a redirect payment."""
        document = self._body(payload.deposit, request)
        method_type = self.config.redirect_methods.get(request.method)
        if method_type is None:
            document["mode"] = self.config.session_mode
            if request.method is PaymentMethod.CARD:
                document["allowedPaymentMethods"] = list(payload.CARD_TYPES)
            answer = await self._checkout("sessions", document, request)

            return PaymentResult(
                state=PaymentState.REQUIRES_ACTION,
                action=self._read(answer, request.payment_id, session_action),
                message="session created",
            )

        document["paymentMethod"] = {"type": method_type}
        answer = await self._checkout("payments", document, request)

        return self._payment_result(answer, request.payment_id)

    async def create_payout(self, request: PaymentRequest) -> PaymentResult:
        """Store the bank details and submit the payout for Adyen's review step."""
        if request.method is not PaymentMethod.BANK_TRANSFER:
            raise self._refused(
                f"adyen pays out to bank accounts only, not {request.method}",
                request.payment_id,
            )
        document = self._body(payload.payout, request)
        answer = await self._call(
            self._payout_url("storeDetailAndSubmitThirdParty"),
            document,
            key=self.config.api_key.get_secret_value(),
            idempotency_key=request.idempotency_key,
            payment_id=request.payment_id,
        )

        if answer.get("resultCode") != PAYOUT_SUBMITTED:
            reason = answer.get("refusalReason") or answer.get("resultCode")
            raise PaymentFailure(
                f"adyen refused the payout: {str(reason)[:200]}",
                outcome="declined",
                shareable=UNKNOWN_SHAREABLE,
                provider=self.context.instance,
                payment=request.payment_id,
            )

        return PaymentResult(
            state=PaymentState.PENDING_APPROVAL,
            provider_reference=_psp(answer),
            message="submitted; waiting for the reviewer",
        )

    async def refund(self, payment: PaymentRecord, amount: Money) -> PaymentResult:
        """Ask for a refund; the REFUND notification says whether it happened."""
        psp = self._psp_of(payment, "refund")
        answer = await self._modify(
            f"payments/{psp}/refunds", payment, amount, f"refund/{amount.minor}"
        )

        return self._received(answer, payment, "refund", "REFUND")

    async def void(self, payment: PaymentRecord) -> PaymentResult:
        """Cancel an authorized deposit, or decline a payout awaiting review."""
        if payment.kind is PaymentKind.PAYOUT:
            return await self.decline_payout(payment)

        if payment.provider_reference is None:
            # Before Adyen named the payment, it is cancelled by our reference.
            answer = await self._modify(
                "cancels", payment, None, "cancel", paymentReference=payment.payment_id
            )
        else:
            path = f"payments/{payment.provider_reference}/cancels"
            answer = await self._modify(path, payment, None, "cancel")

        return self._received(answer, payment, "cancel", "CANCELLATION")

    async def capture(self, payment: PaymentRecord, amount: Money) -> PaymentResult:
        """Capture an authorized deposit; the CAPTURE notification settles it.

        Only needed with `capture: manual`; the contract has no capture verb
        yet, so nothing in the gateway calls this.
        """
        psp = self._psp_of(payment, "capture")
        answer = await self._modify(
            f"payments/{psp}/captures", payment, amount, f"capture/{amount.minor}"
        )

        return self._received(answer, payment, "capture", "CAPTURE")

    async def confirm_payout(self, payment: PaymentRecord) -> PaymentResult:
        """Confirm a submitted payout with the reviewer's key; it then processes.

        The contract has no approval verb yet, so nothing in the gateway
        calls this; without it a person confirms in the Customer Area.
        """
        answer = await self._review("confirmThirdParty", payment)
        if answer.get("response") != PAYOUT_CONFIRMED:
            raise self._unknown("confirmThirdParty: unexpected answer", payment)

        return PaymentResult(
            state=PaymentState.PROCESSING,
            provider_reference=payment.provider_reference,
            message="confirmed; PAYOUT_THIRDPARTY settles it",
        )

    async def decline_payout(self, payment: PaymentRecord) -> PaymentResult:
        """Decline a submitted payout with the reviewer's key; nothing is paid."""
        answer = await self._review("declineThirdParty", payment)
        if answer.get("response") != PAYOUT_DECLINED:
            raise self._unknown("declineThirdParty: unexpected answer", payment)

        return PaymentResult(
            state=PaymentState.CANCELED,
            provider_reference=payment.provider_reference,
            message="declined by the reviewer",
        )

    def parse_webhook(self, callback: Callback) -> Sequence[PaymentEvent]:
        """Verify every item of a notification batch, then read its events."""
        if callback.method.upper() != "POST":
            raise BadRequest("notifications must be POST", method=callback.method)

        return read_batch(
            callback.body,
            key=self._hmac_key,
            merchant_account=self.config.merchant_account,
            automatic_capture=self.config.capture == "automatic",
            currencies=self.context.currencies,
        )

    def acknowledge(
        self, callback: Callback, events: Sequence[PaymentEvent]
    ) -> CallbackAnswer:
        """Accept a batch as Adyen asks: HTTP 200 and the body `[accepted]`."""
        return CallbackAnswer(
            status=200, body=ACKNOWLEDGEMENT, content_type="text/plain"
        )

    def render_webhook_error(
        self, callback: Callback, error: GamegateError
    ) -> CallbackAnswer:
        """Refuse a batch with a non-2xx status, so Adyen queues it for a retry."""
        if isinstance(error, InvalidSignature):
            status = 401
        elif isinstance(error, BadRequest):
            status = 400
        else:
            status = 500

        return CallbackAnswer(
            status=status, body=error.code.encode(), content_type="text/plain"
        )

    def _payment_result(
        self, answer: Mapping[str, Any], payment_id: str
    ) -> PaymentResult:
        code = answer.get("resultCode")
        if code in REFUSED_RESULTS:
            reason, shareable = refusal(answer)
            raise PaymentFailure(
                f"adyen answered {code}: {reason[:200]}",
                outcome="declined",
                shareable=shareable,
                provider=self.context.instance,
                payment=payment_id,
                psp_reference=_psp(answer),
            )
        state = RESULT_STATES.get(code) if isinstance(code, str) else None
        if state is None:
            raise self._unknown(f"payments: resultCode {str(code)[:40]!r}", payment_id)

        action: NextAction | None = None
        if "action" in answer or state is PaymentState.REQUIRES_ACTION:
            action = self._read(answer.get("action"), payment_id, payment_action)

        return PaymentResult(
            state=state,
            provider_reference=_psp(answer),
            action=action,
            message=str(code),
        )

    def _received(
        self, answer: Mapping[str, Any], payment: PaymentRecord, what: str, code: str
    ) -> PaymentResult:
        if answer.get("status") != "received":
            raise self._unknown(f"{what}: answer is not `received`", payment)

        # Modifications are asynchronous: the state stays until `code` arrives.
        reference = _psp(answer)
        named = f"{what} {reference}" if reference else what
        return PaymentResult(
            state=payment.state,
            provider_reference=payment.provider_reference,
            message=f"{named} received; the {code} notification settles it",
        )

    def _body(self, build: _Builder, request: PaymentRequest) -> dict[str, Any]:
        try:
            return build(request, self.config.merchant_account, self.context.currencies)
        except BadRequest as error:
            raise self._refused(error.message, request.payment_id) from error

    async def _checkout(
        self, path: str, document: Mapping[str, Any], request: PaymentRequest
    ) -> dict[str, Any]:
        return await self._call(
            f"{self.config.checkout_url}/{CHECKOUT_VERSION}/{path}",
            document,
            key=self.config.api_key.get_secret_value(),
            idempotency_key=request.idempotency_key,
            payment_id=request.payment_id,
        )

    async def _modify(
        self,
        path: str,
        payment: PaymentRecord,
        amount: Money | None,
        operation: str,
        **extra: str,
    ) -> dict[str, Any]:
        try:
            document = payload.modification(
                self.config.merchant_account,
                payment.payment_id,
                amount,
                self.context.currencies,
            )
        except BadRequest as error:
            raise self._refused(error.message, payment.payment_id) from error

        return await self._call(
            f"{self.config.checkout_url}/{CHECKOUT_VERSION}/{path}",
            {**document, **extra},
            key=self.config.api_key.get_secret_value(),
            idempotency_key=f"{payment.payment_id}/{operation}",
            payment_id=payment.payment_id,
        )

    async def _review(self, endpoint: str, payment: PaymentRecord) -> dict[str, Any]:
        review_key = self.config.review_api_key
        if review_key is None:
            raise self._refused(
                "no review_api_key: payouts are reviewed in the Customer Area",
                payment.payment_id,
            )
        if payment.kind is not PaymentKind.PAYOUT:
            raise self._refused(f"{endpoint} is for payouts", payment.payment_id)
        document = {
            "merchantAccount": self.config.merchant_account,
            "originalReference": self._psp_of(payment, endpoint),
        }

        return await self._call(
            self._payout_url(endpoint),
            document,
            key=review_key.get_secret_value(),
            idempotency_key=f"{payment.payment_id}/{endpoint}",
            payment_id=payment.payment_id,
        )

    async def _call(
        self,
        url: str,
        document: Mapping[str, Any],
        *,
        key: str,
        idempotency_key: str,
        payment_id: str,
    ) -> dict[str, Any]:
        """Call Adyen, and translate every failure once here (see the table)."""
        operation = url.rsplit("/", 1)[-1]
        headers = {
            API_KEY_HEADER: key,
            IDEMPOTENCY_HEADER: _idempotency(idempotency_key),
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        try:
            response = await self.context.http.post(
                url,
                content=orjson.dumps(document),
                headers=headers,
                timeout=self.config.timeout_seconds,
            )
        except _NOT_SENT as error:
            raise PaymentFailure(
                f"{operation}: {type(error).__name__}, nothing was sent",
                outcome="unreachable",
                provider=self.context.instance,
                payment=payment_id,
            ) from error
        except httpx.TransportError as error:
            message = f"{operation}: {type(error).__name__}"
            raise self._unknown(message, payment_id) from error

        status = response.status_code
        answer = _json_object(response.content)
        if status >= 500 or 300 <= status < 400:
            raise self._unknown(f"{operation}: HTTP {status}", payment_id)
        if status in (409, 422) and answer.get("errorCode") == IN_PROGRESS:
            message = f"{operation}: the same request is still in progress"
            raise self._unknown(message, payment_id)
        if status >= 400:
            raise PaymentFailure(
                f"{operation}: HTTP {status} {_error_text(answer)}".strip(),
                outcome="declined",
                shareable=False,
                provider=self.context.instance,
                payment=payment_id,
            )
        if not answer:
            raise self._unknown(f"{operation}: answer is not a JSON object", payment_id)

        return answer

    def _payout_url(self, endpoint: str) -> str:
        return f"{self.config.payout_url}/Payout/{PAYOUT_VERSION}/{endpoint}"

    def _read(
        self, value: Any, payment_id: str, reader: Callable[[Any], NextAction]
    ) -> NextAction:
        try:
            return reader(value)
        except ValueError as error:
            raise self._unknown(str(error), payment_id) from error

    def _psp_of(self, payment: PaymentRecord, operation: str) -> str:
        if payment.provider_reference is None:
            raise self._refused(
                f"{operation}: Adyen has not named this payment yet", payment.payment_id
            )

        return payment.provider_reference

    def _refused(self, message: str, payment_id: str) -> PaymentFailure:
        return PaymentFailure(
            message,
            outcome="declined",
            shareable=False,
            provider=self.context.instance,
            payment=payment_id,
        )

    def _unknown(self, message: str, payment: PaymentRecord | str) -> PaymentFailure:
        payment_id = payment if isinstance(payment, str) else payment.payment_id

        return PaymentFailure(
            message,
            outcome="unknown",
            provider=self.context.instance,
            payment=payment_id,
        )


def _idempotency(key: str) -> str:
    # Adyen takes keys of at most 64 characters; a longer one is hashed to
    # exactly 64, the same on every retry.
    if len(key) <= IDEMPOTENCY_MAX:
        return key

    return hashlib.sha256(key.encode()).hexdigest()


def _json_object(content: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError:
        return {}

    return document if isinstance(document, dict) else {}


def _error_text(answer: Mapping[str, Any]) -> str:
    code, message = answer.get("errorCode"), answer.get("message")

    return f"errorCode {code}: {str(message)[:200]}" if code else ""


def _psp(answer: Mapping[str, Any]) -> str | None:
    psp = answer.get("pspReference")

    return psp if isinstance(psp, str) and psp else None
