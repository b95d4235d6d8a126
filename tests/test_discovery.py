"""Hostile manifest folders: what a pull request can lay out must not leak, block or flood."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from reconciler.manifest import discovery
from reconciler.manifest import project as manifest
from reconciler.manifest.discovery import Filters

SENTINEL = "carol.sentinel@leak-check.example"


def test_a_symlink_leading_outside_the_root_is_refused_unread(with_provider, tmp_path):
    outside = tmp_path / "secret.yaml"
    outside.write_text(f"campaigns: {{x: {{name: {SENTINEL}}}}}\n")
    (with_provider.root / "linked.yaml").symlink_to(outside)
    errors = with_provider.errors()
    assert errors == [
        f"linked.yaml: a symlink that leads outside {with_provider.root}; manifests must live inside the "
        "folder being read (copy the file in instead of linking it)"
    ]
    assert SENTINEL not in "".join(errors)


def test_a_symlink_inside_the_root_is_read(with_provider):
    with_provider.write("real/c.yaml", "campaigns: {c: {name: C, daily_budget: 500}}\n")
    (with_provider.root / "alias.yml").symlink_to(with_provider.root / "real" / "c.yaml")
    assert "campaign.c is already declared" in with_provider.errors()[0]  # read: c is declared twice


def test_fifos_sockets_devices_and_loops_are_refused_without_blocking(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "mmctl.yaml").write_text('provider: {ad_account: act_1, page_id: "2"}\n')
    os.mkfifo(root / "pipe.yaml")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "sock.yaml"))
    (root / "zero.yaml").symlink_to("/dev/zero")
    (root / "loop.yaml").symlink_to(root / "loop.yaml")
    try:
        # In a subprocess: a FIFO that is opened blocks until a writer comes, and the test would hang.
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "validate", "."],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        server.close()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "pipe.yaml: a named pipe (FIFO), not a regular file; refused without reading it" in done.stderr
    assert "sock.yaml: a socket, not a regular file; refused without reading it" in done.stderr
    assert "zero.yaml: a device, not a regular file; refused without reading it" in done.stderr
    assert "loop.yaml: a symlink loop (the link leads back to itself); remove or fix the link" in done.stderr


def test_a_file_that_is_not_a_mapping_is_described_not_quoted(with_provider):
    with_provider.write("people.yaml", f"- {SENTINEL}\n- +1 555 0199 321\n")
    with_provider.write("note.yml", f"{SENTINEL}\n")
    errors = with_provider.errors()
    assert errors == [
        "note.yml:1:1: file holds text, not a mapping; a manifest is a mapping of provider, state, templates, "
        "audiences, campaigns and sends (its content is not shown)",
        "people.yaml:1:1: file holds a list, not a mapping; a manifest is a mapping of provider, state, templates, "
        "audiences, campaigns and sends (its content is not shown)",
    ]


def test_mmctlignore_and_exclude_leave_other_tools_yaml_out(with_provider):
    with_provider.write("docker-compose.yml", "services: {web: {image: nginx}}\n")
    with_provider.write("ci/pipeline.yaml", "stages: [build]\n")
    with_provider.write("ci/keep.yaml", "campaigns: {c: {name: C, daily_budget: 500}}\n")
    assert len(with_provider.errors()) == 2  # both unknown sections
    with_provider.write(".mmctlignore", "# other tools\ndocker-compose.yml\nci/*\n!ci/keep.yaml\n")
    loaded = with_provider.load()
    assert loaded.files == ("ci/keep.yaml", "provider.yaml") and list(loaded.campaigns) == ["c"]
    (with_provider.root / ".mmctlignore").unlink()
    only = manifest.load_project(["."], env={}, filters=Filters(exclude=("docker-compose.yml", "ci/pipeline.yaml")))
    assert only.files == ("ci/keep.yaml", "provider.yaml")
    included = manifest.load_project(["."], env={}, filters=Filters(include=("provider.yaml",)))
    assert included.files == ("provider.yaml",)


def test_a_folder_without_a_provider_block_is_one_line_and_nothing_is_parsed(project):
    project.write("docker-compose.yml", "services: [broken\n")
    project.write("deploy/values.yaml", "a: [1, 2\n")
    assert project.errors() == [
        ".: provider: no provider block in any of the 2 *.yaml/*.yml file(s) here (nothing else was read); add one, "
        'e.g. provider: {ad_account: act_100000000000001, page_id: "200000000000001"}, or, if this is not an mmctl '
        "project, run mmctl in the project's folder or leave other tools' YAML out with .mmctlignore or --exclude"
    ]


def test_the_provider_key_is_found_in_block_and_flow_style(tmp_path):
    block, flow, none = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"
    block.write_text("# c\nprovider:\n  x: 1\n")
    flow.write_text('{"provider": {x: 1}}\n')
    none.write_text("services:\n  provider: aws\n")
    bom = tmp_path / "d.yaml"
    bom.write_bytes(b"\xef\xbb\xbfprovider:\n  x: 1\n")
    assert [discovery.has_provider_key(p) for p in (block, flow, none, bom)] == [True, True, False, True]


def test_exclude_works_from_the_command_line(with_provider):
    with_provider.write("docker-compose.yml", "services: {web: {image: nginx}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", ".", "--exclude", "docker-compose.yml"],
        cwd=with_provider.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
