"""The configuration of one `trustly` provider instance."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from adapters.trustly.signature import load_private_key, load_public_key
from contracts import AdapterConfig


class TrustlyConfig(AdapterConfig):
    """Where Trustly's API lives, the merchant's credentials and the two RSA keys.

    `api_url` is the whole JSON-RPC endpoint (`https://test.trustly.com/api/1`
    for Trustly's test environment). `username` and `password` are the
    processing account's API credentials, sent in every call's data.
    `private_key` is the merchant's RSA private key (PEM): it signs every call
    and every notification reply. `trustly_public_key` is Trustly's public
    key for the environment (PEM): it verifies every answer and notification.
    `notification_url` is this instance's webhook base as Trustly reaches it
    (`https://gateway.example/providers/trustly-main`); deposits name
    `{notification_url}/deposit` and payouts `{notification_url}/payout` as
    their NotificationURL. `presentation` says whether the casino shows
    Trustly's URL as a redirect or in an iframe; `default_locale` stands in
    for a request that names no locale. `timeout_seconds` bounds each call.
    """

    api_url: str
    username: str = Field(min_length=1, max_length=200)
    password: SecretStr
    private_key: SecretStr
    trustly_public_key: str
    notification_url: str
    presentation: Literal["redirect", "iframe"] = "redirect"
    default_locale: str = Field(default="en", pattern=r"^[a-z]{2}(_[A-Z]{2})?$")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        _http_url(value)

        return value

    @field_validator("notification_url")
    @classmethod
    def _notification_url(cls, value: str) -> str:
        # Trustly refuses a NotificationURL with a question mark in it.
        _http_url(value)

        return value.rstrip("/")

    @field_validator("private_key")
    @classmethod
    def _private_pem(cls, value: SecretStr) -> SecretStr:
        # The message never repeats the key: config errors are printed.
        load_private_key(value.get_secret_value())

        return value

    @field_validator("trustly_public_key")
    @classmethod
    def _public_pem(cls, value: str) -> str:
        load_public_key(value)

        return value


def _http_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL with a host")
    if "?" in value or parts.fragment:
        raise ValueError("must not carry a query or a fragment")
