"""The configuration of one `evolution` provider instance."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from contracts import AdapterConfig


class EvolutionConfig(AdapterConfig):
    """Where Evolution's APIs live and the credentials both sides were given.

    `casino_key` and `api_token` open the User Authentication (launch) API;
    `auth_token` is the static token Evolution puts in the `authToken` query
    parameter of every One Wallet callback. `allowed_ips` (addresses or CIDR
    networks), when not empty, is the only place callbacks may come from.
    `default_country` stands in for a launch that names no country, because
    Evolution requires one. `lobby_api_token` opens the Lobby API the game
    list is read from; without it the adapter lists no games.
    """

    base_url: str
    casino_key: str = Field(min_length=1, max_length=128)
    api_token: SecretStr
    auth_token: SecretStr
    allowed_ips: list[str] = Field(default_factory=list)
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    default_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    lobby_api_token: SecretStr | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http or https URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or a fragment")

        # Paths are joined as `{base_url}/ua/v1/...`, so one trailing slash goes.
        return value.rstrip("/")

    @field_validator("api_token", "auth_token", "lobby_api_token")
    @classmethod
    def _not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            raise ValueError("must not be empty")

        return value

    @field_validator("allowed_ips")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError as error:
                raise ValueError(
                    f"{value!r} is not an IP address or network"
                ) from error

        return values
