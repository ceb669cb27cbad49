"""The configuration of one `coinspaid` provider instance."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from contracts import AdapterConfig

_CURRENCY = re.compile(r"[A-Z][A-Z0-9]{1,9}")


class CoinspaidConfig(AdapterConfig):
    """Where CoinsPaid's API lives and the key pair the merchant account gave.

    `api_url` is the API root without the version, for example
    `https://app.cryptoprocessing.com/api`; paths are joined as
    `{api_url}/v2/addresses/take`. `public_key` is sent as `X-Processing-Key`
    and must come back on every callback; `secret` keys the HMAC-SHA512 of
    every body, both ways. `convert_to`, when set, asks CoinsPaid to convert
    every deposit to that currency on arrival. `timeout_seconds` bounds each
    outbound call.
    """

    api_url: str
    public_key: str = Field(min_length=1)
    secret: SecretStr
    convert_to: str | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http or https URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or a fragment")

        # Paths are joined as `{api_url}/v2/...`, so one trailing slash goes.
        return value.rstrip("/")

    @field_validator("secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")

        return value

    @field_validator("convert_to")
    @classmethod
    def _currency_code(cls, value: str | None) -> str | None:
        if value is not None and not _CURRENCY.fullmatch(value):
            raise ValueError("must be an upper-case currency code such as EUR")

        return value
