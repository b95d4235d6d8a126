from __future__ import annotations

import pytest

from reconciler.errors import ManifestErrors
from reconciler.manifest import yamlio
from reconciler.manifest.yamlio import parse_bytes, parse_text


def errors_of(text: str) -> list[str]:
    with pytest.raises(ManifestErrors) as info:
        parse_text(text, "f.yaml")
    return [str(e) for e in info.value.errors]


def test_values_keep_their_plain_types_and_times_stay_text():
    doc = parse_text("a: 1\nb: 1.5\nc: true\nd: ~\ne: 2026-12-01T09:00:00-05:00\nf: '007'\n", "f.yaml")
    assert doc.data == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "2026-12-01T09:00:00-05:00", "f": "007"}


@pytest.mark.parametrize(
    ("written", "form", "read_as"),
    [
        ("50:00", "a sexagesimal (base 60, like a time)", 3000),
        ("0x7530", "a hexadecimal", 30000),
        ("010000", "an octal (a leading zero)", 4096),
        ("0b1010", "a binary", 10),
        ("5_000", "a non-decimal (with underscores)", 5000),
    ],
)
def test_yaml_1_1_integer_forms_are_refused(written, form, read_as):
    assert errors_of(f"daily_budget: {written}\n") == [
        f"f.yaml:1:15: daily_budget: {form} integer; YAML 1.1 would read it as {read_as}. Write the number in plain "
        "decimal digits, or quote it to keep it as text"
    ]
    assert parse_text(f"daily_budget: '{written}'\nb: -12\nc: 0\n", "f.yaml").data == {
        "daily_budget": written,
        "b": -12,
        "c": 0,
    }


def test_every_value_and_key_has_its_line_and_column():
    doc = parse_text("campaigns:\n  winter:\n    name: Winter\n    tags: [a, b]\n", "f.yaml")
    assert str(doc.source_map.value(("campaigns", "winter", "name"))) == "f.yaml:3:11"
    assert str(doc.source_map.key(("campaigns", "winter", "name"))) == "f.yaml:3:5"
    assert str(doc.source_map.value(("campaigns", "winter", "tags", 1))) == "f.yaml:4:15"
    # A path that does not exist falls back to its nearest ancestor.
    assert str(doc.source_map.value(("campaigns", "winter", "nope"))) == "f.yaml:3:5"


def test_duplicate_keys_are_errors_at_the_second_key():
    assert errors_of("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n") == [
        "f.yaml:4:3: b.c: duplicate key 'c'; it is already set at line 3 (YAML would silently keep only the last one)",
        "f.yaml:5:1: a: duplicate key 'a'; it is already set at line 1 (YAML would silently keep only the last one)",
    ]


def test_merge_keys_work_and_written_keys_win():
    doc = parse_text("d: &d {status: PAUSED, pixel_id: '1'}\nc:\n  <<: *d\n  status: ACTIVE\n", "f.yaml")
    assert doc.data["c"] == {"status": "ACTIVE", "pixel_id": "1"}
    # A merged value points to where it is written.
    assert str(doc.source_map.value(("c", "pixel_id"))) == "f.yaml:1:34"


def test_merging_something_that_is_not_a_mapping_is_an_error():
    assert errors_of("d: &d [1]\nc:\n  <<: *d\n") == [
        "f.yaml:1:8: c: '<<' must merge a mapping (or a list of mappings), e.g. '<<: *defaults'"
    ]


def test_a_second_document_is_an_error():
    assert errors_of("a: 1\n---\nb: 2\n") == [
        "f.yaml:2:1: a second YAML document ('---'); each manifest file holds one document (split it into two files)"
    ]


def test_an_explicit_single_document_is_fine():
    assert parse_text("---\na: 1\n", "f.yaml").data == {"a": 1}


def test_empty_and_comment_only_files_have_no_data():
    assert parse_text("", "f.yaml").data is None
    assert parse_text("# nothing here\n", "f.yaml").data is None


def test_tabs_get_a_plain_explanation():
    assert errors_of("a:\n\tb: 1\n") == ["f.yaml:2:1: a tab character; YAML indentation must use spaces"]


def test_syntax_errors_point_at_the_problem():
    assert errors_of("a: [1, 2\nb: 3\n") == [
        "f.yaml:2:2: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 1)"
    ]


def test_python_tags_are_refused_and_never_run():
    assert errors_of("a: !!python/object/apply:os.system ['touch /tmp/pwned']\n") == [
        "f.yaml:1:4: a: unsupported YAML tag !!python/object/apply:os.system; manifests use plain YAML values only"
    ]


def test_alias_bombs_are_refused_quickly():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    (message,) = errors_of("\n".join(lines) + "\n")
    assert message.startswith("f.yaml:5:23: e[5]: aliases expand this file to more than ")
    assert message.endswith("(an alias expansion bomb?); refusing to expand it")


def test_recursive_and_undefined_aliases_are_errors():
    assert errors_of("a: &a [*a]\n") == ["f.yaml:1:8: a[0]: alias *a refers to a node that contains it"]
    assert errors_of("a: *nowhere\n") == ["f.yaml:1:4: a: alias *nowhere has no anchor &nowhere before it"]


def test_deep_nesting_stops_early_without_crashing():
    # libyaml's own composer crashes the interpreter on this; ours stops at MAX_DEPTH.
    (message,) = errors_of("[" * 200_000 + "]" * 200_000)
    assert message.endswith(f"nested more than {yamlio.MAX_DEPTH} levels deep; manifests are never that deep")
    # Our composer stops at MAX_DEPTH; PyYAML 6.0.3+ may stop its scanner first, at its own limit of 1000.
    column = int(message.split(":")[2])
    assert message.startswith("f.yaml:1:") and column <= 1011, message


def test_complex_keys_are_errors():
    assert errors_of("? [a]\n: 1\n") == [
        "f.yaml:1:3: a key must be plain text; found a list, a mapping or an alias used as a key"
    ]


def test_binary_content_is_refused():
    with pytest.raises(ManifestErrors) as info:
        parse_bytes(b"a: 1\nb: \x00\x01", "f.yaml")
    assert [str(e) for e in info.value.errors] == [
        "f.yaml:2:4: binary content (a NUL byte); expected a UTF-8 YAML text file"
    ]


def test_non_utf8_is_refused_at_the_byte():
    with pytest.raises(ManifestErrors) as info:
        parse_bytes("a: 1\nname: caf\xe9\n".encode("latin-1"), "f.yaml")
    assert [str(e) for e in info.value.errors] == [
        "f.yaml:2:10: not valid UTF-8 (byte 0xe9); manifests must be saved as UTF-8 text"
    ]


def test_a_utf8_byte_order_mark_is_accepted():
    assert parse_bytes(b"\xef\xbb\xbfa: 1\n", "f.yaml").data == {"a": 1}


def test_oversized_files_are_refused_without_reading_them(tmp_path):
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # sparse: costs no disk and must cost no memory
    with pytest.raises(ManifestErrors) as info:
        yamlio.read_file(big, "big.yaml")
    assert [str(e) for e in info.value.errors] == [
        "big.yaml: file is 100.0 MiB; a manifest file may be at most 8 MiB (split it into several files)"
    ]
