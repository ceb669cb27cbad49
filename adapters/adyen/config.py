"""The configuration of one `adyen` provider instance."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from contracts import AdapterConfig
from contracts.payments import PaymentMethod


class AdyenConfig(AdapterConfig):
    """Where Adyen's APIs live and the credentials the merchant account was given.

    `checkout_url` is the Checkout API root without the version, for example
    `https://checkout-test.adyen.com` or, live,
    `https://{PREFIX}-checkout-live.adyenpayments.com/checkout`; paths are
    joined as `{checkout_url}/v71/sessions`. `payout_url` is the classic API
    root, `https://pal-test.adyen.com/pal/servlet` or
    `https://{PREFIX}-pal-live.adyenpayments.com/pal/servlet`, joined as
    `{payout_url}/Payout/v68/storeDetailAndSubmitThirdParty`.

    `api_key` is sent as `X-API-Key` on every call but the payout review;
    `review_api_key` belongs to the separate reviewer credential that alone
    may confirm or decline a payout (without it, payouts wait for a person in
    the Customer Area). `hmac_key` is the webhook's HMAC key in hex.

    `capture` must match the merchant account's capture setting: with
    `automatic`, an authorisation is the end of a deposit; with `manual`, a
    deposit stays authorized until a capture. `session_mode` picks the
    Drop-in (`embedded`, a client secret) or Adyen's hosted page (`hosted`, a
    redirect). `redirect_methods` names the Adyen payment method type to
    start through `/payments` instead of a session, for the methods that
    need no details from the player's browser (`{"bank_transfer": "trustly"}`).
    """

    checkout_url: str
    payout_url: str
    api_key: SecretStr
    review_api_key: SecretStr | None = None
    merchant_account: str = Field(min_length=1)
    hmac_key: SecretStr
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    capture: Literal["automatic", "manual"] = "automatic"
    session_mode: Literal["embedded", "hosted"] = "embedded"
    redirect_methods: dict[PaymentMethod, str] = Field(default_factory=dict)

    @field_validator("checkout_url", "payout_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http or https URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or a fragment")

        # Paths are joined as `{url}/v71/...`, so one trailing slash goes.
        return value.rstrip("/")

    @field_validator("api_key", "review_api_key")
    @classmethod
    def _not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            raise ValueError("must not be empty")

        return value

    @field_validator("hmac_key")
    @classmethod
    def _hex_key(cls, value: SecretStr) -> SecretStr:
        try:
            key = bytes.fromhex(value.get_secret_value())
        except ValueError:
            raise ValueError("must be the HMAC key in hex, as Adyen shows it") from None
        if not key:
            raise ValueError("must not be empty")

        return value
