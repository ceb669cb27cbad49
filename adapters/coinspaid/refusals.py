"""CoinsPaid's error answers as `PaymentFailure`s: whose decline it is.

A 4xx answer means CoinsPaid refused the request and nothing happened, so it
is `declined`; `shareable` says whether the refusal belongs to the player
(True: no other provider is tried) or to CoinsPaid and the merchant account
(False: another provider may say yes). CoinsPaid names the refused field in
`errors` (`{"errors": {"amount": "The amount must be at least 0.001."}}`),
sometimes with an `error_code`; the field decides.

| answer                               | outcome  | shareable | source |
| ------------------------------------ | -------- | --------- | ------ |
| `errors.address` (invalid address)   | declined | True      | 1      |
| `errors.tag` (missing or bad memo)   | declined | True      | 2      |
| `errors.currency`, `error_code`      | declined | False     | 3      |
| `forbidden_currency` (not enabled)   |          |           |        |
| `errors.convert_to` (no such pair)   | declined | False     | 4      |
| `errors.amount` (below the minimum,  | declined | False     | 4, 5   |
| more than the merchant's balance)    |          |           |        |
| `errors.foreign_id` "already taken"  | unknown  | -         | 4      |
| other `errors` fields                | declined | False     | 4      |
| 401 / 403 (key or signature refused) | declined | False     | 6      |
| 429 (rate limited)                   | declined | False     | 4      |
| any other 4xx                        | declined | False     | -      |

A taken `foreign_id` means an earlier request for the same payment id
reached CoinsPaid: the payout may be under way, so it is `unknown` and never
tried elsewhere; its callback says how it ends.

Sources: 1 coinspaid/docs api-reference.md, withdrawal flow ("if signature
is correct, address is valid and you have enough balance"); 2 the same
page's `tag` parameter (XRP, BNB, EOS need one); 3 coinspaid/docs
api-documentation v1 (`"error_code": "forbidden_currency"`, "Currency BTC is
not enabled for your merchant"); 4 coinspaid/docs api-reference.md, the 400
and 429 examples; 5 docs.cryptoprocessing.com/withdrawals/statuses ("Not
enough money on balance"); 6 serjvanilla/coinspaid-go errors.go (a 403
carries `{"error", "code"}`) and coinspaid/docs authorization.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts.payments import PaymentFailure

# Whether a refusal naming this field belongs to the player.
SHAREABLE_FIELDS: Mapping[str, bool] = {
    "address": True,
    "tag": True,
    "currency": False,
    "convert_to": False,
    "amount": False,
    "foreign_id": False,
}
# Whether a refusal with this `error_code` belongs to the player.
SHAREABLE_CODES: Mapping[str, bool] = {"forbidden_currency": False}
CREDENTIAL_STATUSES = frozenset({401, 403})
THROTTLED = 429


def refusal(path: str, status: int, document: Any, **context: object) -> PaymentFailure:
    """Turn a 4xx answer from CoinsPaid into the failure it means."""
    prefix = f"{path}: HTTP {status}"
    if status in CREDENTIAL_STATUSES:
        detail = _authorization_detail(document)
        return PaymentFailure(
            f"{prefix}, CoinsPaid refused the key or signature{detail}",
            outcome="declined",
            shareable=False,
            **context,
        )

    errors = _errors(document)
    for field, message in errors.items():
        if field == "foreign_id" and "taken" in message.lower():
            return PaymentFailure(
                f"{prefix}, foreign_id already taken: an earlier request for this"
                " payment reached CoinsPaid; its callback will say how it ends",
                outcome="unknown",
                shareable=False,
                **context,
            )

    code = document.get("error_code") if isinstance(document, dict) else None
    shareable = any(SHAREABLE_FIELDS.get(field, False) for field in errors)
    if isinstance(code, str) and code in SHAREABLE_CODES:
        shareable = shareable or SHAREABLE_CODES[code]
    detail = "; ".join(f"{field}: {message}" for field, message in errors.items())
    if status == THROTTLED:
        detail = detail or "rate limited"

    return PaymentFailure(
        f"{prefix}, {detail[:200] or 'refused'}",
        outcome="declined",
        shareable=shareable,
        **context,
    )


def _errors(document: Any) -> dict[str, str]:
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, dict):
        return {}

    return {
        str(field)[:40]: _message(message)[:160] for field, message in errors.items()
    }


def _message(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(item) for item in value)

    return str(value)


def _authorization_detail(document: Any) -> str:
    if not isinstance(document, dict):
        return ""
    error, code = document.get("error"), document.get("code")
    if error is None and code is None:
        return ""

    return f" ({str(code)[:40]}: {str(error)[:120]})"
