"""Hostile or broken input ends quickly with a clear error, bounded memory, and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.members import memberfile

PROVIDER = 'provider:\n  ad_account: act_100000000000001\n  page_id: "200000000000001"\n'


def mmctl_rusage(cwd: Path, *args: str) -> tuple[int, str, float, float]:
    """Exit code, stderr, seconds and peak memory (MB) of one mmctl process."""
    started = time.perf_counter()
    with open(cwd / "stderr.txt", "w+") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors
        )
        _, status, usage = os.wait4(proc.pid, 0)
        errors.seek(0)
        text = errors.read()
    return os.waitstatus_to_exitcode(status), text, time.perf_counter() - started, usage.ru_maxrss / 1024


def test_a_100_mb_manifest_is_refused_at_once(tmp_path):
    (tmp_path / "mmctl.yaml").write_text(PROVIDER)
    with open(tmp_path / "huge.yaml", "w") as handle:
        line = "# " + "x" * 1021 + "\n"
        for _ in range(100 * 1024):
            handle.write(line)
    code, err, seconds, peak = mmctl_rusage(tmp_path, "validate", ".")
    assert code == 1 and "huge.yaml: file is 100.0 MiB; a manifest file may be at most 8 MiB" in err
    assert seconds < 5 and peak < 150, (seconds, peak)
    assert "Traceback" not in err


def test_an_alias_bomb_and_deep_nesting_end_quickly(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(12)
    )
    (tmp_path / "mmctl.yaml").write_text(PROVIDER)
    (tmp_path / "bomb.yaml").write_text(bomb)
    code, err, seconds, peak = mmctl_rusage(tmp_path, "validate", ".")
    assert code == 1 and "alias" in err and seconds < 5 and peak < 150
    (tmp_path / "bomb.yaml").write_text("campaigns: " + "[" * 200_000 + "]" * 200_000 + "\n")
    code, err, seconds, peak = mmctl_rusage(tmp_path, "validate", ".")
    assert code == 1 and "nested" in err and seconds < 10 and peak < 200
    assert "Traceback" not in err


def test_a_member_file_outside_the_root_is_refused(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (tmp_path / "secrets.csv").write_text("email\nx@example.com\n")
    (root / "mmctl.yaml").write_text(
        PROVIDER + "audiences:\n  a:\n    name: A\n    members:\n      file: ../secrets.csv\n"
    )
    code, err, _, _ = mmctl_rusage(root, "validate", ".")
    assert code == 1 and "is outside the manifests root" in err


cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.lists(
        st.sampled_from(["email", "phone", "fn", "ln", "country", "zip", "st", "doby", "gen", "extern_id", "junk", ""]),
        min_size=1,
        max_size=6,
    ),
    rows=st.lists(st.lists(cells, max_size=7), max_size=20),
    hashed=st.booleans(),
    country=st.sampled_from([None, "US", "GB", "ZZ"]),
)
def test_member_files_never_break_mmctl(tmp_path_factory, header, rows, hashed, country):
    folder = tmp_path_factory.mktemp("members")
    text = (
        ",".join(header)
        + "\n"
        + "".join(",".join(c.replace("\n", " ").replace("\r", " ") for c in row) + "\n" for row in rows)
    )
    (folder / "m.csv").write_text(text, encoding="utf-8")
    try:
        prepared = memberfile.prepare(folder / "m.csv", hashed=hashed, default_country=country, workdir=folder)
    except memberfile.MemberFileError:
        return
    assert prepared.count + prepared.bad_rows <= len(rows)
    for problem in prepared.problems:
        for row in rows:
            for cell in row:
                if len(cell) >= 6:
                    assert cell not in problem.reason  # never the raw value
