"""How the aggregator's side builds and signs a request, modelled on PHP.

The aggregator documents its signature as PHP code: `array_merge` the
parameters with the three `X-*` headers, `ksort`, `http_build_query`, then
`hash_hmac('sha1', ...)`. This module reproduces those functions on Python
values (nested mappings and lists as PHP arrays) without sharing code with
the adapter, so each checks the other.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

MERCHANT_HEADER = "X-Merchant-Id"
TIMESTAMP_HEADER = "X-Timestamp"
NONCE_HEADER = "X-Nonce"
SIGNATURE_HEADER = "X-Sign"
SIGNED_HEADERS = (MERCHANT_HEADER, TIMESTAMP_HEADER, NONCE_HEADER)

_UNRESERVED = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
)


def urlencode(text: str) -> str:
    """Encode text as PHP's `urlencode`: keep `A-Za-z0-9-_.`, space as `+`."""
    encoded = []
    for byte in text.encode("utf-8"):
        if byte in _UNRESERVED:
            encoded.append(chr(byte))
        elif byte == 0x20:
            encoded.append("+")
        else:
            encoded.append(f"%{byte:02X}")

    return "".join(encoded)


def http_build_query(params: Mapping[str, Any]) -> str:
    """Render parameters as PHP's `http_build_query` does, nested ones included."""
    return "&".join(_flatten(params, None))


def ksort(params: Mapping[str, Any]) -> dict[str, Any]:
    """Order top-level keys as PHP's `ksort` orders string keys: byte-wise."""
    return {key: params[key] for key in sorted(params, key=lambda k: k.encode())}


def parse_str(query: str) -> dict[str, Any]:
    """Read a form query into nested mappings, as PHP's `parse_str` does."""
    params: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        name, _, rest = key.partition("[")
        path = [name, *rest.rstrip("]").split("][")] if rest else [name]
        target = params
        for step in path[:-1]:
            target = target.setdefault(step, {})
        target[path[-1]] = value

    return params


def signature(key: str, params: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    """Return the `X-Sign` of parameters and the three `X-*` headers."""
    merged = {**params, **{name: headers[name] for name in SIGNED_HEADERS}}
    message = http_build_query(ksort(merged)).encode("ascii")

    return hmac.new(key.encode(), message, hashlib.sha1).hexdigest()


def _flatten(params: Mapping[str, Any], prefix: str | None) -> Iterator[str]:
    for key, value in params.items():
        name = str(key) if prefix is None else f"{prefix}[{key}]"
        if value is None:
            continue
        if isinstance(value, Mapping):
            yield from _flatten(value, name)
        elif isinstance(value, Sequence) and not isinstance(value, str):
            yield from _flatten({str(i): item for i, item in enumerate(value)}, name)
        else:
            yield f"{urlencode(name)}={urlencode(_scalar(value))}"


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal | str):
        return str(value)
    raise TypeError(f"cannot put {type(value).__name__} in a form query")
