"""The configuration of one `slotegrator` provider instance."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from contracts import AdapterConfig


class SlotegratorConfig(AdapterConfig):
    """Where the aggregator's API lives and the merchant credentials it issued.

    `merchant_key` keys the HMAC-SHA1 `X-Sign` of every request, both ways.
    `timestamp_window_seconds` bounds how far a callback's `X-Timestamp` may
    lie before or after the gateway's clock. `timeout_seconds` bounds each
    outbound call to the aggregator's API.
    """

    base_url: str
    merchant_id: str = Field(min_length=1, max_length=128)
    merchant_key: SecretStr
    timestamp_window_seconds: int = Field(default=30, ge=1, le=300)
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http or https URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or a fragment")

        # Paths are joined as `{base_url}/games/init`, so one trailing slash goes.
        return value.rstrip("/")

    @field_validator("merchant_key")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")

        return value
