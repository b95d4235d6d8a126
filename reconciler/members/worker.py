"""A worker process that hashes one part of a member file (``memberfile._hash_parallel`` starts it).

It reads a job (JSON) on stdin, hashes its byte range of the file into sorted chunk files and
writes what came of it (JSON) on stdout: chunk file names, counts and the first problems, which
name lines and columns but never a value. A failure is written as its message; a crash writes
nothing, and its traceback is not passed on (it could quote a customer's value).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from reconciler.members.memberfile import Job, MemberFileError, hash_part


def run(request: dict[str, Any]) -> dict[str, Any]:
    try:
        job = Job(
            Path(request["path"]),
            tuple(request["columns"]),
            tuple(request["upload_columns"]),
            request["hashed"],
            request["default_country"],
            Path(request["workdir"]),
        )
        part = hash_part(job, request["start"], request["end"], request["lines_before"])
    except MemberFileError as exc:
        return {"error": str(exc)}
    except OSError as exc:
        return {"error": f"cannot read it ({exc.strerror or type(exc).__name__})"}
    return part.to_json()


def main() -> None:
    sys.stdout.write(json.dumps(run(json.load(sys.stdin))))


if __name__ == "__main__":
    main()
