"""CoinsPaid's callbacks, simulated: signed deposit and withdrawal notifications.

`CallbackClient` posts callback bodies to a merchant's callback URL (here, a
gamegate provider instance's `/callback`) the way CoinsPaid does: the raw
JSON signed with `X-Processing-Key` and `X-Processing-Signature`. It can
also misbehave on purpose: send amounts as JSON numbers instead of strings,
sign with the wrong secret, name the wrong key, drop the headers, or alter
the body after signing. `deposit_callback` and `withdrawal_callback` build
bodies shaped like CoinsPaid's documented examples.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import httpx
import orjson

KEY_HEADER = "X-Processing-Key"
SIGNATURE_HEADER = "X-Processing-Signature"
Forgery = Literal["secret", "key", "unsigned", "tampered"]

# `"amount":"6.53157512"` becomes `"amount":6.53157512`: the exact decimal as a
# JSON number, with no float in between.
_QUOTED_AMOUNT = re.compile(rb'"(amount|amount_minus_fee|amount_to)":"([0-9.]+)"')


@dataclass(frozen=True, slots=True)
class Delivery:
    """One callback sent and the merchant's answer to it."""

    body: bytes
    headers: Mapping[str, str]
    status: int
    answer: bytes

    @property
    def accepted(self) -> bool:
        """Whether the merchant answered 200, which stops CoinsPaid's retries."""
        return self.status == 200


def deposit_callback(
    transaction_id: int,
    status: str,
    *,
    address_id: int,
    address: str,
    foreign_id: str,
    currency: str,
    amount: str,
    tag: str | None = None,
    convert_to: str | None = None,
    received: str | None = None,
    txid: str = "",
    error: str = "",
) -> dict[str, Any]:
    """Build a deposit callback body, with conversion when `convert_to` is set."""
    crypto_address: dict[str, Any] = {
        "id": address_id,
        "currency": currency,
        "address": address,
        "tag": tag,
        "foreign_id": foreign_id,
    }
    if convert_to is not None:
        crypto_address["convert_to"] = convert_to
    received_currency = convert_to or currency

    return {
        "id": transaction_id,
        "type": "deposit_exchange" if convert_to else "deposit",
        "crypto_address": crypto_address,
        "currency_sent": {"currency": currency, "amount": amount},
        "currency_received": {
            "currency": received_currency,
            "amount": received or amount,
        },
        "transactions": [
            {
                "id": transaction_id,
                "currency": currency,
                "transaction_type": "blockchain",
                "type": "deposit",
                "address": address,
                "tag": tag,
                "amount": amount,
                "txid": txid,
                "confirmations": 0 if status == "not_confirmed" else 3,
            }
        ],
        "fees": [],
        "error": error,
        "status": status,
    }


def withdrawal_callback(
    transaction_id: int,
    status: str,
    *,
    foreign_id: str,
    currency: str,
    amount: str,
    address: str,
    tag: str | None = None,
    txid: str = "",
    error: str = "",
) -> dict[str, Any]:
    """Build a withdrawal callback body."""
    return {
        "id": transaction_id,
        "foreign_id": foreign_id,
        "type": "withdrawal",
        "crypto_address": {
            "id": transaction_id,
            "currency": currency,
            "address": address,
            "tag": tag,
        },
        "currency_sent": {"currency": currency, "amount": amount},
        "currency_received": {"currency": currency, "amount": amount},
        "transactions": [
            {
                "id": transaction_id,
                "currency": currency,
                "transaction_type": "blockchain",
                "type": "withdrawal",
                "address": address,
                "tag": tag,
                "amount": amount,
                "txid": txid,
                "confirmations": 0,
            }
        ],
        "fees": [],
        "error": error,
        "status": status,
    }


def encode(document: Mapping[str, Any], *, amounts_as_numbers: bool = False) -> bytes:
    """Serialize a callback compactly, with amounts as JSON numbers if asked."""
    body = orjson.dumps(document)
    if amounts_as_numbers:
        body = _QUOTED_AMOUNT.sub(rb'"\1":\2', body)

    return body


class CallbackClient:
    """Posts signed callbacks to one merchant callback URL, as CoinsPaid does."""

    def __init__(
        self,
        webhook_url: str,
        public_key: str,
        secret: str,
        *,
        timeout: float = 5.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.webhook_url = webhook_url
        self.public_key = public_key
        self._secret = secret.encode()
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None

    async def __aenter__(self) -> CallbackClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this callback client created it."""
        if self._owns_http:
            await self._http.aclose()

    def sign(self, body: bytes) -> str:
        """Return the `X-Processing-Signature` of a body under the secret."""
        return hmac.new(self._secret, body, hashlib.sha512).hexdigest()

    async def send(
        self,
        document: Mapping[str, Any],
        *,
        amounts_as_numbers: bool = False,
        forge: Forgery | None = None,
    ) -> Delivery:
        """Sign and post one callback body, forged in one way when asked."""
        body = encode(document, amounts_as_numbers=amounts_as_numbers)
        headers = {
            KEY_HEADER: self.public_key,
            SIGNATURE_HEADER: self.sign(body),
            "Content-Type": "application/json",
        }
        if forge == "secret":
            headers[SIGNATURE_HEADER] = hmac.new(
                b"not-the-secret", body, hashlib.sha512
            ).hexdigest()
        elif forge == "key":
            headers[KEY_HEADER] = f"{self.public_key}-other"
        elif forge == "unsigned":
            del headers[KEY_HEADER], headers[SIGNATURE_HEADER]
        elif forge == "tampered":
            body = body.replace(b'"status":"not_confirmed"', b'"status":"confirmed"')
            body = body.replace(b'"amount":"', b'"amount":"1')

        return await self.send_raw(body, headers)

    async def send_raw(self, body: bytes, headers: Mapping[str, str]) -> Delivery:
        """Post exactly these bytes with exactly these headers."""
        response = await self._http.post(
            self.webhook_url, content=body, headers=dict(headers)
        )

        return Delivery(
            body=body,
            headers=dict(headers),
            status=response.status_code,
            answer=response.content,
        )

    async def retransmit(self, delivery: Delivery) -> Delivery:
        """Send an earlier callback once more, byte for byte, as a retry does."""
        return await self.send_raw(delivery.body, delivery.headers)
