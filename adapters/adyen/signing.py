"""The HMAC signature Adyen puts on each item of a standard notification.

Adyen signs every `NotificationRequestItem` on its own, not the body: the
HMAC-SHA256, keyed with the hex-decoded HMAC key of the webhook, of

    pspReference:originalReference:merchantAccountCode:merchantReference:
    value:currency:eventCode:success

(one line), each value as the JSON carries it and a missing one as the empty
string, base64-encoded into `additionalData.hmacSignature` (Adyen, "Verify HMAC
signatures": https://docs.adyen.com/development-resources/webhooks/
secure-webhooks/verify-hmac-signatures).
Values are joined unescaped, so a `:` inside a reference is signed as is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

SIGNATURE_FIELD = "hmacSignature"
SIGNED_FIELDS = (
    "pspReference",
    "originalReference",
    "merchantAccountCode",
    "merchantReference",
    "value",
    "currency",
    "eventCode",
    "success",
)


def signing_string(item: Mapping[str, Any]) -> str:
    """Return the text Adyen signs for one notification item."""
    amount = item.get("amount")
    amount = amount if isinstance(amount, dict) else {}
    values = {**item, "value": amount.get("value"), "currency": amount.get("currency")}

    return ":".join(_as_signed(values.get(field)) for field in SIGNED_FIELDS)


def sign(key: bytes, message: str) -> str:
    """Return the base64 HMAC-SHA256 of `message` under the decoded key."""
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()

    return base64.b64encode(digest).decode()


def verifies(key: bytes, item: Mapping[str, Any]) -> bool:
    """Return whether the item's `hmacSignature` is its own, in constant time.

    Base64 is case-sensitive, so the comparison is of the exact text; a
    missing or non-text signature never verifies.
    """
    additional = item.get("additionalData")
    given = additional.get(SIGNATURE_FIELD) if isinstance(additional, dict) else None
    if not isinstance(given, str) or not given:
        return False
    expected = sign(key, signing_string(item))

    return hmac.compare_digest(expected.encode(), given.encode())


def _as_signed(value: object) -> str:
    # The JSON text of a scalar: what Adyen joined when it signed the item.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)

    return repr(value)
