"""Where a change comes from, for the state's history: the git commit of the manifests, and a
summary of what a command did."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

from reconciler.core.plan import Plan


def git_commit(root: Path) -> str | None:
    """The commit checked out where the manifests are (with ``+dirty`` for uncommitted edits), or
    None outside a git checkout or without git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "."],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def apply_summary(made: Plan, done: set[str], failed: int) -> dict[str, int]:
    """How many of each action apply carried out, and how many failed."""
    counts = Counter(str(a.action) for a in made.actions if a.address in done)
    if failed:
        counts["failed"] = failed
    return dict(sorted(counts.items()))
