"""Reading Adyen's answers: result codes, refusal reasons and next actions.

Result codes (https://docs.adyen.com/online-payments/build-your-integration/
payment-result-codes) say where a payment stands when `/payments` answers;
Adyen advises against updating an order from them, so `Authorised` reads as
`authorized` and only the AUTHORISATION webhook decides success.

| resultCode                    | state or failure                            |
| ----------------------------- | ------------------------------------------- |
| Authorised                    | authorized                                  |
| Pending, Received             | pending                                     |
| RedirectShopper,              | requires_action, with the answer's `action` |
| IdentifyShopper,              |                                             |
| ChallengeShopper,             |                                             |
| PresentToShopper              |                                             |
| Refused, Error, Cancelled     | `PaymentFailure` declined, shareable by the |
|                               | refusal table below                         |
| PartiallyAuthorised, anything | `PaymentFailure` unknown: money may be held |
| else                          | for an amount nobody asked for              |

Refusal reasons (https://docs.adyen.com/development-resources/
refusal-reasons/), keyed by `refusalReasonCode` because the text's case
varies between answers. `shareable` False means the refusal is the
provider's or its acquirer's (a route, a rule, an outage), so another
provider may say yes; True means it belongs to the player or the card.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from contracts.payments import NextAction, PaymentState

RESULT_STATES: Mapping[str, PaymentState] = {
    "Authorised": PaymentState.AUTHORIZED,
    "Pending": PaymentState.PENDING,
    "Received": PaymentState.PENDING,
    "RedirectShopper": PaymentState.REQUIRES_ACTION,
    "IdentifyShopper": PaymentState.REQUIRES_ACTION,
    "ChallengeShopper": PaymentState.REQUIRES_ACTION,
    "PresentToShopper": PaymentState.REQUIRES_ACTION,
}
REFUSED_RESULTS = frozenset({"Refused", "Error", "Cancelled"})

# refusalReasonCode: (refusalReason as Adyen documents it, shareable).
REFUSALS: Mapping[str, tuple[str, bool]] = {
    "2": ("Refused", True),
    "3": ("Referral", True),
    "4": ("Acquirer Error", False),
    "5": ("Blocked Card", True),
    "6": ("Expired Card", True),
    "7": ("Invalid Amount", True),
    "8": ("Invalid Card Number", True),
    "9": ("Issuer Unavailable", False),
    "10": ("Not supported", False),
    "11": ("3D Not Authenticated", True),
    "12": ("Not enough balance", True),
    "14": ("Acquirer Fraud", True),
    "15": ("Cancelled", True),
    "16": ("Shopper Cancelled", True),
    "17": ("Invalid Pin", True),
    "18": ("Pin tries exceeded", True),
    "19": ("Pin validation not possible", True),
    "20": ("FRAUD", True),
    "21": ("Not Submitted", False),
    "22": ("FRAUD-CANCELLED", True),
    "23": ("Transaction Not Permitted", True),
    "24": ("CVC Declined", True),
    "25": ("Restricted Card", True),
    "26": ("Revocation Of Auth", True),
    "27": ("Declined Non Generic", True),
    "28": ("Withdrawal amount exceeded", True),
    "29": ("Withdrawal count exceeded", True),
    "31": ("Issuer Suspected Fraud", True),
    "32": ("AVS Declined", True),
    "38": ("Authentication required", False),
    "39": ("RReq not received from DS", False),
    "42": ("3DS Authentication Error", False),
    "46": ("Transaction blocked by Adyen to prevent excessive retry fees", False),
}
# An `Error` names a failure in processing, not the card; any other refusal
# Adyen does not explain stays with the player, so nothing is retried
# elsewhere on a guess.
ERROR_SHAREABLE = False
UNKNOWN_SHAREABLE = True


def refusal(answer: Mapping[str, Any]) -> tuple[str, bool]:
    """Return a refused answer's reason and whether it belongs to the player."""
    code = str(answer.get("refusalReasonCode") or "")
    text = answer.get("refusalReason")
    documented = REFUSALS.get(code)
    if documented is not None:
        reason, shareable = documented
        return (text if isinstance(text, str) and text else reason), shareable

    reason = text if isinstance(text, str) and text else str(answer["resultCode"])
    if answer.get("resultCode") == "Error":
        return reason, ERROR_SHAREABLE

    return reason, UNKNOWN_SHAREABLE


def payment_action(action: object) -> NextAction:
    """Translate a `/payments` answer's `action` into the player's next step.

    A `redirect` with GET is a plain redirect; one with POST carries its
    form fields as JSON in `details["data"]`. Every other action type (3D
    Secure, QR codes, vouchers, SDK steps) is handed to the Adyen Web
    Component whole, as JSON in the value of a `client_secret`.
    """
    if not isinstance(action, dict) or not isinstance(action.get("type"), str):
        raise ValueError("the answer needs an action but carries none")

    if action["type"] == "redirect" and isinstance(action.get("url"), str):
        method = str(action.get("method") or "GET").upper()
        details = {"method": method}
        if method != "GET" and isinstance(action.get("data"), dict):
            details["data"] = orjson.dumps(action["data"]).decode()
        return NextAction("redirect", action["url"], details)

    return NextAction(
        "client_secret",
        orjson.dumps(action).decode(),
        {"action_type": action["type"], "component": "adyen-web handleAction"},
    )


def session_action(answer: Mapping[str, Any]) -> NextAction:
    """Translate a `/sessions` answer into the Drop-in's secret or the hosted page.

    The Drop-in needs the session's `id` and `sessionData` both; the secret
    is the `sessionData` and the id rides in `details["session_id"]`.
    """
    session_id, data = answer.get("id"), answer.get("sessionData")
    if not isinstance(session_id, str) or not session_id:
        raise ValueError("the session answer carries no id")
    details = {"session_id": session_id}
    expires = answer.get("expiresAt")
    if isinstance(expires, str):
        details["expires_at"] = expires

    url = answer.get("url")
    if answer.get("mode") == "hosted" and isinstance(url, str) and url:
        return NextAction("redirect", url, details)
    if not isinstance(data, str) or not data:
        raise ValueError("the session answer carries no sessionData")

    return NextAction("client_secret", data, details)
