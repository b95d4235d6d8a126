"""Meta's normalisation rules per column, checked against hashes computed here independently."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.members import normalize
from reconciler.members.normalize import CellError, check_hashed, hashed_row, normalise_row


def h(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"email": "  Alice.Smith@Example.COM "}, {"email": "alice.smith@example.com"}),
        ({"phone": "(+84) 091-2345678"}, {"phone": "84912345678"}),  # graph-api.md §3's own example
        ({"phone": "+1 (555) 987-6543"}, {"phone": "15559876543"}),
        ({"phone": "555-987-6543", "country": "US"}, {"phone": "15559876543"}),
        ({"phone": "07911 123456", "country": "gb"}, {"phone": "447911123456"}),  # the trunk zero goes
        ({"phone": "0049 30 1234567"}, {"phone": "49301234567"}),  # 00 international prefix
        ({"phone": "030 1234567", "country": "DE"}, {"phone": "49301234567"}),
        ({"email": "x@y.co", "fn": "Zoë", "ln": "O'Brien-Smith"}, {"fn": "zoë", "ln": "obriensmith"}),
        ({"email": "x@y.co", "fn": "Владимир", "ln": "Ж. Петров"}, {"fn": "владимир", "ln": "жпетров"}),
        ({"email": "x@y.co", "fn": "太郎", "ln": "山田"}, {"fn": "太郎", "ln": "山田"}),
        ({"email": "x@y.co", "fn": "José"}, {"fn": "josé"}),
        ({"email": "x@y.co", "ct": "New York", "st": "New York", "country": "US"}, {"ct": "newyork", "st": "ny"}),
        ({"email": "x@y.co", "st": "CA", "zip": "94025-1234", "country": "us"}, {"st": "ca", "zip": "94025"}),
        ({"email": "x@y.co", "zip": "SW1A 1AA", "country": "gb"}, {"zip": "sw1a1aa"}),
        ({"email": "x@y.co", "doby": "1984", "dobm": "3", "dobd": "7"}, {"doby": "1984", "dobm": "03", "dobd": "07"}),
        ({"email": "x@y.co", "gen": "Female"}, {"gen": "f"}),
        ({"email": "x@y.co", "extern_id": " CRM-42 "}, {"extern_id": "CRM-42"}),
    ],
)
def test_columns(raw, expected):
    row = normalise_row(raw, None)
    for column, value in expected.items():
        assert row[column] == value


def test_default_country_adds_the_calling_code():
    assert normalise_row({"phone": "(555) 987-6543"}, "US")["phone"] == "15559876543"
    assert normalise_row({"phone": "(555) 987-6543"}, "US")["country"] == "us"


@pytest.mark.parametrize(
    ("raw", "column", "words"),
    [
        ({"email": "not-an-email"}, "email", "not an email address"),
        ({"phone": "555-987-6543"}, "phone", "has no country code and the row has no country"),
        ({"phone": "call me"}, "phone", "not a phone number"),
        ({"email": "x@y.co", "country": "USA"}, "country", "not a 2-letter ISO 3166 country code"),
        ({"email": "x@y.co", "dobm": "13"}, "dobm", "not a month (01-12, in the digits 0-9)"),
        ({"email": "x@y.co", "doby": "84"}, "doby", "not a year"),
        ({"email": "x@y.co", "gen": "x"}, "gen", "not a gender Meta accepts"),
        ({"email": "x@y.co", "zip": "9402", "country": "us"}, "zip", "not a US ZIP code"),
        ({"fn": "Alice"}, "email", "neither an email nor a phone"),
    ],
)
def test_bad_cells_name_the_column_not_the_value(raw, column, words):
    with pytest.raises(CellError) as info:
        normalise_row(raw, None)
    assert info.value.args[1] == column and words in info.value.args[0]
    for value in raw.values():
        assert value not in info.value.args[0]


def test_hashed_rows_match_hashes_computed_independently():
    row = normalise_row({"email": " Bob@Example.com", "phone": "+44 07911 123456", "fn": "Zoë", "extern_id": "7"}, None)
    columns = ("email", "phone", "fn", "ln", "extern_id")
    assert hashed_row(row, columns) == [h("bob@example.com"), h("447911123456"), h("zoë"), "", "7"]


def test_prehashed_files_are_checked():
    digest = h("a@b.co")
    assert check_hashed({"email": digest.upper(), "phone": ""}) == {"email": digest, "phone": ""}
    with pytest.raises(CellError, match="not a SHA-256 hex digest"):
        check_hashed({"email": "a@b.co"})


def _both_ways(raw: str, country: str | None) -> tuple[str, str]:
    """(the quick path's answer, the full path's answer) for one phone cell: a number or the error."""
    row = {"country": country} if country else {}

    def answer() -> str:
        try:
            return normalize.phone(raw, row)
        except CellError as exc:
            return f"error: {exc}"

    quick = answer()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(normalize, "_international_quickly", lambda text: None)
        return quick, answer()


def test_the_quick_path_for_international_numbers_agrees_with_phonenumbers():
    from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

    rng = random.Random(21)
    codes = sorted(COUNTRY_CODE_TO_REGION_CODE)
    taken = 0
    for _ in range(20_000):
        digits = str(rng.choice(codes)) + "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 15)))
        cut = rng.randint(1, len(digits))
        raw = "+" + (
            digits[:cut] + rng.choice([" ", "-", ".", " (", ""]) + digits[cut:] if rng.random() < 0.5 else digits
        )
        if rng.random() < 0.1:
            raw = "00" + raw[1:]
        taken += (
            normalize._international_quickly(raw.replace("00", "+", 1) if raw.startswith("00") else raw) is not None
        )
        quick, full = _both_ways(raw, rng.choice([None, "US", "GB", "DE", "IT"]))
        assert quick == full, raw
    assert taken > 15_000  # most of these take the quick path: the comparison is not vacuous


@given(st.from_regex(r"\+[0-9 ().-]{0,20}", fullmatch=True), st.sampled_from([None, "US", "FR", "JP"]))
def test_any_plus_and_digits_text_gets_the_same_answer_both_ways(raw, country):
    quick, full = _both_ways(raw, country)
    assert quick == full
