"""The `fakepay` payment adapter: the fake provider's API behind the contract.

Operations: create deposit, create payout, refund, status, webhook.
Methods: card, bank transfer, e-wallet, crypto; any currency.
Signature: webhooks carry `X-Fake-Signature`, the hex HMAC-SHA256 of the raw
body keyed with the instance's secret; API calls send the secret as
`X-Fake-Key`. Money: decimal strings in whole units.
Answer to an accepted webhook: `200 [accepted]` as plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

import httpx
import orjson
from pydantic import SecretStr

from contracts.adapter import AdapterConfig, Callback, CallbackAnswer
from contracts.errors import BadRequest, GamegateError, InvalidSignature, ProviderError
from contracts.money import Money
from contracts.payments import (
    NextAction,
    PaymentAdapter,
    PaymentCapabilities,
    PaymentEvent,
    PaymentFailure,
    PaymentMethod,
    PaymentOperation,
    PaymentRecord,
    PaymentRequest,
    PaymentResult,
    PaymentState,
)
from contracts.signing import hmac_sha256_hex, same_signature
from examples.payments_fake.provider import ACCEPTED, KEY_HEADER, SIGNATURE_HEADER


class FakePayConfig(AdapterConfig):
    """Where the fake provider listens and the secret it shares with us."""

    base_url: str
    secret: SecretStr


class FakePayAdapter(PaymentAdapter):
    """The fake provider's payments and webhooks, translated."""

    name = "fakepay"
    version = "1.0.0"
    config_model = FakePayConfig
    capabilities = PaymentCapabilities(
        operations=frozenset(PaymentOperation) - {PaymentOperation.VOID},
        methods=frozenset(PaymentMethod),
        signature="hmac-sha256 hex of the body in X-Fake-Signature",
        money_format="decimal string",
    )
    webhook_paths: ClassVar[tuple[str, ...]] = ("webhook",)
    config: FakePayConfig

    async def create_deposit(self, request: PaymentRequest) -> PaymentResult:
        """Start a deposit at the fake provider."""
        return await self._create(request)

    async def create_payout(self, request: PaymentRequest) -> PaymentResult:
        """Start a payout at the fake provider."""
        return await self._create(request)

    async def refund(self, payment: PaymentRecord, amount: Money) -> PaymentResult:
        """Ask for a refund, which the provider confirms by webhook."""
        answer = await self._call(
            "POST", f"/payments/{payment.provider_reference}/refund", {}
        )
        return PaymentResult(
            state=PaymentState(answer["state"]),
            provider_reference=answer["id"],
            message="refund pending",
        )

    async def status(self, payment: PaymentRecord) -> PaymentResult:
        """Ask the provider for the payment's state."""
        answer = await self._call("GET", f"/payments/{payment.provider_reference}")
        return PaymentResult(
            state=PaymentState(answer["state"]), provider_reference=answer["id"]
        )

    def parse_webhook(self, callback: Callback) -> Sequence[PaymentEvent]:
        """Verify the body's signature, then read its events."""
        expected = hmac_sha256_hex(self.config.secret.get_secret_value(), callback.body)
        if not same_signature(expected, callback.headers.get(SIGNATURE_HEADER)):
            raise InvalidSignature("webhook signature does not verify")
        try:
            document = orjson.loads(callback.body)
            return [self._event(item) for item in document["events"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise BadRequest(f"not a fakepay webhook: {error}") from None

    def acknowledge(
        self, callback: Callback, events: Sequence[PaymentEvent]
    ) -> CallbackAnswer:
        """Answer `[accepted]`, the only answer the provider takes as delivered."""
        return CallbackAnswer(200, ACCEPTED, content_type="text/plain")

    def render_webhook_error(
        self, callback: Callback, error: GamegateError
    ) -> CallbackAnswer:
        """Answer a refused webhook; the provider retries anything but 2xx."""
        status = 400
        if isinstance(error, InvalidSignature):
            status = 401
        elif isinstance(error, ProviderError):
            status = 503
        return CallbackAnswer(status, orjson.dumps({"error": error.code}))

    def _event(self, item: dict[str, Any]) -> PaymentEvent:
        amount = None
        if item.get("amount") is not None and item.get("currency"):
            amount = self.context.currencies.parse(
                Decimal(str(item["amount"])), item["currency"]
            )
        return PaymentEvent(
            event_id=str(item["event_id"]),
            state=PaymentState(item["state"]),
            payment_id=item.get("merchant_reference"),
            provider_reference=item.get("id"),
            amount=amount,
            reason=str(item.get("reason", "")),
            player=item.get("player"),
        )

    async def _create(self, request: PaymentRequest) -> PaymentResult:
        body = {
            "merchant_reference": request.payment_id,
            "kind": request.kind.value,
            "amount": self.context.currencies.format(request.amount),
            "currency": request.amount.currency,
            "method": request.method.value,
            "player": request.player,
            "idempotency_key": request.idempotency_key,
        }
        answer = await self._call("POST", "/payments", body)
        return PaymentResult(
            state=PaymentState(answer["state"]),
            provider_reference=answer["id"],
            action=NextAction("redirect", answer["redirect_url"]),
        )

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            response = await self.context.http.request(
                method,
                self.config.base_url.rstrip("/") + path,
                content=None if body is None else orjson.dumps(body),
                headers={KEY_HEADER: self.config.secret.get_secret_value()},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            message = str(error) or "unreachable"
            raise PaymentFailure(message, outcome="unreachable") from None
        except httpx.HTTPError as error:
            raise PaymentFailure(
                f"{type(error).__name__}: {error}", outcome="unknown"
            ) from None
        if response.status_code >= 500:
            raise PaymentFailure(f"HTTP {response.status_code}", outcome="unknown")
        answer: dict[str, Any] = response.json()
        if response.status_code == 422:
            raise PaymentFailure(
                answer.get("error", "declined"),
                outcome="declined",
                shareable=bool(answer.get("shareable", True)),
            )
        if response.status_code >= 400:
            raise PaymentFailure(f"HTTP {response.status_code}", outcome="declined")

        return answer
