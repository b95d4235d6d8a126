"""The links in a message template, parsed and judged as a reviewer would want. Pure.

A template arrives in a pull request and its buttons are tapped by customers, so each URL is
parsed (``urllib.parse``, never a regular expression) and refused when it could mislead: no host,
a user name before ``@`` (``https://shop.example@evil.test/`` goes to evil.test), control or
bidirectional characters (which make a link read as another), whitespace or a trailing newline,
and, for buttons, hosts on loopback or private networks. A host that mixes scripts (a Cyrillic
``а`` in a Latin name) is a warning: it may be a look-alike domain.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

NodePath = tuple[Any, ...]
# Where a URL is something a customer taps (a button, a card's default action) rather than an image.
BUTTON_PARENTS = frozenset({"buttons", "default_action", "quick_replies"})
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def message_urls(message: Any, path: NodePath = ()) -> Iterator[tuple[NodePath, str, bool]]:
    """(path, url, is a button's) for every field of a message whose name ends in ``url``."""
    if isinstance(message, Mapping):
        for key, value in message.items():
            if isinstance(value, str) and str(key).endswith("url"):
                yield path + (key,), value, any(p in BUTTON_PARENTS for p in path)
            else:
                yield from message_urls(value, path + (key,))
    elif isinstance(message, (list, tuple)):
        for index, item in enumerate(message):
            yield from message_urls(item, path + (index,))


def split(url: str) -> SplitResult | None:
    """``urlsplit``, or None for a URL it cannot take apart (a port that is not a number, a bad bracket)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises only here
    except ValueError:
        return None
    return parts


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1), with or without brackets."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _suspicious_character(url: str) -> str | None:
    for index, ch in enumerate(url):
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Zl", "Zp"):
            kind = "a bidirectional or invisible formatting" if category == "Cf" else "a control"
            where = "at the end" if index == len(url) - 1 else f"at position {index + 1}"
            return f"has {kind} character (U+{ord(ch):04X}) {where}; such characters can make a link read as another"
        if ch.isspace():
            where = "at the end" if index == len(url) - 1 else f"at position {index + 1}"
            return f"has whitespace {where}; a URL has none (encode a space as %20)"
    return None


def _scripts(label: str) -> set[str]:
    """The scripts of a host label's letters, by the first word of their Unicode names (LATIN, CYRILLIC)."""
    found = set()
    for ch in label:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            found.add(name.split(" ")[0] if name else "UNKNOWN")
    return found


def _unicode_host(host: str) -> str:
    labels = []
    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")
            except UnicodeError:
                pass
        labels.append(label)
    return ".".join(labels)


def _local_host(host: str) -> bool:
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES) or "." not in host:
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
        or address.is_multicast
    )


def judge(url: str, button: bool) -> tuple[str | None, str | None]:
    """(why it is refused, what to warn about) for one URL; None where there is nothing to say."""
    problem = _suspicious_character(url)
    if problem is not None:
        return problem, None
    parts = split(url)
    if parts is None:
        return "is not a URL that can be parsed (a bad port or bracketed host)", None
    if parts.scheme.lower() not in ("http", "https"):
        return "must start with https:// (or http:// where Meta accepts it)", None
    if "@" in parts.netloc:
        return (
            "has a user name before '@' in its host part; a browser goes to the host after the '@', "
            "so the link leads somewhere other than it seems"
        ), None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "has no host (expected https://host/...)", None
    if button and _local_host(host.lower()):
        return (
            "points to a loopback, private-network or local host; a customer's phone cannot open it "
            "(use the shop's public address)"
        ), None
    shown = _unicode_host(host)
    for label in shown.split("."):
        scripts = _scripts(label)
        if len(scripts) > 1:
            return None, (
                f"the host {shown!r} mixes {' and '.join(sorted(s.title() for s in scripts))} letters in "
                "one name; check that it is the real domain and not a look-alike"
            )
    return None, None
