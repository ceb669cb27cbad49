"""Trustly's notifications to a merchant: signed, sent over HTTP, replies verified.

A `Notification` is what the simulated Trustly posts to a NotificationURL.
`tampered` changes its data and keeps the old signature, `forged` signs it
with a key that is not Trustly's; sending one twice is a repeat, sending
them in any order is an out-of-order delivery. `send` posts one and reads
the merchant's reply, whose signature it verifies with the merchant's key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import httpx
import orjson

from examples.trustly_simulator.keys import KeyPair, verifies


@dataclass(frozen=True, slots=True)
class Notification:
    """One signed notification and the NotificationURL it goes to."""

    method: str
    uuid: str
    data: Mapping[str, Any]
    signature: str
    url: str

    def document(self) -> dict[str, Any]:
        """Return the JSON-RPC call as Trustly posts it."""
        params = {"signature": self.signature, "uuid": self.uuid, "data": self.data}
        return {"method": self.method, "params": params, "version": "1.1"}

    def body(self) -> bytes:
        """Return the call's JSON body."""
        return orjson.dumps(self.document(), default=_decimal)

    def tampered(self, **changes: Any) -> Notification:
        """Return a copy whose data is changed but whose signature is not."""
        return replace(self, data={**self.data, **changes})

    def forged(self, keys: KeyPair) -> Notification:
        """Return a copy signed with `keys`, which are not Trustly's."""
        return replace(self, signature=keys.sign(self.method, self.uuid, self.data))


@dataclass(frozen=True, slots=True)
class Reply:
    """The merchant's answer to one notification, and whether its signature holds."""

    notification: Notification
    http_status: int
    verified: bool
    status: str | None
    document: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the merchant answered a signed `OK` for this very notification."""
        return self.http_status == 200 and self.verified and self.status == "OK"


async def send(
    notification: Notification,
    merchant_key: Any,
    http: httpx.AsyncClient,
    url: str | None = None,
) -> Reply:
    """Post a notification and read the merchant's reply."""
    response = await http.post(
        url or notification.url,
        content=notification.body(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    try:
        document = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return Reply(notification, response.status_code, False, None)

    result = document.get("result")
    if not isinstance(result, dict):
        return Reply(notification, response.status_code, False, None, document)
    data = result.get("data")
    verified = (
        result.get("uuid") == notification.uuid
        and result.get("method") == notification.method
        and verifies(
            merchant_key,
            notification.method,
            notification.uuid,
            data,
            result.get("signature"),
        )
    )
    status = data.get("status") if isinstance(data, dict) else None

    return Reply(
        notification,
        response.status_code,
        verified,
        status if isinstance(status, str) else None,
        document,
    )


def _decimal(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
