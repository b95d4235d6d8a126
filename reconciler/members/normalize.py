"""Customer data normalised by Meta's rules before hashing (graph-api.md §3). Pure.

Meta's rules, not the official SDK's lossy ones: names keep their non-Latin letters, phones get
their country code and lose leading zeros (the SDK does neither), and empty values stay empty
instead of becoming sha256("").

Every function takes the raw text of one cell and returns the normalised text ("" when the cell
is empty) or raises ``CellError`` with a reason that never repeats the value.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from functools import cache
from typing import Any

# The version of the rules below: a file's fingerprint includes it, so a change of rules that would
# hash a row differently makes every member file be read again instead of trusted as unchanged.
RULES_VERSION = 1
COLUMNS = ("email", "phone", "fn", "ln", "ct", "st", "zip", "country", "doby", "dobm", "dobd", "gen", "extern_id")
META_KEYS = {c: c.upper() for c in COLUMNS}  # the upload schema's key for each column
UNHASHED = frozenset({"extern_id"})  # Meta: EXTERN_ID is sent as it is

US_STATES = {
    "alabama": "al",
    "alaska": "ak",
    "arizona": "az",
    "arkansas": "ar",
    "california": "ca",
    "colorado": "co",
    "connecticut": "ct",
    "delaware": "de",
    "district of columbia": "dc",
    "florida": "fl",
    "georgia": "ga",
    "hawaii": "hi",
    "idaho": "id",
    "illinois": "il",
    "indiana": "in",
    "iowa": "ia",
    "kansas": "ks",
    "kentucky": "ky",
    "louisiana": "la",
    "maine": "me",
    "maryland": "md",
    "massachusetts": "ma",
    "michigan": "mi",
    "minnesota": "mn",
    "mississippi": "ms",
    "missouri": "mo",
    "montana": "mt",
    "nebraska": "ne",
    "nevada": "nv",
    "new hampshire": "nh",
    "new jersey": "nj",
    "new mexico": "nm",
    "new york": "ny",
    "north carolina": "nc",
    "north dakota": "nd",
    "ohio": "oh",
    "oklahoma": "ok",
    "oregon": "or",
    "pennsylvania": "pa",
    "rhode island": "ri",
    "south carolina": "sc",
    "south dakota": "sd",
    "tennessee": "tn",
    "texas": "tx",
    "utah": "ut",
    "vermont": "vt",
    "virginia": "va",
    "washington": "wa",
    "west virginia": "wv",
    "wisconsin": "wi",
    "wyoming": "wy",
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class CellError(ValueError):
    """Why a cell cannot be used; says nothing of its value."""


MAX_CELL = 1000  # characters; no name, email or phone is longer, and a longer cell is a broken file
_ASCII_DIGITS = re.compile(r"[0-9]+")
DIGIT_COLUMNS = frozenset({"phone", "zip", "doby", "dobm", "dobd"})


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _letters(value: str) -> str:
    """Lower-case letters (of any script) and combining marks; no punctuation, symbols or spaces."""
    text = unicodedata.normalize("NFC", value).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in ("L", "M"))


def email(value: str, row: dict[str, str]) -> str:
    text = value.strip().lower()
    if text and not _EMAIL.fullmatch(text):
        raise CellError("not an email address (expected name@domain)")
    return text


def phone(value: str, row: dict[str, str]) -> str:
    """E.164 digits: country code added from the row's country (or the default), leading zeros gone."""
    if not value.strip():
        return ""
    import phonenumbers  # loaded only when a member file has phones: it is a large package

    region = (row.get("country") or "").upper() or None
    raw = value.strip()
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    quick = _international_quickly(raw)
    if quick is not None:
        if quick is _IMPOSSIBLE:
            raise CellError("not a possible phone number for its country")
        return quick
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        digits = re.sub(r"\D", "", raw).lstrip("0")
        if not digits:
            raise CellError("not a phone number (no digits)") from None
        if region is None and not raw.startswith("+"):
            raise CellError(
                "has no country code and the row has no country; add a country column or members.default_country"
            ) from None
        code = str(phonenumbers.country_code_for_region(region)) if region and not raw.startswith("+") else ""
        return digits if digits.startswith(code) else code + digits
    if not phonenumbers.is_possible_number(number):
        raise CellError("not a possible phone number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


_INTERNATIONAL = re.compile(r"\+[0-9][0-9 ().-]*")
_SEPARATORS = re.compile(r"[ ().-]")
_IMPOSSIBLE = "(impossible)"


@cache
def _phone_tools() -> tuple[Any, ...] | None:
    """The parts of phonenumbers the quick path uses (None: another phonenumbers, the full path alone)."""
    try:
        from phonenumbers import phonenumberutil as util
        from phonenumbers.phonemetadata import PhoneMetadata

        result = util.ValidationResult
        possible = (result.IS_POSSIBLE, result.IS_POSSIBLE_LOCAL_ONLY)
        # parse keeps the national prefix when stripping it leaves one of these lengths
        kept = (result.TOO_SHORT, result.IS_POSSIBLE_LOCAL_ONLY, result.INVALID_LENGTH)
        return (
            util.COUNTRY_CODE_TO_REGION_CODE,
            util.region_code_for_country_code,
            PhoneMetadata.metadata_for_region_or_calling_code,
            util._test_number_length,
            util._maybe_strip_national_prefix_carrier_code,
            (possible, kept),
        )
    except (ImportError, AttributeError):
        return None


def _international_quickly(raw: str) -> str | None:
    """What ``phone`` makes of ``+`` and digits with spaces, dots, dashes or brackets (most member
    files), in a quarter of ``phonenumbers.parse``'s time: the same steps parse takes for such
    text (the country code, the national prefix stripped when what is left has a possible length,
    the possible-length test), without its general machinery (letters, extensions, phone-context).
    ``_IMPOSSIBLE`` for a number of impossible length; None whenever the text or the number is
    anything else, for the full path to judge. tests/test_normalize.py checks the two agree."""
    tools = _phone_tools()
    if tools is None or not _INTERNATIONAL.fullmatch(raw):
        return None
    codes, region_of, metadata_of, length_of, strip_prefix, results = tools
    digits = _SEPARATORS.sub("", raw[1:])
    if not digits.isdigit() or len(digits) > 17 or digits[0] == "0":
        return None
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in codes:
            break
    else:
        return None
    national = digits[size:]
    metadata = metadata_of(code, region_of(code))
    if metadata is None:
        return None
    _, stripped, _ = strip_prefix(national, metadata)
    if length_of(stripped, metadata) not in results[1]:
        national = stripped
    if not 2 <= len(national) <= 17:
        return None
    if length_of(national, metadata) not in results[0]:
        return _IMPOSSIBLE
    return f"{code}{national}"


def name(value: str, row: dict[str, str]) -> str:
    return _letters(value)


def city(value: str, row: dict[str, str]) -> str:
    return _letters(value)


def state(value: str, row: dict[str, str]) -> str:
    text = " ".join(value.strip().lower().split())
    if (row.get("country") or "us") == "us" and text in US_STATES:
        return US_STATES[text]
    return _letters(text)


def zip_code(value: str, row: dict[str, str]) -> str:
    text = re.sub(r"\s+", "", value.strip().lower())
    if row.get("country") == "us":
        match = re.fullmatch(r"([0-9]{5})(-?[0-9]{4})?", text)
        if text and match is None:
            raise CellError("not a US ZIP code (5 digits 0-9, or ZIP+4)")
        return match.group(1) if match else ""
    return re.sub(r"[^0-9a-z\u00c0-\uffff]", "", text)


def country(value: str, row: dict[str, str]) -> str:
    text = value.strip().lower()
    if text and not re.fullmatch(r"[a-z]{2}", text):
        raise CellError("not a 2-letter ISO 3166 country code (e.g. us)")
    return text


def year(value: str, row: dict[str, str]) -> str:
    text = value.strip()
    if text and not (re.fullmatch(r"[0-9]{4}", text) and 1900 <= int(text) <= 2100):
        raise CellError("not a year (YYYY, in the digits 0-9)")
    return text


def _two_digits(low: int, high: int, what: str) -> Callable[[str, dict[str, str]], str]:
    def normalise(value: str, row: dict[str, str]) -> str:
        text = value.strip()
        if not text:
            return ""
        # str.isdigit() is true for "²" and Arabic-Indic digits, and int() refuses the former.
        if not _ASCII_DIGITS.fullmatch(text) or not low <= int(text) <= high:
            raise CellError(f"not a {what} ({low:02d}-{high:02d}, in the digits 0-9)")
        return f"{int(text):02d}"

    return normalise


def gender(value: str, row: dict[str, str]) -> str:
    text = value.strip().lower()
    if not text:
        return ""
    if text in ("m", "male", "f", "female"):
        return text[0]
    raise CellError("not a gender Meta accepts (m or f)")


def extern_id(value: str, row: dict[str, str]) -> str:
    return value.strip()


NORMALISERS: dict[str, Callable[[str, dict[str, str]], str]] = {
    "email": email,
    "phone": phone,
    "fn": name,
    "ln": name,
    "ct": city,
    "st": state,
    "zip": zip_code,
    "country": country,
    "doby": year,
    "dobm": _two_digits(1, 12, "month"),
    "dobd": _two_digits(1, 31, "day"),
    "gen": gender,
    "extern_id": extern_id,
}


def normalise_row(
    raw: dict[str, str], default_country: str | None, dropped: list[CellError] | None = None
) -> dict[str, str]:
    """The normalised cells of one row (country first: phone, state and zip depend on it).

    Raises ``CellError`` carrying the column in ``args[1]``. With ``dropped``, a bad cell is left
    out (and its error appended) instead, so that a person keeps the identifiers that remain; the
    row fails only when neither an email nor a phone is left.
    """
    row: dict[str, str] = {}
    order = ["country"] + [c for c in raw if c != "country"]
    for column in order:
        if column not in raw and column != "country":
            continue
        value = raw.get(column, "")
        try:
            if len(value) > MAX_CELL:
                raise CellError(f"longer than {MAX_CELL:,} characters")
            if (
                column in DIGIT_COLUMNS
                and not value.isascii()
                and any(ch.isdigit() and not ch.isascii() for ch in value)
            ):
                raise CellError("has digits other than 0-9 (such as ² or Arabic-Indic digits); write it in 0-9")
            row[column] = NORMALISERS[column](value, row)
        except CellError as exc:
            if dropped is None:
                raise CellError(str(exc), column) from None  # not chained: the cause may quote the customer's value
            dropped.append(CellError(str(exc), column))
            row[column] = ""
        if column == "country" and not row["country"] and default_country:
            row["country"] = default_country.lower()
    if not (row.get("email") or row.get("phone")):
        raise CellError("the row has neither an email nor a phone; Meta needs one of them", "email")
    return row


def hashed_row(row: dict[str, str], columns: tuple[str, ...]) -> list[str]:
    """The values as uploaded: SHA-256 of each normalised value, empty stays empty, EXTERN_ID as it is."""
    return [row.get(c, "") if c in UNHASHED else (sha256(row[c]) if row.get(c) else "") for c in columns]


def check_hashed(raw: dict[str, str], dropped: list[CellError] | None = None) -> dict[str, str]:
    """A row of a ``hashed: true`` file: 64 lower-case hex characters per value (EXTERN_ID as it is).

    ``dropped`` works as for ``normalise_row``."""
    row = {}
    for column, value in raw.items():
        text = value.strip()
        if column not in UNHASHED and text or len(text) > MAX_CELL:
            text = text.lower()
            if not _HEX64.fullmatch(text):
                error = CellError("not a SHA-256 hex digest (64 hexadecimal characters)", column)
                if dropped is None:
                    raise error
                dropped.append(error)
                text = ""
        row[column] = text
    if not (row.get("email") or row.get("phone")):
        raise CellError("the row has neither an email nor a phone; Meta needs one of them", "email")
    return row
