"""Pragmatic Play's `hash` as the provider computes it, written apart from the adapter.

MD5 over every parameter but `hash`, sorted by key and joined raw as
`key=value&...`, with the secret key appended with no separator; lower-case
hex. Parameters with empty values are included. The simulator keeps its own
copy so that a fault in the adapter's copy shows up as a refusal in tests.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

Params = Mapping[str, str] | Iterable[tuple[str, str]]


def pragmatic_hash(params: Params, secret: str) -> str:
    """Return the hash of the parameters (any `hash` among them is left out)."""
    pairs = params.items() if isinstance(params, Mapping) else params
    text = "&".join(f"{k}={v}" for k, v in sorted(pairs) if k != "hash")

    return hashlib.md5((text + secret).encode(), usedforsecurity=False).hexdigest()


def sign(params: Mapping[str, str], secret: str) -> dict[str, str]:
    """Return the parameters with their `hash` added."""
    return {**params, "hash": pragmatic_hash(params, secret)}


def verify(pairs: list[tuple[str, str]], secret: str) -> bool:
    """Say whether the one `hash` among the pairs matches, in any letter case."""
    given = [value for key, value in pairs if key == "hash"]
    if len(given) != 1:
        return False

    return hmac.compare_digest(
        pragmatic_hash(pairs, secret).encode(), given[0].strip().lower().encode()
    )
