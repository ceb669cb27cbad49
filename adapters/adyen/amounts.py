"""Adyen's `{value, currency}` amounts: minor units at Adyen's own exponents.

Adyen counts minor units with its own table of decimals, which follows ISO
4217 except where it says otherwise. Its currency page
(https://docs.adyen.com/development-resources/currency-codes) names the
exceptions: "For CLP, CVE, IDR, and ISK the ISO 4217 standard has a
different number of decimals than shown in our currency codes table ...
the decimals in the table on this page are leading." CNH, the offshore
yuan, is on Adyen's table and not in ISO 4217.

The gateway's minor units follow its own `CurrencyTable`; every conversion
between the two is exact or refused with `AmountError`, never rounded, so
IDR 12.34 cannot be sent to Adyen, which counts IDR in whole rupiah.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import iso4217

from contracts import AmountError, BadRequest, CurrencyTable, Money, UnknownCurrency

# Adyen's decimals where they differ from ISO 4217 (ISO's in the comment).
ADYEN_EXPONENTS: Mapping[str, int] = {
    "CLP": 2,  # ISO 0
    "CVE": 0,  # ISO 2
    "IDR": 0,  # ISO 2
    "ISK": 2,  # ISO 0
    "CNH": 2,  # not in ISO 4217
}


def adyen_exponent(currency: str) -> int:
    """Return the number of decimals Adyen counts `currency` in."""
    exponent = ADYEN_EXPONENTS.get(currency)
    if exponent is not None:
        return exponent
    try:
        exponent = iso4217.Currency(currency).exponent
    except ValueError:
        exponent = None
    if exponent is None:
        raise UnknownCurrency(currency)

    return int(exponent)


def to_adyen(money: Money, currencies: CurrencyTable) -> dict[str, Any]:
    """Render gateway money as Adyen's amount object, refusing to round."""
    scale = 10 ** adyen_exponent(money.currency)
    value = currencies.to_scaled(money, scale)

    return {"value": value, "currency": money.currency}


def from_adyen(amount: object, currencies: CurrencyTable) -> Money:
    """Read Adyen's amount object as gateway money, refusing to round."""
    if not isinstance(amount, dict):
        raise BadRequest("amount must be an object of value and currency")
    value, currency = amount.get("value"), amount.get("currency")
    if not isinstance(currency, str):
        raise UnknownCurrency(str(currency))
    # bool is a subclass of int, and a float would have to be rounded: both go.
    if type(value) is not int:
        raise AmountError(f"amount value must be an integer, not {value!r:.40}")

    return currencies.from_scaled(value, 10 ** adyen_exponent(currency), currency)
