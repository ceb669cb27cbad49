"""Adyen's standard notifications, built and signed from Adyen's side.

Each `NotificationRequestItem` is signed on its own, as Adyen documents: the
base64 HMAC-SHA256, under the hex-decoded HMAC key, of its pspReference,
originalReference, merchantAccountCode, merchantReference, amount value,
amount currency, eventCode and success, joined with `:` and a missing value
as the empty string. This is written apart from the adapter on purpose, so
the two can disagree where one of them is wrong.

`Notifier` posts batches to a webhook URL: in order, one item per batch in
reverse order, the same batch again, with one item forged under another key,
or with one item changed after it was signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson


def signing_string(item: Mapping[str, Any]) -> str:
    """Return the text Adyen signs for one notification item."""
    amount = item.get("amount") or {}
    values = (
        item.get("pspReference"),
        item.get("originalReference"),
        item.get("merchantAccountCode"),
        item.get("merchantReference"),
        amount.get("value"),
        amount.get("currency"),
        item.get("eventCode"),
        item.get("success"),
    )

    return ":".join("" if value is None else str(value) for value in values)


def signature(hmac_key_hex: str, item: Mapping[str, Any]) -> str:
    """Return the `hmacSignature` Adyen gives one notification item."""
    key = bytes.fromhex(hmac_key_hex)
    digest = hmac.new(key, signing_string(item).encode(), hashlib.sha256).digest()

    return base64.b64encode(digest).decode()


def notification_item(
    hmac_key_hex: str,
    *,
    event_code: str,
    psp_reference: str,
    merchant_account: str,
    merchant_reference: str,
    amount: Mapping[str, Any] | None,
    success: bool = True,
    original_reference: str | None = None,
    reason: str = "",
    additional: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return one signed `NotificationRequestItem`."""
    item: dict[str, Any] = {
        "eventCode": event_code,
        "success": "true" if success else "false",
        "eventDate": datetime.now(UTC).isoformat(timespec="seconds"),
        "merchantAccountCode": merchant_account,
        "merchantReference": merchant_reference,
        "pspReference": psp_reference,
        "reason": reason,
    }
    if amount is not None:
        item["amount"] = dict(amount)
    if original_reference is not None:
        item["originalReference"] = original_reference
    item["additionalData"] = {
        **(additional or {}),
        "hmacSignature": signature(hmac_key_hex, item),
    }

    return item


def batch(items: Sequence[Mapping[str, Any]], live: bool = False) -> bytes:
    """Return the body of one notification batch carrying `items`."""
    document = {
        "live": "true" if live else "false",
        "notificationItems": [{"NotificationRequestItem": item} for item in items],
    }

    return orjson.dumps(document)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One batch posted to a webhook and the answer it got."""

    body: bytes
    status: int
    answer: bytes

    @property
    def accepted(self) -> bool:
        """Whether the receiver accepted the batch the way Adyen checks it."""
        return 200 <= self.status < 300 and self.answer.strip() == b"[accepted]"


class Notifier:
    """Posts notification batches to a webhook URL, well-formed or not."""

    def __init__(self, http: httpx.AsyncClient | None = None) -> None:
        self._http = http or httpx.AsyncClient(timeout=10.0)
        self._owns_http = http is None

    async def aclose(self) -> None:
        """Close the HTTP client if this notifier created it."""
        if self._owns_http:
            await self._http.aclose()

    async def notify(self, url: str, *items: Mapping[str, Any]) -> Delivery:
        """Post one batch carrying every item, in the order given."""
        return await self.post(url, batch(items))

    async def notify_out_of_order(
        self, url: str, *items: Mapping[str, Any]
    ) -> list[Delivery]:
        """Post each item in a batch of its own, the last item first."""
        return [await self.notify(url, item) for item in reversed(items)]

    async def notify_repeated(
        self, url: str, *items: Mapping[str, Any], times: int = 2
    ) -> list[Delivery]:
        """Post the same batch `times` times, byte for byte, as a retry does."""
        body = batch(items)

        return [await self.post(url, body) for _ in range(times)]

    async def notify_forged(
        self, url: str, *items: Mapping[str, Any], forged: int = 0
    ) -> Delivery:
        """Post one batch whose item `forged` is signed under a key not Adyen's."""
        other_key = secrets.token_hex(32)
        changed = [dict(item) for item in items]
        target = changed[forged]
        target["additionalData"] = {
            **target.get("additionalData", {}),
            "hmacSignature": signature(other_key, target),
        }

        return await self.notify(url, *changed)

    async def notify_tampered(
        self, url: str, *items: Mapping[str, Any], tampered: int = 0
    ) -> Delivery:
        """Post one batch whose item `tampered` had its amount raised after signing."""
        changed = [dict(item) for item in items]
        target = changed[tampered]
        amount = dict(target.get("amount") or {"value": 0, "currency": "EUR"})
        amount["value"] = int(amount.get("value", 0)) * 100 + 1
        target["amount"] = amount

        return await self.notify(url, *changed)

    async def post(self, url: str, body: bytes) -> Delivery:
        """Post raw batch bytes as Adyen does and keep the answer."""
        response = await self._http.post(
            url, content=body, headers={"Content-Type": "application/json"}
        )

        return Delivery(body, response.status_code, response.content)
