"""The configuration of one `softswiss` provider instance."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from contracts import AdapterConfig


class SoftswissConfig(AdapterConfig):
    """Where the provider's API lives and the credentials the casino was given.

    `auth_token` keys the HMAC of every request and answer, both ways.
    `timeout_seconds` bounds each outbound call to the provider's API.
    """

    base_url: str
    auth_token: SecretStr
    casino_id: str = Field(min_length=1)
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http or https URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or a fragment")

        # Paths are joined as `{base_url}/sessions`, so one trailing slash goes.
        return value.rstrip("/")

    @field_validator("auth_token")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")

        return value
