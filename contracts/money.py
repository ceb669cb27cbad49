"""Exact money: integer minor units of a currency, and exact conversions.

Nothing here touches a binary float. Every conversion either gives the exact
number of minor units or raises `AmountError`: an amount finer than the
currency allows is refused, never rounded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import iso4217

from contracts.errors import AmountError, UnknownCurrency

_DECIMAL = re.compile(r"(?P<units>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")
_CODE = re.compile(r"[A-Z][A-Z0-9]{1,9}")
_MAX_DIGITS = 40
MAX_MINOR = 2**63 - 1  # the largest amount a 64-bit money column stores
_POWERS_OF_TEN = tuple(10**n for n in range(40))


@dataclass(frozen=True, slots=True)
class Money:
    """A non-negative amount in integer minor units of one currency.

    At most `MAX_MINOR` minor units: what the ledger's 64-bit columns hold.
    """

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.minor) is not int:
            raise AmountError(f"minor units must be an int, not {self.minor!r}")
        if self.minor < 0:
            raise AmountError("negative amount")
        if self.minor > MAX_MINOR:
            raise AmountError("amount larger than the largest amount stored")


@lru_cache(maxsize=512)
def _iso_exponent(code: str) -> int | None:
    try:
        exponent = iso4217.Currency(code).exponent
    except ValueError:
        return None
    return exponent


class CurrencyTable:
    """Exponents of the currencies in use: ISO 4217 plus configured extras.

    The ISO 4217 exponents come from the maintained `iso4217` package. Codes
    that ISO does not define (BTC, USDT, ...) have no default: the operator
    configures their exponent, because providers disagree on it.
    """

    def __init__(self, extra: Mapping[str, int] | None = None) -> None:
        self._extra: dict[str, int] = {}
        for code, exponent in (extra or {}).items():
            if not _CODE.fullmatch(code):
                raise UnknownCurrency(code)
            if type(exponent) is not int or not 0 <= exponent <= 18:
                raise AmountError(f"exponent of {code} must be an int from 0 to 18")
            iso = _iso_exponent(code)
            if iso is not None and iso != exponent:
                raise AmountError(
                    f"{code} is ISO 4217 with {iso} decimals; it cannot be changed"
                )
            self._extra[code] = exponent

    def exponent(self, code: str) -> int:
        """Return the number of decimal places of the currency's minor unit."""
        exponent = self._extra.get(code)
        if exponent is None and _CODE.fullmatch(code):
            exponent = _iso_exponent(code)
        if exponent is None:
            raise UnknownCurrency(code)

        return exponent

    def knows(self, code: str) -> bool:
        """Return whether the currency has an exponent in this table."""
        try:
            self.exponent(code)
        except UnknownCurrency:
            return False
        return True

    def parse(self, value: str | int | Decimal, currency: str) -> Money:
        """Convert a decimal amount in whole units to exact minor units.

        Accepts a decimal string (`"8.20"`), an int of whole units, or a
        `Decimal` (as produced by `json.loads(..., parse_float=Decimal)` for a
        JSON number). Floats are refused outright.
        """
        exponent = self.exponent(currency)
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise AmountError(f"amount must be a decimal string, not {value!r}")
        if isinstance(value, int):
            return (
                Money(value * _ten(exponent), currency) if value >= 0 else _negative()
            )
        if isinstance(value, Decimal):
            return Money(_decimal_to_minor(value, exponent), currency)

        return Money(_string_to_minor(value, exponent), currency)

    def from_scaled(self, value: int, scale: int, currency: str) -> Money:
        """Convert an integer at a provider's own scale (units per whole) exactly."""
        if type(value) is not int:
            raise AmountError(f"amount must be an integer, not {value!r}")
        if value < 0:
            _negative()
        numerator = value * _ten(self.exponent(currency))
        minor, remainder = divmod(numerator, scale)
        if remainder:
            raise AmountError("finer than the currency's exponent")

        return Money(minor, currency)

    def to_scaled(self, money: Money, scale: int) -> int:
        """Express minor units at a provider's own scale, refusing to round."""
        scaled, remainder = divmod(
            money.minor * scale, _ten(self.exponent(money.currency))
        )
        if remainder:
            raise AmountError(f"not representable at scale {scale}")

        return scaled

    def format(self, money: Money) -> str:
        """Render minor units as a decimal string with the currency's exponent."""
        exponent = self.exponent(money.currency)
        if exponent == 0:
            return str(money.minor)
        units, fraction = divmod(money.minor, _ten(exponent))

        return f"{units}.{fraction:0{exponent}d}"


def _ten(power: int) -> int:
    return _POWERS_OF_TEN[power] if power < 40 else int(10**power)


def _negative() -> Money:
    raise AmountError("negative amount")


def _string_to_minor(text: str, exponent: int) -> int:
    if len(text) > _MAX_DIGITS:
        raise AmountError("amount has too many digits")
    if text.startswith("-"):
        _negative()
    match = _DECIMAL.fullmatch(text)
    if match is None:
        raise AmountError(f"not a decimal amount: {text[:40]!r}")
    fraction = (match["fraction"] or "").rstrip("0")
    if len(fraction) > exponent:
        raise AmountError("finer than the currency's exponent")

    return int(match["units"]) * _ten(exponent) + int(
        fraction.ljust(exponent, "0") or 0
    )


def _decimal_to_minor(value: Decimal, exponent: int) -> int:
    if not value.is_finite():
        raise AmountError("amount must be finite")
    sign, digits, power = value.as_tuple()
    if sign and any(digits):
        _negative()
    assert isinstance(power, int)  # finite decimals carry an int exponent
    if len(digits) > _MAX_DIGITS or abs(power) > _MAX_DIGITS:
        raise AmountError("amount has too many digits")
    coefficient = int("".join(map(str, digits)) or "0")
    shift = power + exponent
    if shift >= 0:
        return coefficient * _ten(shift)
    minor, remainder = divmod(coefficient, _ten(-shift))
    if remainder:
        raise AmountError("finer than the currency's exponent")

    return minor
