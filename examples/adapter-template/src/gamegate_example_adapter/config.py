"""The configuration of one `example` provider instance."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from contracts import AdapterConfig


class ExampleConfig(AdapterConfig):
    """Where the provider's API lives and the secret the casino shares with it.

    `secret` keys the HMAC of every callback, launch and answer, both ways.
    `timeout_seconds` bounds each call to the provider's launch API.
    """

    base_url: str
    secret: SecretStr
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http or https URL with a host")

        # Paths are joined as `{base_url}/launch`, so one trailing slash goes.
        return value.rstrip("/")

    @field_validator("secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")

        return value
