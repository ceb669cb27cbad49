"""The configuration of one `pragmatic` provider instance."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from contracts import AdapterConfig


class PragmaticConfig(AdapterConfig):
    """Where Pragmatic Play's API lives and the credentials the casino was given.

    `base_url` is the integration API's root, for example
    `https://api.prerelease-env.biz/IntegrationService/v3/http`. `secret_key`
    keys the MD5 hash of every callback and every outbound call;
    `secure_login` names the casino's account in outbound calls;
    `provider_id` is the `providerId` Pragmatic sends on every callback.
    `timeout_seconds` bounds each outbound call.
    """

    base_url: str
    secret_key: SecretStr
    secure_login: str = Field(min_length=1, max_length=100)
    provider_id: str = Field(default="PragmaticPlay", min_length=1, max_length=100)
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http or https URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or a fragment")

        # Paths are joined as `{base_url}/CasinoGameAPI/...`: one slash goes.
        return value.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")

        return value
