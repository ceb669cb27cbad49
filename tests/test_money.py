"""Exact money: the public vectors, float traps, and every refusal."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from contracts.errors import AmountError, UnknownCurrency
from contracts.money import MAX_MINOR, CurrencyTable, Money

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "money.json"
TABLE = CurrencyTable({"BTC": 8, "USDT": 6, "ETH": 18})


def vectors() -> dict[str, Any]:
    """Return the shared money vectors, or skip when the folder is not beside us."""
    if not VECTORS.exists():
        pytest.skip(f"{VECTORS} is not present beside this clone")
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


def test_iso_exponents_match_the_published_table() -> None:
    """Every ISO 4217 exponent in the vectors comes out of the currency table."""
    for code, exponent in vectors()["iso4217_exponents"].items():
        assert TABLE.exponent(code) == exponent, code


def test_configured_exponents_for_non_iso_currencies() -> None:
    """Crypto exponents come from configuration, not from a guess."""
    for code, exponent in vectors()["not_iso_but_common"].items():
        if code == "note":
            continue
        assert CurrencyTable({code: exponent}).exponent(code) == exponent
        assert not CurrencyTable().knows(code)


def test_conversion_vectors_are_exact_or_refused() -> None:
    """Each published conversion gives its minor units or the refusal it names."""
    for case in vectors()["conversions"]:
        if "error" in case:
            with pytest.raises(AmountError) as raised:
                TABLE.parse(case["input"], case["currency"])
            assert case["error"] in raised.value.message
        else:
            assert TABLE.parse(case["input"], case["currency"]) == Money(
                case["minor"], case["currency"]
            )


def test_float_traps_do_not_catch_exact_parsing() -> None:
    """The amounts that break `int(x * scale)` convert exactly from their text."""
    for trap in vectors()["float_traps"]:
        inner = trap["expression"].removeprefix("int(").removesuffix(")")
        literal, scale = inner.split(" * ")
        assert int(float(literal) * int(scale)) == trap["wrong"]

        money = TABLE.parse(literal, "EUR")

        assert TABLE.to_scaled(money, int(scale)) == trap["right"]


def test_provider_scale_vector_converts_both_ways() -> None:
    """Hub88's 100 000 per unit converts to minor units and back exactly."""
    scale = vectors()["provider_scales"]["hub88_fiat_multiplier"]

    money = TABLE.from_scaled(1_234_000, scale, "EUR")

    assert money == Money(1234, "EUR")
    assert TABLE.to_scaled(money, scale) == 1_234_000
    with pytest.raises(AmountError):
        TABLE.from_scaled(1_234_500, scale, "EUR")


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("8.20", "EUR", 820),
        ("8.200000", "EUR", 820),
        ("0", "EUR", 0),
        ("2000", "JPY", 2000),
        ("18.6", "KWD", 18600),
        ("0.0001", "CLF", 1),
        (Decimal("1E+2"), "EUR", 10000),
        (Decimal("0.290"), "BTC", 29_000_000),
        (7, "EUR", 700),
        ("1.000000000000000001", "ETH", 10**18 + 1),
    ],
)
def test_exact_conversion(
    value: str | int | Decimal, currency: str, minor: int
) -> None:
    """Decimal strings, whole units and JSON-number Decimals convert exactly."""
    assert TABLE.parse(value, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("10.005", "EUR"),
        ("1.5", "JPY"),
        ("-1.00", "EUR"),
        ("1e3", "EUR"),
        ("1,50", "EUR"),
        (".5", "EUR"),
        ("", "EUR"),
        (" 1", "EUR"),
        ("١٢", "EUR"),
        ("9" * 41, "EUR"),
        (1.5, "EUR"),
        (True, "EUR"),
        (Decimal("NaN"), "EUR"),
        (Decimal("-0.01"), "EUR"),
        (-3, "EUR"),
    ],
)
def test_inexact_or_malformed_amounts_are_refused(value: Any, currency: str) -> None:
    """Anything that would need rounding, or is not a decimal amount, is refused."""
    with pytest.raises(AmountError):
        TABLE.parse(value, currency)


@pytest.mark.parametrize("code", ["XXQ", "eur", "", "EURO-1", "X"])
def test_unknown_currency_is_refused(code: str) -> None:
    """A code that is neither ISO 4217 nor configured is refused by name."""
    with pytest.raises(UnknownCurrency):
        TABLE.exponent(code)


def test_amount_beyond_the_largest_stored_is_refused() -> None:
    """Minor units past what a 64-bit column holds are refused, not overflowed."""
    assert Money(MAX_MINOR, "EUR").minor == 2**63 - 1

    with pytest.raises(AmountError):
        Money(MAX_MINOR + 1, "EUR")
    with pytest.raises(AmountError):
        TABLE.parse("99999999999999999999999.00", "EUR")
    with pytest.raises(AmountError):
        TABLE.from_scaled(2**70, 1, "EUR")


def test_scaled_conversion_refuses_rounding() -> None:
    """A provider integer that is not a whole number of minor units is refused."""
    with pytest.raises(AmountError):
        TABLE.from_scaled(1_234_567, 100_000, "EUR")
    with pytest.raises(AmountError):
        TABLE.to_scaled(Money(1, "BTC"), 100)


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(820, "EUR"), "8.20"),
        (Money(5, "EUR"), "0.05"),
        (Money(2000, "JPY"), "2000"),
        (Money(18600, "KWD"), "18.600"),
        (Money(1, "BTC"), "0.00000001"),
    ],
)
def test_format_renders_the_currency_exponent(money: Money, text: str) -> None:
    """Minor units render with exactly the currency's decimals."""
    assert TABLE.format(money) == text
    assert TABLE.parse(text, money.currency) == money
