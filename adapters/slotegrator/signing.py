"""The `X-Sign` scheme: HMAC-SHA1 over the parameters as a sorted form query.

The aggregator documents the signature as PHP builds it: merge the body's
parameters with the `X-Merchant-Id`, `X-Timestamp` and `X-Nonce` headers,
`ksort` the result, encode it with `http_build_query` (RFC 1738: a space is
`+`, everything but letters, digits and `-_.` is `%XX`) and take the
lower-case hex HMAC-SHA1 keyed with the merchant key.

Two details follow from that construction and are kept here:

- `~` is encoded as `%7E`. Python's `quote_plus` leaves it alone (RFC 3986);
  PHP's `urlencode`, which the aggregator uses, does not.
- `ksort` orders top-level names only. A list such as
  `rollback_transactions[0][action]` is one top-level name whose members
  keep the order they were sent in, as `http_build_query` renders them. For
  flat parameters this is exactly a byte-wise sort by key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote_plus, unquote_to_bytes

SIGNATURE_HEADER = "X-Sign"
MERCHANT_HEADER = "X-Merchant-Id"
TIMESTAMP_HEADER = "X-Timestamp"
NONCE_HEADER = "X-Nonce"
SIGNED_HEADERS = (MERCHANT_HEADER, TIMESTAMP_HEADER, NONCE_HEADER)

Pair = tuple[bytes, bytes]


def form_encode(value: bytes) -> str:
    """Encode bytes as PHP's `urlencode` does: RFC 1738, space as `+`."""
    return quote_plus(value, safe="").replace("~", "%7E")


def form_query(pairs: Iterable[Pair]) -> str:
    """Join encoded pairs as `key=value&...`, in the order given."""
    return "&".join(f"{form_encode(key)}={form_encode(value)}" for key, value in pairs)


def parse_form(body: bytes) -> list[Pair]:
    """Split a form body into decoded (key, value) byte pairs, in body order.

    Nothing is dropped or merged: a body with a repeated key keeps both, so
    it cannot verify against a signer that kept only one of them.
    """
    pairs = []
    for piece in body.split(b"&"):
        if not piece:
            continue
        key, _, value = piece.partition(b"=")
        pairs.append((_unquote(key), _unquote(value)))

    return pairs


def canonical_query(pairs: Sequence[Pair]) -> bytes:
    """Return the string the signature is computed over, as `ksort` orders it."""
    ordered = sorted(pairs, key=lambda pair: _top_level_name(pair[0]))

    return form_query(ordered).encode("ascii")


def signed_pairs(pairs: Sequence[Pair], headers: Mapping[str, str]) -> list[Pair]:
    """Return the parameters merged with the three signed headers."""
    merged = list(pairs)
    merged.extend(
        (name.encode(), headers.get(name, "").encode()) for name in SIGNED_HEADERS
    )

    return merged


def sign(key: bytes, pairs: Sequence[Pair], headers: Mapping[str, str]) -> str:
    """Return the lower-case hex `X-Sign` of parameters and headers."""
    message = canonical_query(signed_pairs(pairs, headers))

    return hmac.new(key, message, hashlib.sha1).hexdigest()


def _unquote(text: bytes) -> bytes:
    return unquote_to_bytes(text.replace(b"+", b" "))


def _top_level_name(key: bytes) -> bytes:
    return key.split(b"[", 1)[0]
