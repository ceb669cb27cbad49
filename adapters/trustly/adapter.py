"""The `trustly` adapter: Trustly's European JSON-RPC API and its notifications.

What it supports
- operations: create_deposit (`Deposit`), create_payout (`Withdraw`, or
  `AccountPayout` when the request's `kyc` names an `account_id` Trustly
  gave in an account notification), refund (`Refund`), void of a payout
  awaiting approval (`DenyWithdrawal`), webhook (notifications). Approving
  a withdrawal is `approve_payout` (`ApproveWithdrawal`), a method of this
  adapter: the contract has no approval step.
- methods: bank_transfer.
- currencies: every currency the gateway's table knows whose amount fits in
  two decimals; the processing account decides which it accepts (622).
- signature: base64 RSASSA-PKCS1-v1_5 SHA-1 over method + uuid +
  serialize(data) (`adapters.trustly.signature`), in the JSON-RPC envelope
  itself. Calls and notification replies are signed with the merchant's
  private key; answers and notifications are verified with Trustly's public
  key, and a notification that does not verify is never answered signed.
- money format: decimal strings with exactly two decimals (`"20.00"`) out;
  decimal strings in, converted exactly or refused, never rounded.
- identity: MessageID is the gateway's payment id, EndUserID the player,
  and Trustly's orderid the provider reference; the JSON-RPC UUID of a
  create call is derived from its idempotency key, so a retry is the same
  call (and Trustly refuses a second order for one MessageID with 637).

A deposit answers `url` and `orderid`: the payment requires action (a
redirect, or an iframe by config). A `Withdraw` answers the same: the payout
is requested until the player confirms it in Trustly's page and Trustly
sends `debit`; it then waits for `approve_payout` (processing) or a void
(canceled). An `AccountPayout` Trustly accepts is processing at once. A
refund Trustly accepts leaves the deposit refunded when it covers the whole
amount, succeeded otherwise. Failures:

| condition                                 | outcome     | shareable |
| ----------------------------------------- | ----------- | --------- |
| connect error, connect or pool timeout    | unreachable |           |
| read or write timeout, other transport    | unknown     |           |
| HTTP 5xx                                  | unknown     |           |
| answer unsigned, mis-signed, not JSON-RPC | unknown     |           |
| answer for another UUID or method         | unknown     |           |
| verified answer without orderid or url    | unknown     |           |
| 637 ERROR_DUPLICATE_MESSAGE_ID            | unknown     |           |
| 638 ERROR_ENDUSER_IS_BLOCKED              | declined    | True      |
| 602, 607, 615, 616, 620, 622, 623, 636,   | declined    | False     |
| 639, and any code not listed              |             |           |
| `result` "0" (not accepted)               | declined    | False     |
| request Trustly cannot take (no country,  | declined    | False     |
| no return URL, amount beyond 2 decimals)  |             |           |

Codes and names are Trustly's "Error messages" page (eu.developers.trustly.com
/doc-old/docs/error-messages). 637 is the one code that says an earlier try
of this very payment reached Trustly, so its order may exist: unknown, never
tried elsewhere. 638 is a decision about the player, so another provider is
not asked; every other code is Trustly's own rule or the merchant's set-up.

Notifications arrive at `{notification_url}/deposit` or `.../payout` (see
`adapters.trustly.notification`), deduplicated on `notificationid`. Sources
are Trustly's reference pages of each notification and of Deposit, Withdraw
and AccountPayout (eu.developers.trustly.com/doc/reference/...):

| path    | method             | state                       | why               |
| ------- | ------------------ | --------------------------- | ----------------- |
| deposit | pending            | pending                     | player paid, not  |
|         |                    |                             | yet confirmed     |
| deposit | credit             | succeeded                   | deposit credited  |
| deposit | debit              | reversed                    | sent after a      |
|         |                    |                             | credit whose money|
|         |                    |                             | never settled     |
| deposit | cancel             | canceled                    | not completed     |
| deposit | payoutconfirmation | refunded                    | a Refund was sent |
|         |                    |                             | (to the deposit's |
|         |                    |                             | NotificationURL)  |
| payout  | pending            | processing                  | accepted, sending |
| payout  | debit              | pending_approval            | player confirmed a|
|         |                    |                             | Withdraw: take the|
|         |                    |                             | money, approve it |
| payout  | credit             | failed, or returned if paid | money back to the |
|         |                    |                             | player's balance  |
| payout  | cancel             | canceled                    | not completed, or |
|         |                    |                             | denied            |
| payout  | payoutconfirmation | paid                        | the bank sent it  |
| either  | account, kyc       | no event, acknowledged      | information only  |

Each is answered `{"result": {"signature", "uuid", "method", "data":
{"status": "OK"}}, "version": "1.1"}` signed by the merchant; a verified
notification the adapter cannot read is answered `FAILED` (for a payout's
`debit`, Trustly then aborts the withdrawal), a forged one HTTP 401 unsigned,
and any other error HTTP 500 so Trustly sends it again. `payoutconfirmation`
is off by default on Trustly's side: without it payouts stay processing.
"""

from __future__ import annotations

import uuid as uuids
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx
import orjson

from adapters.trustly.config import TrustlyConfig
from adapters.trustly.notification import (
    DEPOSIT_PATH,
    PAYOUT_PATH,
    WEBHOOK_PATHS,
    Notification,
    Status,
    events_for,
    read_notification,
    reply,
)
from adapters.trustly.rpc import (
    Refusal,
    UnverifiedAnswer,
    accepted,
    read_answer,
    request_body,
)
from adapters.trustly.signature import load_private_key, load_public_key, verifies
from contracts import (
    AdapterConfig,
    AdapterContext,
    AmountError,
    BadRequest,
    Callback,
    CallbackAnswer,
    ConfigError,
    GamegateError,
    InvalidSignature,
    Money,
    UnknownCurrency,
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

# `kyc` keys the casino may give, as Trustly's attribute names.
KYC_ATTRIBUTES: Mapping[str, str] = {
    "first_name": "Firstname",
    "last_name": "Lastname",
    "email": "Email",
    "phone": "MobilePhone",
    "national_id": "NationalIdentificationNumber",
}
# Withdraw also takes the player's birth date and address.
PAYOUT_KYC_ATTRIBUTES: Mapping[str, str] = {
    **KYC_ATTRIBUTES,
    "date_of_birth": "DateOfBirth",
    "address_country": "AddressCountry",
    "postal_code": "AddressPostalCode",
    "city": "AddressCity",
    "address_line1": "AddressLine1",
    "address_line2": "AddressLine2",
}
ACCOUNT_ID = "account_id"
_UUIDS = uuids.UUID("6a1f1b0e-7f3c-4c55-9a57-2f1e0b8f4c11")
_UNREACHABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The states in which Trustly takes each decision on a withdrawal.
_DECIDABLE: Mapping[str, frozenset[PaymentState]] = {
    "ApproveWithdrawal": frozenset({PaymentState.PENDING_APPROVAL}),
    "DenyWithdrawal": frozenset(
        {PaymentState.REQUESTED, PaymentState.PENDING_APPROVAL}
    ),
}
Outcome = Literal["unreachable", "declined", "unknown"]


class TrustlyAdapter(PaymentAdapter):
    """Translates Trustly's JSON-RPC API and notifications to and from the contract."""

    name = "trustly"
    version = "0.1.0"
    config_model = TrustlyConfig
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
        methods=frozenset({PaymentMethod.BANK_TRANSFER}),
        signature="RSA-SHA1 over method + uuid + serialized data, in the body",
        money_format="decimal strings with exactly two decimals",
    )
    webhook_paths = WEBHOOK_PATHS

    config: TrustlyConfig

    def __init__(self, config: AdapterConfig, context: AdapterContext) -> None:
        if not isinstance(config, TrustlyConfig):
            raise ConfigError(
                "trustly needs a TrustlyConfig", instance=context.instance
            )
        super().__init__(config, context)
        self._private_key = load_private_key(config.private_key.get_secret_value())
        self._trustly_key = load_public_key(config.trustly_public_key)

    async def create_deposit(self, request: PaymentRequest) -> PaymentResult:
        """Start a deposit with `Deposit`; the player follows Trustly's URL."""
        self._require_bank_transfer(request)
        attributes = self._attributes(request, KYC_ATTRIBUTES)
        attributes.update(
            Currency=request.amount.currency,
            Amount=self._amount(request.amount, request.payment_id),
            SuccessURL=self._return_url(request),
            FailURL=request.cancel_url or request.return_url,
        )
        data = {
            "NotificationURL": self._notification_url(DEPOSIT_PATH),
            "EndUserID": request.player,
            "MessageID": request.payment_id,
            "Attributes": attributes,
        }

        answer = await self._call("Deposit", data, _call_uuid(request), request)

        return PaymentResult(
            state=PaymentState.REQUIRES_ACTION,
            provider_reference=self._order_id("Deposit", answer, request.payment_id),
            action=self._action("Deposit", answer, request.payment_id),
        )

    async def create_payout(self, request: PaymentRequest) -> PaymentResult:
        """Start a payout: `AccountPayout` to a known account, else `Withdraw`."""
        self._require_bank_transfer(request)
        if request.kyc.get(ACCOUNT_ID):
            return await self._account_payout(request)

        attributes = self._attributes(request, PAYOUT_KYC_ATTRIBUTES)
        attributes["SuggestedAmount"] = self._amount(request.amount, request.payment_id)
        if request.return_url:
            attributes["SuccessURL"] = request.return_url
            attributes["FailURL"] = request.cancel_url or request.return_url
        data = {
            "NotificationURL": self._notification_url(PAYOUT_PATH),
            "EndUserID": request.player,
            "MessageID": request.payment_id,
            "Currency": request.amount.currency,
            "Attributes": attributes,
        }

        answer = await self._call("Withdraw", data, _call_uuid(request), request)

        return PaymentResult(
            state=PaymentState.REQUESTED,
            provider_reference=self._order_id("Withdraw", answer, request.payment_id),
            action=self._action("Withdraw", answer, request.payment_id),
            message="the player confirms the withdrawal in Trustly's page",
        )

    async def refund(self, payment: PaymentRecord, amount: Money) -> PaymentResult:
        """Refund a deposit with `Refund`, in whole or in part."""
        order_id = self._known_order(payment, PaymentKind.DEPOSIT)
        if amount.currency != payment.amount.currency:
            raise self._declined("a refund is in the deposit's currency", payment)
        data = {
            "OrderID": order_id,
            "Amount": self._amount(amount, payment.payment_id),
            "Currency": amount.currency,
            "Attributes": None,
        }

        answer = await self._call("Refund", data, _fresh_uuid(), payment)
        self._require_accepted("Refund", answer, payment)

        whole = amount.minor >= payment.amount.minor
        return PaymentResult(
            state=PaymentState.REFUNDED if whole else PaymentState.SUCCEEDED,
            provider_reference=order_id,
            message="refund accepted" if whole else "partial refund accepted",
        )

    async def void(self, payment: PaymentRecord) -> PaymentResult:
        """Deny a withdrawal that awaits approval; deposits cannot be voided."""
        if payment.kind is not PaymentKind.PAYOUT:
            return await super().void(payment)

        return await self.deny_payout(payment)

    async def approve_payout(self, payment: PaymentRecord) -> PaymentResult:
        """Approve a withdrawal the player confirmed, with `ApproveWithdrawal`.

        Specific to this adapter: the contract has no approval step yet.
        """
        return await self._decide("ApproveWithdrawal", payment, PaymentState.PROCESSING)

    async def deny_payout(self, payment: PaymentRecord) -> PaymentResult:
        """Deny a withdrawal with `DenyWithdrawal`; Trustly then sends cancel."""
        return await self._decide("DenyWithdrawal", payment, PaymentState.CANCELED)

    def parse_webhook(self, callback: Callback) -> Sequence[PaymentEvent]:
        """Verify a notification's signature, then read it into its events."""
        notification = read_notification(callback.body)
        if not self._signed_by_trustly(notification):
            raise InvalidSignature(
                "notification signature does not verify",
                provider=self.context.instance,
            )

        if callback.method.upper() != "POST":
            raise BadRequest("notifications must be POST", method=callback.method)

        path = callback.path.strip("/")
        return events_for(path, notification, self.context.currencies)

    def acknowledge(
        self, callback: Callback, events: Sequence[PaymentEvent]
    ) -> CallbackAnswer:
        """Answer an accepted notification with the merchant's signed OK."""
        notification = self._verified(callback)
        if notification is None:
            return _unsigned(401, "notification signature does not verify")
        if not notification.repliable:
            return _unsigned(400, "notification names no method and UUID to answer")

        return self._reply(notification, "OK")

    def render_webhook_error(
        self, callback: Callback, error: GamegateError
    ) -> CallbackAnswer:
        """Answer a refused notification; only Trustly's own get a signed reply."""
        notification = self._verified(callback)
        if isinstance(error, InvalidSignature) or notification is None:
            status = 400 if isinstance(error, BadRequest) else 401
            return _unsigned(status, error.message)

        if isinstance(error, BadRequest):
            # Trustly's own notification, unreadable here: FAILED tells it so.
            if notification.repliable:
                return self._reply(notification, "FAILED")
            return _unsigned(400, error.message)

        # Anything else is the gateway's trouble: Trustly sends it again later.
        return _unsigned(500, "notification not processed")

    async def _account_payout(self, request: PaymentRequest) -> PaymentResult:
        data = {
            "NotificationURL": self._notification_url(PAYOUT_PATH),
            "AccountID": request.kyc[ACCOUNT_ID],
            "EndUserID": request.player,
            "MessageID": request.payment_id,
            "Amount": self._amount(request.amount, request.payment_id),
            "Currency": request.amount.currency,
            "Attributes": None,
        }

        answer = await self._call("AccountPayout", data, _call_uuid(request), request)
        self._require_accepted("AccountPayout", answer, request)

        return PaymentResult(
            state=PaymentState.PROCESSING,
            provider_reference=self._order_id(
                "AccountPayout", answer, request.payment_id
            ),
        )

    async def _decide(
        self, method: str, payment: PaymentRecord, state: PaymentState
    ) -> PaymentResult:
        order_id = self._known_order(payment, PaymentKind.PAYOUT)
        if payment.state not in _DECIDABLE[method]:
            raise self._declined(
                f"{method}: the payout is {payment.state.value}", payment
            )

        answer = await self._call(method, {"OrderID": order_id}, _fresh_uuid(), payment)
        self._require_accepted(method, answer, payment)

        return PaymentResult(state=state, provider_reference=order_id)

    async def _call(
        self,
        method: str,
        data: Mapping[str, Any],
        call_uuid: str,
        subject: PaymentRequest | PaymentRecord,
    ) -> dict[str, Any]:
        """Send one signed call and return the signed data of Trustly's answer.

        Every transport and protocol failure becomes a `PaymentFailure` here.
        """
        signed = {
            **data,
            "Username": self.config.username,
            "Password": self.config.password.get_secret_value(),
        }
        body = request_body(self._private_key, method, call_uuid, signed)
        payment_id = subject.payment_id
        try:
            response = await self.context.http.post(
                self.config.api_url,
                content=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self.config.timeout_seconds,
            )
        except _UNREACHABLE as error:
            raise self._failure(
                f"{method}: {type(error).__name__}", "unreachable", payment_id
            ) from error
        except httpx.TransportError as error:
            raise self._failure(
                f"{method}: {type(error).__name__}", "unknown", payment_id
            ) from error

        if response.status_code >= 500:
            raise self._failure(
                f"{method}: HTTP {response.status_code}", "unknown", payment_id
            )
        try:
            return read_answer(self._trustly_key, response.content, method, call_uuid)
        except UnverifiedAnswer as error:
            raise self._failure(f"{method}: {error}", "unknown", payment_id) from error
        except Refusal as refusal:
            meaning = refusal.meaning
            raise PaymentFailure(
                f"{method}: {refusal.code} {refusal.message}",
                outcome=meaning.outcome,
                shareable=meaning.shareable,
                provider=self.context.instance,
                payment=payment_id,
                code=refusal.code,
            ) from refusal

    def _require_bank_transfer(self, request: PaymentRequest) -> None:
        if request.method is not PaymentMethod.BANK_TRANSFER:
            raise self._declined(f"trustly has no {request.method.value}", request)

    def _attributes(
        self, request: PaymentRequest, kyc_names: Mapping[str, str]
    ) -> dict[str, Any]:
        country = (request.country or "").upper()
        if len(country) != 2 or not country.isalpha():
            raise self._declined("trustly needs the player's country", request)
        attributes: dict[str, Any] = {
            "Country": country,
            "Locale": self._locale(request.locale),
        }
        if request.ip:
            attributes["IP"] = request.ip
        for key, name in kyc_names.items():
            value = request.kyc.get(key)
            if value:
                attributes[name] = value

        return attributes

    def _locale(self, locale: str | None) -> str:
        # Trustly takes `language[_territory]`; `sv-SE` is the same locale.
        text = (locale or "").replace("-", "_")
        language, _, territory = text.partition("_")
        if len(language) != 2 or not language.isalpha():
            return self.config.default_locale
        if len(territory) == 2 and territory.isalpha():
            return f"{language.lower()}_{territory.upper()}"

        return language.lower()

    def _amount(self, money: Money, payment_id: str) -> str:
        try:
            hundredths = self.context.currencies.to_scaled(money, 100)
        except (AmountError, UnknownCurrency) as error:
            raise PaymentFailure(
                f"{money.currency} amount does not fit Trustly's two decimals",
                outcome="declined",
                shareable=False,
                provider=self.context.instance,
                payment=payment_id,
            ) from error
        units, cents = divmod(hundredths, 100)

        return f"{units}.{cents:02d}"

    def _return_url(self, request: PaymentRequest) -> str:
        if not request.return_url:
            raise self._declined("a Trustly deposit needs a return_url", request)

        return request.return_url

    def _notification_url(self, path: str) -> str:
        return f"{self.config.notification_url}/{path}"

    def _known_order(self, payment: PaymentRecord, kind: PaymentKind) -> str:
        if payment.kind is not kind:
            raise self._declined(f"not a {kind.value}", payment)
        if not payment.provider_reference:
            raise self._declined("the payment has no Trustly orderid", payment)

        return payment.provider_reference

    def _order_id(self, method: str, answer: Mapping[str, Any], payment: str) -> str:
        order_id = answer.get("orderid")
        if isinstance(order_id, int) and not isinstance(order_id, bool):
            return str(order_id)
        if not isinstance(order_id, str) or not order_id:
            raise self._failure(
                f"{method}: answer carries no orderid", "unknown", payment
            )

        return order_id

    def _action(
        self, method: str, answer: Mapping[str, Any], payment: str
    ) -> NextAction:
        url = answer.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise self._failure(
                f"{method}: answer carries no http(s) url", "unknown", payment
            )

        return NextAction(self.config.presentation, url)

    def _require_accepted(
        self,
        method: str,
        answer: Mapping[str, Any],
        subject: PaymentRequest | PaymentRecord,
    ) -> None:
        if not accepted(answer):
            rejected = answer.get("rejected")
            reason = f": {rejected[:160]}" if isinstance(rejected, str) else ""
            raise self._declined(f"{method}: not accepted{reason}", subject)

    def _declined(
        self, message: str, subject: PaymentRequest | PaymentRecord
    ) -> PaymentFailure:
        return PaymentFailure(
            message,
            outcome="declined",
            shareable=False,
            provider=self.context.instance,
            payment=subject.payment_id,
        )

    def _failure(
        self, message: str, outcome: Outcome, payment_id: str
    ) -> PaymentFailure:
        return PaymentFailure(
            message,
            outcome=outcome,
            provider=self.context.instance,
            payment=payment_id,
        )

    def _signed_by_trustly(self, notification: Notification) -> bool:
        return verifies(
            self._trustly_key,
            notification.method,
            notification.uuid,
            notification.data,
            notification.signature,
        )

    def _verified(self, callback: Callback) -> Notification | None:
        try:
            notification = read_notification(callback.body)
        except BadRequest:
            return None

        return notification if self._signed_by_trustly(notification) else None

    def _reply(self, notification: Notification, status: Status) -> CallbackAnswer:
        return CallbackAnswer(
            status=200, body=reply(self._private_key, notification, status)
        )


def _call_uuid(request: PaymentRequest) -> str:
    """Return the UUID of a create call: the same for every retry of one request."""
    return str(uuids.uuid5(_UUIDS, f"{request.kind.value}:{request.idempotency_key}"))


def _fresh_uuid() -> str:
    return str(uuids.uuid4())


def _unsigned(status: int, message: str) -> CallbackAnswer:
    body = orjson.dumps(
        {
            "version": "1.1",
            "error": {"name": "JSONRPCError", "code": status, "message": message[:200]},
        }
    )

    return CallbackAnswer(status=status, body=body)
