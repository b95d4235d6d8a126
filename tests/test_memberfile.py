"""Member files: streaming, external sort in chunks, duplicates, the stored upload and the diff."""

from __future__ import annotations

import hashlib
from pathlib import Path

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


def _awkward_rows() -> bytes:
    """Rows that test where a file may be cut into parts: quoted line breaks, CRLF and lone CR
    line ends, non-ASCII text, blank lines, bad rows and cells, a person repeated far apart."""
    rows = []
    for n in range(400):
        kind = n % 10
        if kind == 0:
            rows.append(f'p{n}@example.com,,US,"Ann\nMarie {n}"\r\n')
        elif kind == 1:
            rows.append(f"p{n}@example.com,+1 555 {n:07d},US,Zoë\r")
        elif kind == 2:
            rows.append(f"p{n}@example.com,,US,李{n}\n")
        elif kind == 3:
            rows.append("\n")
        elif kind == 4:
            rows.append(f"not-an-email-{n},,US,x\n")
        elif kind == 5:
            rows.append(f"p{n}@example.com,,US\n")  # a value short
        elif kind == 6:
            rows.append(f'"p{n}@example.com","12",US,"say ""hi"""\n')  # a phone too short: the cell is dropped
        else:
            rows.append(f"p{n % 50}@example.com,,US,\n")  # the same people again
    return ("\ufeffemail,phone,country,fn\n" + "".join(rows)).encode("utf-8")


def _prepared(source, workdir, monkeypatch, workers):
    monkeypatch.setattr(memberfile, "PARALLEL_BYTES", 0 if workers > 1 else 1 << 40)
    monkeypatch.setattr(memberfile, "_workers", lambda: workers)
    workdir.mkdir()
    prepared = memberfile.prepare(source, hashed=False, default_country=None, workdir=workdir)
    return prepared, prepared.path.read_text(encoding="ascii")


def test_parts_in_worker_processes_give_what_one_process_gives(tmp_path, monkeypatch):
    source = tmp_path / "m.csv"
    source.write_bytes(_awkward_rows())
    one, one_rows = _prepared(source, tmp_path / "one", monkeypatch, 1)
    many, many_rows = _prepared(source, tmp_path / "many", monkeypatch, 5)
    assert many_rows == one_rows and many.digest == one.digest and many.count == one.count
    assert (many.bad_rows, many.bad_cells, many.partial_rows) == (one.bad_rows, one.bad_cells, one.partial_rows)
    assert many.problems == one.problems
    assert [str(p) for p in one.problems[:3]] == [
        "line 7, column email: not an email address (expected name@domain)",
        "line 8, column -: 3 values for 4 columns",
        "line 9, column phone: not a possible phone number for its country",
    ]
    assert one.count == 175 and not list((tmp_path / "many").glob("*.chunk"))


def test_a_line_that_is_not_utf8_is_named_in_any_part(tmp_path, monkeypatch):
    source = tmp_path / "m.csv"
    rows = [f"p{n}@example.com,,US\n".encode() for n in range(300)]
    rows[250] = b"p250@example.com,,US,\xff\n"
    source.write_bytes(b"email,phone,country\n" + b"".join(rows))
    for workers in (1, 3):
        with pytest.raises(memberfile.MemberFileError, match=r"^line 252 is not UTF-8 text$"):
            _prepared(source, tmp_path / f"w{workers}", monkeypatch, workers)
        assert not list((tmp_path / f"w{workers}").iterdir())


def test_a_worker_that_stops_is_an_error_and_leaves_no_chunks(tmp_path, monkeypatch):
    source = write(tmp_path / "m.csv", [f"p{n}@example.com,,US" for n in range(100)])
    monkeypatch.setattr(memberfile.sys, "executable", "/bin/false")
    with pytest.raises(
        memberfile.MemberFileError, match=r"a worker process hashing part of it stopped \(exit status 1\)"
    ):
        _prepared(source, tmp_path / "work", monkeypatch, 2)
    assert not list((tmp_path / "work").iterdir())


def test_a_worker_answers_with_hashes_and_counts_never_values(tmp_path):
    from reconciler.members import worker

    source = write(tmp_path / "m.csv", ["secret.person@example.com,+1 555 0100 200,US", "bad-email,,US"])
    answer = worker.run(
        {
            "path": str(source),
            "start": len("email,phone,country\n"),
            "end": source.stat().st_size,
            "lines_before": 1,
            "columns": ["email", "phone", "country"],
            "upload_columns": ["email", "phone", "country"],
            "hashed": False,
            "default_country": None,
            "workdir": str(tmp_path),
        }
    )
    text = str(answer)
    assert "secret" not in text and "bad-email" not in text and "555" not in text
    assert answer["bad"] == 1 and answer["problems"] == [[3, "email", "not an email address (expected name@domain)"]]
    [chunk] = answer["chunks"]
    assert hashlib.sha256(b"secret.person@example.com").hexdigest() in Path(chunk).read_text()
