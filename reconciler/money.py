"""Money in an ad account's currency: minor units as the Marketing API counts them.

Budgets travel as integers in the account currency's smallest unit. Meta's own table
(https://developers.facebook.com/docs/marketing-api/currencies, "Offset") says which unit:
an offset of 100 for most currencies and 1 for those listed in ``OFFSET_ONE``. It differs from
ISO 4217 exponents for some (HUF, IDR, TWD, COP, CRC are 2 in ISO, 1 for Meta; BHD is 3 in ISO,
100 for Meta), so Meta's table is the one used.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

OFFSET_ONE = frozenset({"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND"})
_AMOUNT = re.compile(r"\s*(?P<amount>\d+(?:\.\d+)?)\s+(?P<currency>[A-Z]{3})\s*")


class MoneyError(ValueError):
    """An amount that cannot be read in the account's currency; the message says why."""


def digits(currency: str) -> int:
    return 0 if currency in OFFSET_ONE else 2


def to_minor(value: int | str, currency: str) -> int:
    """Minor units of ``currency`` for an integer (already minor units) or ``"50.00 USD"``."""
    if isinstance(value, bool):
        raise MoneyError("expected an amount, found a boolean")
    if isinstance(value, int):
        return value
    match = _AMOUNT.fullmatch(value)
    if match is None:
        raise MoneyError(f"{value!r} is not an amount such as \"50.00 {currency}\" or an integer of minor units")
    if match["currency"] != currency:
        raise MoneyError(f"{value!r} is in {match['currency']}, but the ad account's currency is {currency}")
    try:
        amount = Decimal(match["amount"])
    except InvalidOperation:
        raise MoneyError(f"{value!r} is not an amount") from None
    minor = amount * (10 ** digits(currency))
    if minor != minor.to_integral_value():
        raise MoneyError(f"{value!r} has more decimals than {currency} allows ({digits(currency)})")
    return int(minor)


def format_money(minor: int, currency: str) -> str:
    """``5000, "USD"`` -> ``50.00 USD``; ``1500, "JPY"`` -> ``1,500 JPY``."""
    places = digits(currency)
    if places == 0:
        return f"{minor:,} {currency}"
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 10 ** places)
    return f"{sign}{whole:,}.{cents:0{places}d} {currency}"
