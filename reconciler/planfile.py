"""Saved plan files: how they are recognised, sealed with a digest, and signed.

A saved plan is the JSON plan (``schemas/plan.schema.json``) with ``"kind": "mmctl-plan"`` and
an ``integrity`` block: the SHA-256 digest of the rest of the document in canonical form and,
when ``MMCTL_PLAN_KEY`` is set, an HMAC-SHA256 signature of the same bytes. The digest makes an
edited file refusable; the signature makes a plan that did not come from a job holding the key
refusable (a swapped CI artifact). Neither is what makes apply safe on its own: apply re-derives
the plan and carries out only what equals the saved one (``plan.differences``).

Files are recognised by content, never by name: ``plan.out``, ``tfplan`` and ``reviewed.plan``
are plans when they hold one, and a manifest is never taken for a plan.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError

PLAN_KIND = "mmctl-plan"
KEY_ENV = "MMCTL_PLAN_KEY"
MIN_KEY_BYTES = 16
MAX_PLAN_BYTES = 256 * 1024 * 1024
_SNIFF_BYTES = 256


class PlanFileError(ReconcilerError):
    """A saved plan file cannot be trusted or read; nothing was changed."""


def looks_like_plan(path: Path) -> bool:
    """Whether ``path`` is a regular file holding a saved mmctl plan (by content, not by name).

    Cheap for manifests: only a file whose first bytes open a JSON object naming the plan kind
    is read whole.
    """
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return False
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith(b"{") and PLAN_KIND.encode() in head


def read_document(path: Path, shown: str) -> dict[str, Any]:
    """The saved plan's JSON object; PlanFileError when it is not one."""
    try:
        size = path.stat().st_size
        if size > MAX_PLAN_BYTES:
            raise PlanFileError(f"{shown}: {size:,} bytes is too large for a plan file")
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanFileError(f"{shown}: cannot read the plan file ({exc.strerror})") from exc
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PlanFileError(
            f"{shown}: not a saved plan (not JSON: {exc}); save one with `mmctl plan --out FILE`"
        ) from exc
    if not isinstance(data, dict) or data.get("kind") != PLAN_KIND:
        raise PlanFileError(f"{shown}: not a saved mmctl plan; save one with `mmctl plan --out FILE`")
    return data


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes the digest and signature cover: everything but the integrity block, canonically."""
    return _canonical_json({k: v for k, v in document.items() if k != "integrity"})


def streamed_digest(head: Mapping[str, Any], items: Mapping[str, Iterable[Any]]) -> str:
    """``digest`` of the document ``head`` plus the lists ``items`` (by key), each element made and
    dropped in turn: the digest of a 100,000-action plan without holding its JSON (or its thawed
    values) whole. Equal to ``digest({**head, **{k: list(v) for k, v in items.items()}})``."""
    hashed = hashlib.sha256()
    dumps = _canonical_json
    keys = sorted(k for k in {*head, *items} if k != "integrity")
    hashed.update(b"{")
    for index, key in enumerate(keys):
        hashed.update((b"," if index else b"") + dumps(key) + b":")
        if key in items:
            hashed.update(b"[")
            for at, element in enumerate(items[key]):
                hashed.update((b"," if at else b"") + dumps(element))
            hashed.update(b"]")
        else:
            hashed.update(dumps(head[key]))
    hashed.update(b"}")
    return "sha256:" + hashed.hexdigest()


def digest(document: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(document)).hexdigest()


def _signature(document: Mapping[str, Any], key: str) -> str:
    return "hmac-sha256:" + hmac.new(key.encode("utf-8"), canonical(document), hashlib.sha256).hexdigest()


def plan_key(env: Mapping[str, str]) -> str | None:
    """``MMCTL_PLAN_KEY`` when set; a key too short to resist guessing is refused (never echoed)."""
    key = env.get(KEY_ENV) or None
    if key is not None and len(key.encode("utf-8")) < MIN_KEY_BYTES:
        raise PlanFileError(
            f"{KEY_ENV} is shorter than {MIN_KEY_BYTES} bytes; use a long random secret, "
            "e.g. the output of `openssl rand -hex 32`"
        )
    return key


def seal(document: Mapping[str, Any], key: str | None) -> dict[str, Any]:
    """The document with its integrity block: a digest, and a signature when a key is given."""
    sealed = {k: v for k, v in document.items() if k != "integrity"}
    sealed["integrity"] = {"digest": digest(sealed), "signature": _signature(sealed, key) if key else None}
    return sealed


def verify(document: Mapping[str, Any], key: str | None, shown: str) -> bool:
    """Refuse an edited, unsigned or wrongly signed plan; True when a signature was checked."""
    integrity = document.get("integrity")
    if not isinstance(integrity, Mapping) or not isinstance(integrity.get("digest"), str):
        raise PlanFileError(
            f"{shown}: the plan has no digest, so it cannot be checked; save it again with `mmctl plan --out FILE`"
        )
    if not hmac.compare_digest(integrity["digest"], digest(document)):
        raise PlanFileError(
            f"{shown}: the plan file was changed after it was saved (its digest does not match); "
            "nothing was changed. Run `mmctl plan --out FILE` again and review that plan"
        )
    signature = integrity.get("signature")
    if key is None:
        if signature:
            raise PlanFileError(
                f"{shown}: the plan is signed, but {KEY_ENV} is not set here, so the signature "
                f"cannot be checked; set {KEY_ENV} to the key the plan job used"
            )
        return False
    if not isinstance(signature, str) or not signature:
        raise PlanFileError(
            f"{shown}: the plan is not signed, and {KEY_ENV} is set, so only signed plans are "
            "applied; make the plan in a job that has the key"
        )
    if not hmac.compare_digest(signature, _signature(document, key)):
        raise PlanFileError(
            f"{shown}: the plan's signature does not match {KEY_ENV}: it was signed with another "
            "key or changed after signing; nothing was changed"
        )
    return True
