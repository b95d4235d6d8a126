"""Money in an ad account's currency: minor units as the Marketing API counts them.

Budgets travel as integers in the smallest unit of the account's currency. Where Meta's own
currency table (https://developers.facebook.com/docs/marketing-api/currencies, "Offset") speaks,
it decides: offset 1 (no minor unit) for the currencies in ``OFFSET_ONE``, and offset 100 for
BHD and JOD although ISO 4217 gives them 3 decimals. Every other currency takes its ISO 4217
exponent from the maintained ``iso4217`` package (KWD: 3), which also says which codes exist.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from iso4217 import Currency

OFFSET_ONE = frozenset({"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND"})
OFFSET_HUNDRED_NOT_ISO = frozenset({"BHD", "JOD"})
_AMOUNT = re.compile(r"\s*(?P<amount>\d+(?:\.\d+)?)\s+(?P<currency>[A-Z]{3})\s*")


class MoneyError(ValueError):
    """An amount that cannot be read in the account's currency; the message says why."""


def known(currency: str) -> bool:
    try:
        Currency(currency)
    except ValueError:
        return False
    return True


def digits(currency: str) -> int:
    """Decimal places of the unit budgets are counted in (2 for USD: cents; 0 for JPY)."""
    if currency in OFFSET_ONE:
        return 0
    if currency in OFFSET_HUNDRED_NOT_ISO:
        return 2
    try:
        exponent = Currency(currency).exponent
    except ValueError as exc:
        raise MoneyError(f"{currency} is not an ISO 4217 currency code") from exc
    return int(exponent) if exponent is not None else 2


def parse(value: str) -> tuple[Decimal, str]:
    """``"50.00 USD"`` -> (Decimal("50.00"), "USD"), checked: positive, a known currency, its decimals."""
    match = _AMOUNT.fullmatch(value)
    if match is None:
        raise MoneyError(f'{json.dumps(value)} is not an amount such as "50.00 USD" or an integer of minor units')
    currency = match["currency"]
    try:
        amount = Decimal(match["amount"])
    except InvalidOperation as exc:
        raise MoneyError(f"{json.dumps(value)} is not an amount") from exc
    if amount <= 0:
        raise MoneyError(f"expected an amount greater than 0; found {json.dumps(value)}")
    places = digits(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise MoneyError(f"{json.dumps(value)} has more decimals than {currency} budgets allow ({places})")
    return amount, currency


def to_minor(value: int | str, currency: str) -> int:
    """Minor units of ``currency`` for an integer (already minor units) or ``"50.00 USD"``."""
    if isinstance(value, bool):
        raise MoneyError("expected an amount, found a boolean")
    if isinstance(value, int):
        return value
    amount, written = parse(value)
    if written != currency:
        raise MoneyError(
            f"{json.dumps(value)} is in {written}, but the ad account's currency is {currency}; write the "
            f"amount in {currency} (or as an integer of minor units)"
        )
    return int(amount.scaleb(digits(currency)))


def format_money(minor: int, currency: str) -> str:
    """``5000, "USD"`` -> ``50.00 USD``; ``1500, "JPY"`` -> ``1,500 JPY``."""
    try:
        places = digits(currency)
    except MoneyError:
        places = 2
    if places == 0:
        return f"{minor:,} {currency}"
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**places)
    return f"{sign}{whole:,}.{fraction:0{places}d} {currency}"


def format_range(low: int, high: int, currency: str) -> str:
    """``294, 441, "USD"`` -> ``2.94-4.41 USD``."""
    return f"{format_money(low, currency).rsplit(' ', 1)[0]}-{format_money(high, currency)}"
