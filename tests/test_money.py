"""Money: Meta's minor units, with ISO 4217 (the iso4217 package) where Meta's table is silent."""

from __future__ import annotations

import pytest

from reconciler.money import MoneyError, digits, format_money, to_minor


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("50.00 USD", "USD", 5000),
        ("50 USD", "USD", 5000),
        (5000, "USD", 5000),
        ("0.01 USD", "USD", 1),
        ("500 JPY", "JPY", 500),
        ("1.234 KWD", "KWD", 1234),
        ("1.23 BHD", "BHD", 123),
        ("12000 IDR", "IDR", 12000),
        ("19.99 EUR", "EUR", 1999),
    ],
)
def test_amounts_in_the_account_currency(value, currency, minor):
    assert to_minor(value, currency) == minor


@pytest.mark.parametrize(
    ("value", "currency", "words"),
    [
        ("50 JPY", "USD", '"50 JPY" is in JPY, but the ad account\'s currency is USD'),
        ("1.5 JPY", "JPY", '"1.5 JPY" has more decimals than JPY budgets allow (0)'),
        ("1.234 BHD", "BHD", "more decimals than BHD budgets allow (2)"),  # Meta: offset 100, not ISO's 3
        ("0.001 USD", "USD", "more decimals than USD budgets allow (2)"),
        ("0 USD", "USD", 'expected an amount greater than 0; found "0 USD"'),
        ("10 XYZ", "XYZ", "XYZ is not an ISO 4217 currency code"),
        ("fifty", "USD", '"fifty" is not an amount'),
    ],
)
def test_amounts_that_are_refused(value, currency, words):
    with pytest.raises(MoneyError, match=words.replace("(", r"\(").replace(")", r"\)")):
        to_minor(value, currency)


def test_digits_follow_meta_then_iso():
    assert [digits(c) for c in ("USD", "JPY", "HUF", "TWD", "KWD", "BHD", "JOD", "CLP")] == [2, 0, 0, 0, 3, 2, 2, 0]


def test_format():
    assert format_money(5000, "USD") == "50.00 USD"
    assert format_money(123456789, "USD") == "1,234,567.89 USD"
    assert format_money(1500, "JPY") == "1,500 JPY"
    assert format_money(1234, "KWD") == "1.234 KWD"
    assert format_money(-250, "EUR") == "-2.50 EUR"
