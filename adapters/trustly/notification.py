"""Reading Trustly's notifications into payment events, and signing the replies.

A notification is a JSON-RPC call from Trustly, `{"method", "params":
{"signature", "uuid", "data"}, "version": "1.1"}`, posted to the
NotificationURL the merchant named when it made the order. The adapter
names `{notification_url}/deposit` for deposits and `.../payout` for payouts,
because the same method means different things for each (a `debit` reverses
a deposit but asks the merchant to take a payout's money) and nothing in the
notification says which it is. `events_for` reads the data once the
signature has been verified; every refusal here is a `BadRequest`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.trustly.rpc import VERSION, UnverifiedAnswer, load_json
from adapters.trustly.signature import sign
from contracts import BadRequest, CurrencyTable, Money, UnknownOperation
from contracts.payments import PaymentEvent, PaymentState

_S = PaymentState
DEPOSIT_PATH = "deposit"
PAYOUT_PATH = "payout"
WEBHOOK_PATHS = (DEPOSIT_PATH, PAYOUT_PATH)

# The states each notification moves a payment to, by webhook path; see the
# table in `adapters.trustly.adapter`. A payout's `credit` gives two events:
# the gateway's `can_move` takes whichever applies (failed before the money
# left, returned after it was paid) and refuses the other.
EVENTS: Mapping[tuple[str, str], tuple[PaymentState, ...]] = {
    (DEPOSIT_PATH, "pending"): (_S.PENDING,),
    (DEPOSIT_PATH, "credit"): (_S.SUCCEEDED,),
    (DEPOSIT_PATH, "debit"): (_S.REVERSED,),
    (DEPOSIT_PATH, "cancel"): (_S.CANCELED,),
    (DEPOSIT_PATH, "payoutconfirmation"): (_S.REFUNDED,),
    (PAYOUT_PATH, "pending"): (_S.PROCESSING,),
    (PAYOUT_PATH, "debit"): (_S.PENDING_APPROVAL,),
    (PAYOUT_PATH, "credit"): (_S.FAILED, _S.RETURNED),
    (PAYOUT_PATH, "cancel"): (_S.CANCELED,),
    (PAYOUT_PATH, "payoutconfirmation"): (_S.PAID,),
}
# Notifications that carry information but move no payment: acknowledged only.
SILENT_METHODS = frozenset({"account", "kyc"})
METHODS = frozenset(method for _, method in EVENTS) | SILENT_METHODS
_UUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.IGNORECASE)

Status = Literal["OK", "FAILED"]


@dataclass(frozen=True, slots=True)
class Notification:
    """A notification as Trustly sent it, before or after its signature is checked."""

    method: str
    uuid: str
    data: Mapping[str, Any]
    signature: object

    @property
    def name(self) -> str:
        """The method in lower case, as the tables name it; Java's client folds it."""
        return self.method.lower()

    @property
    def repliable(self) -> bool:
        """Whether the method and uuid are ones the merchant may sign a reply to."""
        return self.name in METHODS and _UUID.fullmatch(self.uuid) is not None


def read_notification(body: bytes) -> Notification:
    """Parse a notification's envelope; its signature is not checked here."""
    try:
        document = load_json(body)
    except UnverifiedAnswer as error:
        raise BadRequest("notification is not valid JSON") from error
    if not isinstance(document, dict) or not isinstance(document.get("params"), dict):
        raise BadRequest("notification must be a JSON-RPC call with params")

    params = document["params"]
    method, uuid, data = document.get("method"), params.get("uuid"), params.get("data")
    if not isinstance(method, str) or not isinstance(uuid, str):
        raise BadRequest("notification must name its method and uuid")
    if not isinstance(data, dict):
        raise BadRequest("notification data must be an object")

    return Notification(method, uuid, data, params.get("signature"))


def events_for(
    path: str, notification: Notification, currencies: CurrencyTable
) -> tuple[PaymentEvent, ...]:
    """Read a verified notification into the events it stands for."""
    if path not in WEBHOOK_PATHS:
        raise UnknownOperation(f"no notifications at {path[:40]!r}", path=path)
    if notification.name not in METHODS:
        raise UnknownOperation(
            f"no notification {notification.method[:40]!r}", path=path
        )
    if not notification.repliable:
        raise BadRequest("notification uuid is not a UUID")
    if notification.name in SILENT_METHODS:
        return ()
    states = EVENTS[(path, notification.name)]

    data = notification.data
    event_id = _identifier(data, "notificationid")
    payment_id = _identifier(data, "messageid")
    order_id = _identifier(data, "orderid")
    amount = _amount(data, currencies)
    occurred_at = _timestamp(data.get("timestamp"))
    reason = _reason(data.get("attributes"))

    return tuple(
        PaymentEvent(
            event_id=event_id if index == 0 else f"{event_id}:{state.value}",
            state=state,
            payment_id=payment_id,
            provider_reference=order_id,
            amount=amount,
            occurred_at=occurred_at,
            reason=reason,
        )
        for index, state in enumerate(states)
    )


def reply(key: rsa.RSAPrivateKey, notification: Notification, status: Status) -> bytes:
    """Return the merchant's signed reply to a verified notification."""
    data = {"status": status}
    result = {
        "signature": sign(key, notification.method, notification.uuid, data),
        "uuid": notification.uuid,
        "method": notification.method,
        "data": data,
    }

    return orjson.dumps({"result": result, "version": VERSION})


def _identifier(data: Mapping[str, Any], field: str) -> str:
    value = data.get(field)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{field} is required", field=field)

    return value


def _amount(data: Mapping[str, Any], currencies: CurrencyTable) -> Money | None:
    amount, currency = data.get("amount"), data.get("currency")
    if amount is None and currency is None:
        return None
    if not isinstance(currency, str):
        raise BadRequest("an amount needs its currency", field="currency")
    if not isinstance(amount, str | Decimal) and type(amount) is not int:
        raise BadRequest("amount must be a decimal string", field="amount")

    return currencies.parse(amount, currency)


def _timestamp(value: object) -> datetime | None:
    # Trustly writes PostgreSQL's text ("2010-01-20 14:42:04.675645+01"); a
    # time it does not give, or gives otherwise, is left out, not refused.
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _reason(attributes: object) -> str:
    if not isinstance(attributes, dict):
        return ""
    parts = [attributes.get(key) for key in ("reason", "details")]

    return ": ".join(part for part in parts if isinstance(part, str) and part)[:200]
