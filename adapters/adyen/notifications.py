"""Reading a batch of Adyen standard notifications into payment events.

A batch is `{"live": "false", "notificationItems": [{"NotificationRequestItem":
{...}}, ...]}`. Every item is verified on its own before anything of the
batch is read, and one item that does not verify refuses the whole batch:
nothing of it reaches the gateway, Adyen sends it again, and a forger
cannot slip an item in beside genuine ones.

Each event's id is `pspReference:eventCode:success`. Adyen's own plugins
treat a notification with the same pspReference, eventCode and success as a
duplicate (adyen-magento2 stores and skips on exactly those three, see
Adyen/adyen-magento2#415), and a retried batch repeats them unchanged.

What each eventCode and success mean for the payment
(https://docs.adyen.com/development-resources/webhooks/webhook-types,
https://docs.adyen.com/online-payments/online-payouts/payout-webhook):

| eventCode                        | success true        | success false |
| -------------------------------- | ------------------- | ------------- |
| AUTHORISATION                    | succeeded (capture  | failed        |
|                                  | automatic), else    |               |
|                                  | authorized          |               |
| CAPTURE                          | succeeded           | (no event)    |
| CAPTURE_FAILED                   | failed              | failed        |
| CANCELLATION, TECHNICAL_CANCEL   | canceled            | (no event)    |
| CANCEL_OR_REFUND                 | canceled or         | (no event)    |
|                                  | refunded, by        |               |
|                                  | modification.action |               |
| REFUND                           | refunded            | (no event)    |
| REFUND_FAILED, REFUNDED_REVERSED | succeeded           | succeeded     |
| CHARGEBACK, SECOND_CHARGEBACK,   | reversed            | reversed      |
| PREARBITRATION_LOST              |                     |               |
| CHARGEBACK_REVERSED,             | succeeded           | succeeded     |
| PREARBITRATION_WON               |                     |               |
| OFFER_CLOSED                     | expired             | (no event)    |
| MANUAL_REVIEW_REJECT             | failed              | failed        |
| PAYOUT_THIRDPARTY                | paid                | failed        |
| PAYOUT_DECLINE                   | canceled            | canceled      |
| PAYOUT_EXPIRE                    | canceled, reason    | canceled      |
|                                  | `expired`           |               |
| PAIDOUT_REVERSED                 | returned            | returned      |

A failed modification (a refund Adyen would not take) leaves the payment
where it was, so it gives no event. Every other eventCode (reports,
notices of chargeback, manual review accepted, ...) is verified, then left
out; so are items for another merchant account, which a company-level
webhook also delivers. `succeeded` after a refund or a chargeback moves a
payment back, which `can_move` refuses: the gateway keeps the later state.
An event's reason is Adyen's `reason` (a refusal, a chargeback's cause),
except on a successful AUTHORISATION, where it is the auth code and a card
summary and is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from adapters.adyen.amounts import from_adyen
from adapters.adyen.signing import verifies
from contracts import BadRequest, CurrencyTable, InvalidSignature
from contracts.payments import PaymentEvent, PaymentState

_S = PaymentState

# eventCode: (state when success is true, state when false, or None for none).
EVENT_STATES: Mapping[str, tuple[PaymentState | None, PaymentState | None]] = {
    "CAPTURE": (_S.SUCCEEDED, None),
    "CAPTURE_FAILED": (_S.FAILED, _S.FAILED),
    "CANCELLATION": (_S.CANCELED, None),
    "TECHNICAL_CANCEL": (_S.CANCELED, None),
    "REFUND": (_S.REFUNDED, None),
    "REFUND_FAILED": (_S.SUCCEEDED, _S.SUCCEEDED),
    "REFUNDED_REVERSED": (_S.SUCCEEDED, _S.SUCCEEDED),
    "CHARGEBACK": (_S.REVERSED, _S.REVERSED),
    "SECOND_CHARGEBACK": (_S.REVERSED, _S.REVERSED),
    "PREARBITRATION_LOST": (_S.REVERSED, _S.REVERSED),
    "CHARGEBACK_REVERSED": (_S.SUCCEEDED, _S.SUCCEEDED),
    "PREARBITRATION_WON": (_S.SUCCEEDED, _S.SUCCEEDED),
    "OFFER_CLOSED": (_S.EXPIRED, None),
    "MANUAL_REVIEW_REJECT": (_S.FAILED, _S.FAILED),
    "PAYOUT_THIRDPARTY": (_S.PAID, _S.FAILED),
    "PAYOUT_DECLINE": (_S.CANCELED, _S.CANCELED),
    "PAYOUT_EXPIRE": (_S.CANCELED, _S.CANCELED),
    "PAIDOUT_REVERSED": (_S.RETURNED, _S.RETURNED),
}


def read_batch(
    body: bytes,
    *,
    key: bytes,
    merchant_account: str,
    automatic_capture: bool,
    currencies: CurrencyTable,
) -> list[PaymentEvent]:
    """Verify every item of a batch, then read the events it carries."""
    items = _items(body)
    for index, item in enumerate(items):
        if not verifies(key, item):
            raise InvalidSignature(
                f"notification item {index} does not carry its own hmacSignature",
                psp_reference=str(item.get("pspReference"))[:40],
            )

    events = []
    for item in items:
        if item.get("merchantAccountCode") != merchant_account:
            continue
        state = item_state(item, automatic_capture)
        if state is not None:
            events.append(_event(item, state, currencies))

    return events


def item_state(item: Mapping[str, Any], automatic_capture: bool) -> PaymentState | None:
    """Return the state one verified item reports, or None if it reports none."""
    code, success = item.get("eventCode"), _success(item)
    if code == "AUTHORISATION":
        if not success:
            return _S.FAILED
        return _S.SUCCEEDED if automatic_capture else _S.AUTHORIZED
    if code == "CANCEL_OR_REFUND":
        if not success:
            return None
        action = _additional(item).get("modification.action")
        return _S.CANCELED if action == "cancel" else _S.REFUNDED

    states = EVENT_STATES.get(code) if isinstance(code, str) else None
    if states is None:
        return None

    return states[0] if success else states[1]


def event_id(item: Mapping[str, Any]) -> str:
    """Return the identity Adyen repeats on a duplicate: psp, eventCode, success."""
    return f"{item['pspReference']}:{item['eventCode']}:{item['success']}"


def _items(body: bytes) -> list[dict[str, Any]]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest("notification body is not valid JSON") from error
    wrappers = document.get("notificationItems") if isinstance(document, dict) else None
    if not isinstance(wrappers, list):
        raise BadRequest("notification body carries no notificationItems list")

    items = []
    for wrapper in wrappers:
        item = (
            wrapper.get("NotificationRequestItem")
            if isinstance(wrapper, dict)
            else None
        )
        if not isinstance(item, dict):
            raise BadRequest("each notification item must wrap NotificationRequestItem")
        items.append(item)

    return items


def _event(
    item: Mapping[str, Any], state: PaymentState, currencies: CurrencyTable
) -> PaymentEvent:
    for field in ("pspReference", "eventCode"):
        if not isinstance(item.get(field), str) or not item[field]:
            raise BadRequest(f"{field} must be a non-empty string", field=field)
    reason = item.get("reason")
    if item["eventCode"] == "AUTHORISATION" and _success(item):
        reason = ""
    elif item["eventCode"] == "PAYOUT_EXPIRE":
        reason = "expired"
    original = item.get("originalReference")

    return PaymentEvent(
        event_id=event_id(item),
        state=state,
        payment_id=_text_or_none(item.get("merchantReference")),
        provider_reference=_text_or_none(original) or item["pspReference"],
        amount=from_adyen(item["amount"], currencies) if "amount" in item else None,
        occurred_at=_moment(item.get("eventDate")),
        reason=reason[:200] if isinstance(reason, str) else "",
    )


def _success(item: Mapping[str, Any]) -> bool:
    success: object = item.get("success")
    if success not in ("true", "false"):
        raise BadRequest("success must be the string true or false", field="success")

    return success == "true"


def _additional(item: Mapping[str, Any]) -> Mapping[str, Any]:
    additional = item.get("additionalData")

    return additional if isinstance(additional, dict) else {}


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _moment(value: object) -> datetime | None:
    # A date Adyen wrote oddly is no reason to refuse money that moved.
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
