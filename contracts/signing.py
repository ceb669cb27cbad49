"""Signing helpers shared by adapters: HMAC digests and constant-time checks."""

from __future__ import annotations

import hashlib
import hmac


def hmac_sha256_hex(key: bytes | str, message: bytes) -> str:
    """Return the lower-case hex HMAC-SHA256 of `message` keyed with `key`."""
    if isinstance(key, str):
        key = key.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def same_signature(expected: str, given: str | None) -> bool:
    """Compare two signatures in constant time; a missing one never matches."""
    if not given:
        return False
    return hmac.compare_digest(
        expected.lower().encode(), given.strip().lower().encode()
    )
