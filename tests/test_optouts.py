"""The unsubscribe file: people by email or phone (hashed by Meta's rules), PSID or token; each once."""

from __future__ import annotations

import hashlib

import pytest

from reconciler.members import optouts
from reconciler.members.memberfile import MemberFileError


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_rows_become_hashed_or_id_rows_and_repeats_count_once(tmp_path):
    path = tmp_path / "optouts.csv"
    path.write_text(
        "email,phone,country,psid,subscription_token\n"
        " Ann@Example.com ,,,,\n"
        "ann@example.com,,,,\n"  # the same person again
        ",(202) 555-0101,US,,\n"
        ",,,7000000000000001,\n"
        ",,,,12345678901234567\n"
        "bob@example.com,,,7000000000000002,\n"  # a PSID stands alone
        "not-an-email,,,,\n"
    )
    found, problems = optouts.read(path, hashed=False, default_country=None)
    assert [e.row for e in found] == [
        {"email": sha("ann@example.com")},
        {"phone": sha("12025550101")},
        {"psid": "7000000000000001"},
        {"subscriber_token": "12345678901234567"},
    ]
    assert [e.key.partition(":")[0] for e in found] == ["person", "person", "psid", "token"]
    assert problems == [
        "line 7: psid cannot be combined with other columns on a row (the API's rule)",
        "line 8: not an email address (expected name@domain)",
    ]
    assert all("example.com" not in e.key for e in found)


def test_hashed_files_and_bad_headers(tmp_path):
    path = tmp_path / "hashed.csv"
    path.write_text(f"email\n{sha('a@b.co').upper()}\nnot-a-digest\n")
    found, problems = optouts.read(path, hashed=True, default_country=None)
    assert [e.row for e in found] == [{"email": sha("a@b.co")}]
    assert problems == ["line 3: not a SHA-256 hex digest (64 hexadecimal characters)"]
    path.write_text("mail\nx@y.z\n")
    with pytest.raises(MemberFileError, match="its text is not shown"):
        optouts.read(path, hashed=False, default_country=None)
