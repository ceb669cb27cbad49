"""The bodies the adapter sends to Adyen, built from the gateway's requests.

Each builder refuses with `BadRequest` (or its `AmountError` and
`UnknownCurrency`) what Adyen could not take: an amount its exponent cannot
carry, a missing return URL, a bank payout without the details Adyen's
`storeDetailAndSubmitThirdParty` requires (https://docs.adyen.com/
api-explorer/Payout/68/post/storeDetailAndSubmitThirdParty). The adapter
turns that into a decline before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.adyen.amounts import to_adyen
from contracts import BadRequest, CurrencyTable, Money
from contracts.payments import PaymentRequest

# Adyen's payment method type for cards, the one a card session may show.
CARD_TYPES = ("scheme",)

# What a bank payout needs from `PaymentRequest.kyc`, by Adyen's field name.
PAYOUT_KYC: Mapping[str, str] = {
    "shopperEmail": "email",
    "dateOfBirth": "date_of_birth",
    "nationality": "nationality",
    "iban": "iban",
    "ownerName": "account_holder",
}


def deposit(
    request: PaymentRequest, merchant_account: str, currencies: CurrencyTable
) -> dict[str, Any]:
    """Return the fields a `/sessions` and a `/payments` body share."""
    if request.return_url is None:
        raise BadRequest("Adyen needs a return_url to send the player back to")
    kyc = request.kyc

    return _drop_none(
        {
            "merchantAccount": merchant_account,
            "amount": to_adyen(request.amount, currencies),
            "reference": request.payment_id,
            "merchantOrderReference": request.reference,
            "returnUrl": request.return_url,
            "shopperReference": request.player,
            "shopperEmail": kyc.get("email"),
            "shopperName": _name(kyc),
            "dateOfBirth": kyc.get("date_of_birth"),
            "countryCode": request.country,
            "shopperLocale": request.locale,
            "shopperIP": request.ip,
        }
    )


def payout(
    request: PaymentRequest, merchant_account: str, currencies: CurrencyTable
) -> dict[str, Any]:
    """Return a `storeDetailAndSubmitThirdParty` body for a bank payout."""
    missing = sorted(name for name in PAYOUT_KYC.values() if not request.kyc.get(name))
    if missing:
        raise BadRequest(f"an Adyen bank payout needs kyc {', '.join(missing)}")
    kyc = {field: request.kyc[name] for field, name in PAYOUT_KYC.items()}
    iban = kyc["iban"].replace(" ", "").upper()

    return _drop_none(
        {
            "merchantAccount": merchant_account,
            "amount": to_adyen(request.amount, currencies),
            "reference": request.payment_id,
            "recurring": {"contract": "PAYOUT"},
            "shopperReference": request.player,
            "shopperEmail": kyc["shopperEmail"],
            "shopperName": _name(request.kyc),
            "dateOfBirth": kyc["dateOfBirth"],
            "nationality": kyc["nationality"],
            "entityType": "NaturalPerson",
            "bank": {
                "iban": iban,
                "ownerName": kyc["ownerName"],
                "countryCode": request.kyc.get("bank_country") or iban[:2],
            },
        }
    )


def modification(
    merchant_account: str,
    payment_id: str,
    amount: Money | None,
    currencies: CurrencyTable,
) -> dict[str, Any]:
    """Return a refund, capture or cancel body, naming the payment by our id."""
    document: dict[str, Any] = {
        "merchantAccount": merchant_account,
        "reference": payment_id,
    }
    if amount is not None:
        document["amount"] = to_adyen(amount, currencies)

    return document


def _name(kyc: Mapping[str, str]) -> dict[str, str] | None:
    first, last = kyc.get("first_name"), kyc.get("last_name")
    if not first or not last:
        return None

    return {"firstName": first, "lastName": last}


def _drop_none(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if value is not None}
