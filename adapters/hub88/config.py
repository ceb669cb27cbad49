"""The configuration of one `hub88` provider instance."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from adapters.hub88.signature import load_private_key, load_public_key
from contracts import AdapterConfig

_CODE = re.compile(r"[A-Z][A-Z0-9]{1,9}")


class Hub88Config(AdapterConfig):
    """Where Hub88's API lives, the operator's id and the two RSA keys.

    `private_key` is the operator's RSA private key (PEM): it signs every
    answer and every call to Hub88. `hub88_public_key` is Hub88's public key
    (PEM): it verifies every callback. `scales` gives the integer units per
    whole unit of currencies Hub88 does not carry at the fiat 100 000, for
    example `{"BTC": 100000000}`. `sub_partner_id` names the operator's brand
    on Hub88's side, where it has several. `default_country` stands in for a
    launch that names no country, because Hub88 requires one (and filters
    games by it). `timeout_seconds` bounds each call to Hub88's API.
    """

    base_url: str
    operator_id: int = Field(gt=0)
    private_key: SecretStr
    hub88_public_key: str
    scales: dict[str, int] = Field(default_factory=dict)
    sub_partner_id: str | None = Field(default=None, min_length=1, max_length=64)
    default_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http or https URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or a fragment")

        # Paths are joined as `{base_url}/operator/...`, so one trailing slash goes.
        return value.rstrip("/")

    @field_validator("private_key")
    @classmethod
    def _private_pem(cls, value: SecretStr) -> SecretStr:
        # The message never repeats the key: config errors are printed.
        load_private_key(value.get_secret_value())

        return value

    @field_validator("hub88_public_key")
    @classmethod
    def _public_pem(cls, value: str) -> str:
        load_public_key(value)

        return value

    @field_validator("scales")
    @classmethod
    def _positive_scales(cls, value: dict[str, int]) -> dict[str, int]:
        for code, scale in value.items():
            if not _CODE.fullmatch(code):
                raise ValueError(f"{code[:16]!r} is not a currency code")
            if scale <= 0:
                raise ValueError(f"the scale of {code} must be a positive integer")

        return value
