"""Pragmatic Play's `hash`: an MD5 over the sorted parameters and the secret key.

The canonical string is every parameter but `hash`, sorted by key, joined
raw (decoded, not URL-encoded) as `key=value` with `&`, with the secret key
appended with no separator; the hash is its lower-case hex MD5 over UTF-8.
Callbacks and outbound calls are signed the same way.

Empty values: the public description hashes "all parameters" of the request,
so a parameter sent with an empty value is part of the canonical string
(`bonusCode=&...`). Some integrations leave empty parameters out instead, so
when a callback carries one and the full form does not verify, the form
without its empty parameters is tried too; both need the secret key, so the
second form is no weaker. Outbound calls never send empty parameters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl

from contracts import InvalidSignature
from contracts.signing import same_signature

HASH_FIELD = "hash"
MAX_FIELDS = 100

Pairs = Iterable[tuple[str, str]]


def canonical(params: Mapping[str, str] | Pairs, *, skip_empty: bool = False) -> str:
    """Return the sorted `key=value&...` string the hash is computed over."""
    pairs = params.items() if isinstance(params, Mapping) else params
    kept = sorted(
        (key, value)
        for key, value in pairs
        if key != HASH_FIELD and not (skip_empty and value == "")
    )

    return "&".join(f"{key}={value}" for key, value in kept)


def md5_hash(
    params: Mapping[str, str] | Pairs, secret: str, *, skip_empty: bool = False
) -> str:
    """Return the lower-case hex MD5 of the canonical string and the secret."""
    text = canonical(params, skip_empty=skip_empty) + secret

    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def signed(params: Mapping[str, str], secret: str) -> dict[str, str]:
    """Return the parameters with their `hash` added, as outbound calls send them."""
    return {**params, HASH_FIELD: md5_hash(params, secret)}


def verified_form(body: bytes, secret: str, **context: object) -> list[tuple[str, str]]:
    """Decode a form body and check its `hash`, before anything else reads it.

    A body that is not UTF-8, or carries no single `hash`, cannot be verified
    and is refused as `InvalidSignature` too: nothing in it is trusted yet.
    Empty segments (`a=1&`) are skipped and a bare name reads as an empty
    value, as form decoders do. Upper-case hex is accepted: the comparison
    folds case.
    """
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError as error:
        raise InvalidSignature(
            "body is not a form the hash can cover", **context
        ) from error

    given = [value for key, value in pairs if key == HASH_FIELD]
    if len(given) != 1 or not _matches(pairs, secret, given[0]):
        raise InvalidSignature("hash does not match the parameters", **context)

    return pairs


def _matches(pairs: list[tuple[str, str]], secret: str, given: str) -> bool:
    if same_signature(md5_hash(pairs, secret), given):
        return True
    has_empty = any(value == "" for key, value in pairs if key != HASH_FIELD)

    return has_empty and same_signature(md5_hash(pairs, secret, skip_empty=True), given)
