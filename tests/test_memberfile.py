"""Member files: streaming, external sort in chunks, duplicates, the stored upload and the diff."""

from __future__ import annotations

import hashlib

import pytest

from reconciler.members import memberfile
from reconciler.state.sqlite import SQLiteStateStore


def write(path, rows):
    path.write_text("email,phone,country\n" + "".join(f"{r}\n" for r in rows))
    return path


def test_sorted_unique_and_chunked(tmp_path, monkeypatch):
    monkeypatch.setattr(memberfile, "CHUNK", 7)  # many chunks, merged
    source = write(tmp_path / "m.csv", [f"p{n}@example.com,,US" for n in range(50)] + ["P3@Example.com,,US"])
    prepared = memberfile.prepare(source, hashed=False, default_country=None, workdir=tmp_path)
    keys = [key for key, _ in memberfile.prepared_entries(prepared)]
    assert prepared.count == 50 and keys == sorted(keys) and len(set(keys)) == 50  # P3 is p3 again
    assert prepared.schema == ["EMAIL", "PHONE", "COUNTRY"]
    again = memberfile.prepare(source, hashed=False, default_country=None, workdir=tmp_path)
    assert again.digest == prepared.digest
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".chunk"] == []


def test_diff_store_and_removal_identifiers(tmp_path):
    store = SQLiteStateStore(tmp_path / "state.db")

    def stored():
        return store.member_entries("audience.vip")

    first = memberfile.prepare(
        write(tmp_path / "a.csv", ["a@x.co,,US", "b@x.co,,US", "c@x.co,,US"]),
        hashed=False,
        default_country=None,
        workdir=tmp_path,
    )
    assert memberfile.diff(first, stored) == memberfile.MemberDiff(3, 0, 0, 3)
    store.save_members("audience.vip", memberfile.entries(first))
    second = memberfile.prepare(
        write(tmp_path / "b.csv", ["b@x.co,,US", "c@x.co,,US", "d@x.co,,US"]),
        hashed=False,
        default_country=None,
        workdir=tmp_path,
    )
    assert memberfile.diff(second, stored) == memberfile.MemberDiff(1, 1, 3, 3)
    [added] = list(memberfile.additions(second, stored))
    assert added[0] == hashlib.sha256(b"d@x.co").hexdigest()
    assert list(memberfile.removals(second, stored)) == [(hashlib.sha256(b"a@x.co").hexdigest(), "")]
    assert b"a@x.co" not in (tmp_path / "state.db").read_bytes()


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("email,shoe_size", "column 2 of the header row is not a column name"),
        ("fn,ln", "neither email nor phone"),
        ("email,email", "columns 1 and 2 of the header row have the same name"),
        ("", "it is empty"),
    ],
)
def test_bad_headers(tmp_path, header, words):
    (tmp_path / "m.csv").write_text(header + "\n")
    with pytest.raises(memberfile.MemberFileError, match=words):
        memberfile.read_header(tmp_path / "m.csv")
