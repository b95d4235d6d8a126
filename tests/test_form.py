"""mmctl's form encoding writes exactly what urllib writes (Graph reads both the same way)."""

from __future__ import annotations

from urllib.parse import quote_plus, urlencode

from hypothesis import given
from hypothesis import strategies as st

from reconciler.graph import form

texts = st.text(st.characters(exclude_categories=("Cs",)))


@given(texts)
def test_quoting_is_urllibs(text: str) -> None:
    assert form.quote(text) == quote_plus(text)


@given(st.dictionaries(texts, texts, max_size=5))
def test_encoding_is_urllibs(fields: dict[str, str]) -> None:
    assert form.encode(fields) == urlencode(fields)


def test_a_batch_field_reads_as_urllib_writes_it() -> None:
    batch = '[{"method":"POST","relative_url":"act_1/message_campaign","body":"name=Été+sale&x=1%"}]'
    assert form.encode({"batch": batch, "include_headers": "true"}) == urlencode(
        {"batch": batch, "include_headers": "true"}
    )
    assert form.quote("a b~c.d_e-f") == "a+b~c.d_e-f"
