"""The `coinspaid` adapter: crypto deposits and payouts through CoinsPaid.

What it supports
- operations: create_deposit (`POST {api_url}/v2/addresses/take`, a
  permanent address per player and currency), create_payout (`POST
  {api_url}/v2/withdrawal/crypto`), and webhooks (one callback URL per
  merchant account, set in CoinsPaid's dashboard to
  `/providers/{instance}/callback`). No refunds, voids or status queries.
- methods: crypto only.
- currencies: every currency the gateway's table knows and the merchant
  account has enabled; crypto exponents (BTC 8, ETH, USDT...) come from the
  gateway's configuration, never from this adapter.
- signature: `X-Processing-Key` (the account's public key) and
  `X-Processing-Signature`, the lower-case hex HMAC-SHA512 of the raw body
  keyed with the secret, on every request and every callback. Callbacks are
  verified in constant time before anything else is read.
- money format: decimal strings in whole units, at most eight decimals,
  sometimes JSON numbers; read through `Decimal`, converted exactly, and an
  amount finer than the currency's exponent is refused. Payouts are sent as
  decimal strings; one finer than eight decimals is declined unsent.
- callbacks: answered with an empty HTTP 200 once accepted; anything else
  makes CoinsPaid retry (1, 5, 10 ... 240 minutes). Each callback is one
  event, identified by CoinsPaid's transaction `id` and its `status`, so a
  `not_confirmed` and a `confirmed` of one transaction are two events; the
  status table is in `adapters.coinspaid.callbacks`, the error answers in
  `adapters.coinspaid.refusals`.

Deposits to a permanent address. `create_deposit` hands out the player's
address (`NextAction(kind="crypto_address")`, state `requires_action`,
`provider_reference` `address:{id}`); the player may pay into it any number
of times, now or months later. Each deposit callback is therefore its own
payment: its event has `payment_id` None, `player` set to the player
reference the address was taken for, `provider_reference` set to CoinsPaid's
transaction id and `amount` set to what reached the merchant's balance. The
gateway should look the transaction up by (instance, `provider_reference`);
if no payment has it yet, open a deposit for `player` with that amount,
method crypto, in state `created`, record the reference, then apply the
event's state; later events of the same transaction then find it. A player's
open `requires_action` deposit for the same currency may be closed by the
first such payment or left to expire; it never receives money itself.

Payouts need the player's address: `PaymentRequest.kyc["crypto_address"]`
and, for currencies with a memo, `kyc["crypto_tag"]`. The gateway's payment
id is sent as `foreign_id` and comes back on every withdrawal callback.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import orjson

from adapters.coinspaid.callbacks import (
    WITHDRAWAL_STATES,
    load_document,
    read_events,
)
from adapters.coinspaid.config import CoinspaidConfig
from adapters.coinspaid.refusals import refusal
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
    UnknownOperation,
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
    PaymentRequest,
    PaymentResult,
    PaymentState,
)
from contracts.signing import same_signature

KEY_HEADER = "X-Processing-Key"
SIGNATURE_HEADER = "X-Processing-Signature"
ADDRESS_FIELD = "crypto_address"
TAG_FIELD = "crypto_tag"
MAX_DECIMALS = 8
CALLBACK_PATH = "callback"


class CoinspaidAdapter(PaymentAdapter):
    """Translates CoinsPaid's API and callbacks to and from the payment contract."""

    name = "coinspaid"
    version = "0.1.0"
    config_model = CoinspaidConfig
    capabilities = PaymentCapabilities(
        operations=frozenset(
            {
                PaymentOperation.CREATE_DEPOSIT,
                PaymentOperation.CREATE_PAYOUT,
                PaymentOperation.WEBHOOK,
            }
        ),
        methods=frozenset({PaymentMethod.CRYPTO}),
        signature="X-Processing-Key and X-Processing-Signature: hex HMAC-SHA512"
        " of the raw body, secret key",
        money_format="decimal strings (sometimes JSON numbers) in whole units,"
        " up to eight decimals",
    )
    webhook_paths = (CALLBACK_PATH,)

    config: CoinspaidConfig

    def __init__(self, config: AdapterConfig, context: AdapterContext) -> None:
        if not isinstance(config, CoinspaidConfig):
            raise ConfigError(
                "coinspaid needs a CoinspaidConfig", instance=context.instance
            )
        super().__init__(config, context)
        self._secret = config.secret.get_secret_value().encode()
        self._public_key = config.public_key.encode()

    async def create_deposit(self, request: PaymentRequest) -> PaymentResult:
        """Take the player's permanent address for the deposit's currency."""
        self._check(request, PaymentKind.DEPOSIT)
        currency = request.amount.currency
        document = {"currency": currency, "foreign_id": request.player}
        if self.config.convert_to is not None:
            document["convert_to"] = self.config.convert_to

        data = await self._call("addresses/take", document, request)

        address = data.get("address")
        if not isinstance(address, str) or not address:
            raise self._unknown("addresses/take: answer carries no address", request)
        self._check_echo(data, request.player, request)
        details = {"currency": _text(data.get("currency")) or currency}
        if tag := _text(data.get("tag")):
            details["tag"] = tag
        if self.config.convert_to is not None:
            details["convert_to"] = self.config.convert_to
        reference = _text(data.get("id"))

        return PaymentResult(
            state=PaymentState.REQUIRES_ACTION,
            provider_reference=f"address:{reference}" if reference else None,
            action=NextAction("crypto_address", address, details),
        )

    async def create_payout(self, request: PaymentRequest) -> PaymentResult:
        """Ask CoinsPaid to send the payout to the player's crypto address."""
        self._check(request, PaymentKind.PAYOUT)
        address = request.kyc.get(ADDRESS_FIELD)
        if not address:
            raise PaymentFailure(
                f"a crypto payout needs the player's address in kyc[{ADDRESS_FIELD!r}]",
                outcome="declined",
                shareable=True,
                provider=self.context.instance,
                payment=request.payment_id,
            )
        document = {
            "foreign_id": request.payment_id,
            "amount": self._amount_text(request.amount, request),
            "currency": request.amount.currency,
            "address": address,
        }
        if tag := request.kyc.get(TAG_FIELD):
            document["tag"] = tag

        data = await self._call("withdrawal/crypto", document, request)

        self._check_echo(data, request.payment_id, request)
        status = _text(data.get("status"))
        state = WITHDRAWAL_STATES.get(status)
        reference = _text(data.get("id"))
        if state is None or not reference:
            raise self._unknown(
                f"withdrawal/crypto: answer has status {status[:40]!r}"
                f" and id {reference[:40]!r}",
                request,
            )

        return PaymentResult(
            state=state, provider_reference=reference, message=f"CoinsPaid {status}"
        )

    def parse_webhook(self, callback: Callback) -> Sequence[PaymentEvent]:
        """Verify the key and the signature over the raw body, then read it."""
        self._verify(callback)

        if callback.method.upper() != "POST":
            raise BadRequest("callbacks must be POST", method=callback.method)
        if callback.path.strip("/") != CALLBACK_PATH:
            raise UnknownOperation(
                f"no callback at {callback.path[:40]!r}", path=callback.path
            )

        return read_events(callback.body, self.context.currencies)

    def acknowledge(
        self, callback: Callback, events: Sequence[PaymentEvent]
    ) -> CallbackAnswer:
        """Answer an accepted callback as CoinsPaid expects: an empty HTTP 200."""
        return CallbackAnswer(status=200, body=b"", content_type="text/plain")

    def render_webhook_error(
        self, callback: Callback, error: GamegateError
    ) -> CallbackAnswer:
        """Refuse a callback; any status but 200 makes CoinsPaid send it again."""
        if isinstance(error, InvalidSignature):
            status = 403
        elif isinstance(error, BadRequest):
            status = 400
        else:
            status = 500

        return CallbackAnswer(status=status, body=orjson.dumps({"error": error.code}))

    def _verify(self, callback: Callback) -> None:
        key = _header(callback.headers, KEY_HEADER)
        signature = _header(callback.headers, SIGNATURE_HEADER)
        if key is None or signature is None:
            raise InvalidSignature(
                f"callback carries no {KEY_HEADER} or {SIGNATURE_HEADER}",
                provider=self.context.instance,
            )

        # Both comparisons run whatever the first one finds.
        known_key = hmac.compare_digest(key.strip().encode(), self._public_key)
        signed = same_signature(self._sign(callback.body), signature)
        if not known_key:
            raise InvalidSignature(
                f"{KEY_HEADER} is not this instance's public key",
                provider=self.context.instance,
            )
        if not signed:
            raise InvalidSignature(
                f"{SIGNATURE_HEADER} does not match the body",
                provider=self.context.instance,
            )

    def _check(self, request: PaymentRequest, kind: PaymentKind) -> None:
        if request.kind is not kind or request.method is not PaymentMethod.CRYPTO:
            raise PaymentFailure(
                f"coinspaid serves crypto {kind.value}s only, not a"
                f" {request.method.value} {request.kind.value}",
                outcome="declined",
                shareable=False,
                provider=self.context.instance,
                payment=request.payment_id,
            )

    def _amount_text(self, money: Money, request: PaymentRequest) -> str:
        currencies = self.context.currencies
        try:
            if currencies.exponent(money.currency) <= MAX_DECIMALS:
                return currencies.format(money)
            scaled = currencies.to_scaled(money, 10**MAX_DECIMALS)
        except (AmountError, UnknownCurrency) as error:
            raise PaymentFailure(
                f"{money.minor} minor units of {money.currency} cannot be sent with"
                f" CoinsPaid's {MAX_DECIMALS} decimals: {error.message}",
                outcome="declined",
                shareable=False,
                provider=self.context.instance,
                payment=request.payment_id,
            ) from error
        units, fraction = divmod(scaled, 10**MAX_DECIMALS)

        return f"{units}.{fraction:0{MAX_DECIMALS}d}"

    def _check_echo(
        self, data: Mapping[str, Any], expected: str, request: PaymentRequest
    ) -> None:
        echoed = data.get("foreign_id")
        if echoed is not None and _text(echoed) != expected:
            raise self._unknown(
                f"answer names foreign_id {_text(echoed)[:40]!r}, not ours", request
            )

    async def _call(
        self, path: str, document: Mapping[str, Any], request: PaymentRequest
    ) -> dict[str, Any]:
        """Call CoinsPaid's API signed, and translate every failure once here."""
        body = orjson.dumps(document)
        headers = {
            KEY_HEADER: self.config.public_key,
            SIGNATURE_HEADER: self._sign(body),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        try:
            response = await self.context.http.post(
                f"{self.config.api_url}/v2/{path}",
                content=body,
                headers=headers,
                timeout=self.config.timeout_seconds,
            )
        except (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.PoolTimeout,
            httpx.UnsupportedProtocol,
        ) as error:
            # Nothing was sent: another provider may be tried.
            raise PaymentFailure(
                f"{path}: {type(error).__name__}",
                outcome="unreachable",
                provider=self.context.instance,
                payment=request.payment_id,
            ) from error
        except httpx.TransportError as error:
            raise self._unknown(f"{path}: {type(error).__name__}", request) from error

        status = response.status_code
        if 400 <= status < 500:
            raise refusal(
                path,
                status,
                _document_or_none(response.content),
                provider=self.context.instance,
                payment=request.payment_id,
            )
        if status not in (200, 201):
            raise self._unknown(f"{path}: HTTP {status}", request)

        answer = _document_or_none(response.content)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict):
            raise self._unknown(f"{path}: answer carries no data object", request)

        return data

    def _unknown(self, message: str, request: PaymentRequest) -> PaymentFailure:
        return PaymentFailure(
            message,
            outcome="unknown",
            provider=self.context.instance,
            payment=request.payment_id,
        )

    def _sign(self, body: bytes) -> str:
        return hmac.new(self._secret, body, hashlib.sha512).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # A plain dict from a test or a proxy may not fold the header's case.
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()

    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _document_or_none(content: bytes) -> Any:
    try:
        return load_document(content)
    except BadRequest:
        return None


def _text(value: Any) -> str:
    # Ids come as JSON integers, tags as strings or null.
    if type(value) is int:
        return str(value)

    return value if isinstance(value, str) else ""
