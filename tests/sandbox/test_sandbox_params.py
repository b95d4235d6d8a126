"""The sandbox reads a form exactly as urllib does (its own decoder is only faster)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from hypothesis import given
from hypothesis import strategies as st

from reconciler.sandbox.params import parse_form

# Pieces that make the awkward cases likely: escapes whole, cut short, invalid UTF-8, bare separators.
pieces = st.sampled_from(["%", "%2", "%zz", "%C3%A9", "%E2%82", "%AC", "%41", "%2B", "+", "&", "=", "é", "a", "F", "0"])
forms = st.lists(pieces | st.text(max_size=3), max_size=20).map("".join)


@given(forms)
def test_a_form_reads_as_urllib_reads_it(text: str) -> None:
    assert parse_form(text) == parse_qsl(text, keep_blank_values=True)


@given(st.dictionaries(st.text(), st.text(), max_size=4))
def test_what_urllib_writes_reads_back(fields: dict[str, str]) -> None:
    assert dict(parse_form(urlencode(fields))) == fields
