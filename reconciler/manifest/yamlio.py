"""Strict, safe YAML reading that remembers where every node was written.

The only module that uses PyYAML. It does not let PyYAML build Python objects: it pulls
parser events and composes plain values itself, because that is the one place where all of
these can be enforced cheaply and early:

- duplicate mapping keys are errors (PyYAML silently keeps the last one);
- nesting deeper than ``MAX_DEPTH`` stops at once (libyaml's own composer recurses in C and
  crashes the process on a few thousand levels of ``[[[[``);
- aliases may not expand the document beyond a budget (the "billion laughs" bomb), counted
  as the parser goes, so the bomb is refused before it costs memory or time;
- only plain YAML tags are accepted; ``!!python/...`` and friends are errors, never code;
- one document per file.

Every value's position is kept in a ``SourceMap`` keyed by the value's path (mapping keys
and list indices), so that later layers can report ``file:line:col`` for any field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import ManifestError, ManifestErrors, SourceLocation

PathKey = str | int
NodePath = tuple[PathKey, ...]

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
# Aliases may add this many nodes beyond twice the nodes actually written in the file.
ALIAS_EXPANSION_ALLOWANCE = 50_000

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER: Any = yaml.resolver.Resolver()  # the safe loaders' own (CSafeLoader's and SafeLoader's)

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class SourceMap:
    """Positions of the values (and mapping keys) of one parsed file, by path.

    A path below an alias is redirected into the anchored node, so an error deep inside
    shared content points at where that content is written.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        # Positions packed in one int each (``_pack``): a location object per node was most of a
        # parsed file's memory, and only the few an error names are ever needed.
        self._values: dict[NodePath, int] = {}
        self._keys: dict[NodePath, int] = {}
        self._redirects: dict[NodePath, NodePath] = {}

    def value(self, path: NodePath) -> SourceLocation:
        """Where the value at ``path`` is written (or its nearest known ancestor)."""
        return self._find(self._values, tuple(path), 0)

    def key(self, path: NodePath) -> SourceLocation:
        """Where the mapping key naming ``path`` is written (else where its value is)."""
        return self._find(self._keys, tuple(path), 0)

    def _find(self, table: dict[NodePath, int], path: NodePath, hops: int) -> SourceLocation:
        if path in table:
            return self._location(table[path])
        for i in range(len(path), -1, -1):
            prefix = path[:i]
            target = self._redirects.get(prefix)
            if target is not None and hops < 32:
                return self._find(table, target + path[i:], hops + 1)
            if prefix in self._values and (i < len(path) or table is not self._values):
                return self._location(self._values[prefix])
        return SourceLocation(self.file, 1, 1)

    def _location(self, packed: int) -> SourceLocation:
        return SourceLocation(self.file, packed >> _COLUMN_BITS, packed & _COLUMN_MASK)


_COLUMN_BITS = 16
_COLUMN_MASK = (1 << _COLUMN_BITS) - 1


def _pack(mark: Any) -> int:
    """A mark's 1-based line and column in one int (a column past 65,535 is kept as 65,535)."""
    line, column = int(mark.line) + 1, int(mark.column) + 1
    return line << _COLUMN_BITS | min(column, _COLUMN_MASK)


@dataclass(frozen=True)
class YamlDocument:
    """One parsed file: its single document's value (``None`` when empty) and positions."""

    file: str
    data: Any
    source_map: SourceMap


class _Fatal(Exception):
    """Stops composing one file; the error is already recorded."""


@dataclass
class _Frame:
    is_map: bool
    path: NodePath
    value: Any
    anchor: str | None
    expanded_at_start: int
    key: str | None = None
    key_path: NodePath = ()
    key_is_merge: bool = False
    merges: list[tuple[dict[str, Any], NodePath]] = field(default_factory=list)


@lru_cache(maxsize=8192)
def _implicit_tag(text: str) -> str:
    """The tag YAML 1.1 gives a plain scalar (``123`` int, ``yes`` bool, ``~`` null). It depends on
    the text alone, and manifests repeat theirs (every key, every Page id): resolved once each."""
    resolved: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    return resolved


def _mark(file: str, mark: Any) -> SourceLocation:
    if mark is None:
        return SourceLocation(file, 1, 1)
    return SourceLocation(file, mark.line + 1, mark.column + 1)


class _Composer:
    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self.loader = _Loader(text)
        self.source_map = SourceMap(file)
        self.errors: list[ManifestError] = []
        self.anchors: dict[str, tuple[Any, int, NodePath]] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Frame] = []
        self.nodes = 0
        self.expanded = 0
        self.root: Any = None
        self.documents = 0

    def error(self, mark: Any, path: NodePath, message: str, fatal: bool = False) -> None:
        self.errors.append(ManifestError(_mark(self.file, mark), path, message))
        if fatal:
            raise _Fatal()

    def compose(self) -> Any:
        try:
            self._run()
        except _Fatal:
            pass
        except yaml.MarkedYAMLError as exc:
            self.error(exc.problem_mark, (), _syntax_message(exc, self.text))
        except yaml.YAMLError as exc:  # reader errors: control characters and the like
            self.errors.append(ManifestError(SourceLocation(self.file, 1, 1), (), f"not readable as YAML: {exc}"))
        finally:
            self.loader.dispose()
        return self.root

    def _run(self) -> None:
        loader = self.loader
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    self.error(
                        event.start_mark,
                        (),
                        "a second YAML document ('---'); each manifest file holds one document "
                        "(split it into two files)",
                        fatal=True,
                    )
            elif isinstance(event, yaml.ScalarEvent):
                self._scalar(event)
            elif isinstance(event, yaml.AliasEvent):
                self._alias(event)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                self._start(event)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                self._end()

    # -- values ------------------------------------------------------------------------

    def _child_path(self, event: Any, is_scalar: bool) -> NodePath | None:
        """The path of the node this event starts; ``None`` when the event was a map key."""
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if not frame.is_map:
            return frame.path + (len(frame.value),)
        if frame.key is not None:
            return frame.key_path  # the key's own tuple: one per entry, not two
        # This node is a mapping key.
        if not is_scalar:
            self.error(
                event.start_mark,
                frame.path,
                "a key must be plain text; found a list, a mapping or an alias used as a key",
                fatal=True,
            )
        tag = self._scalar_tag(event)
        key = event.value
        frame.key_is_merge = tag == _MERGE
        if key in frame.value and not frame.key_is_merge:
            first = self.source_map.key(frame.path + (key,))
            self.error(
                event.start_mark,
                frame.path + (key,),
                f"duplicate key {key!r}; it is already set at line {first.line} "
                "(YAML would silently keep only the last one)",
            )
        frame.key = key
        frame.key_path = frame.path + (key,)
        self.source_map._keys[frame.key_path] = _pack(event.start_mark)
        return None

    def _count(self, mark: Any, path: NodePath, added: int) -> None:
        self.nodes += 1
        self.expanded += added
        if self.expanded > 2 * self.nodes + ALIAS_EXPANSION_ALLOWANCE:
            self.error(
                mark,
                path,
                f"aliases expand this file to more than {self.expanded:,} values from "
                f"{self.nodes:,} written (an alias expansion bomb?); refusing to expand it",
                fatal=True,
            )

    def _scalar_tag(self, event: Any) -> str:
        tag = event.tag
        if tag is None or tag == "!":
            if event.implicit[0] and tag is None:
                return _implicit_tag(event.value)
            return _STR
        return str(tag)

    def _scalar(self, event: Any) -> None:
        path = self._child_path(event, is_scalar=True)
        if path is None:
            return
        self._count(event.start_mark, path, 1)
        tag = self._scalar_tag(event)
        text = event.value
        value: Any
        if tag in (_STR, _TIMESTAMP):
            # Times stay text: later layers need to see whether an offset was written.
            value = text
        elif tag == _NULL:
            value = None
        elif tag == _BOOL:
            value = text.lower() in ("yes", "true", "on", "y")
        elif tag == _INT and not _DECIMAL.fullmatch(text):
            # YAML 1.1 reads 50:00 as 3000, 0x7530 as 30000 and 010000 as 4096: never what a budget or an id meant.
            self.error(
                event.start_mark,
                path,
                f"{_int_form(text)} integer; YAML 1.1 would read it as "
                f"{self.loader.construct_yaml_int(yaml.ScalarNode(tag, text))}. Write the number in plain "
                "decimal digits, or quote it to keep it as text",
            )
            value = None
        elif tag in (_INT, _FLOAT):
            node = yaml.ScalarNode(tag, text)
            value = self.loader.construct_yaml_int(node) if tag == _INT else self.loader.construct_yaml_float(node)
        elif tag == _MERGE:
            self.error(event.start_mark, path, "'<<' merges a mapping into a mapping; it cannot stand as a value")
            value = None
        else:
            self.error(event.start_mark, path, _unsupported_tag(tag))
            value = None
        self.source_map._values[path] = _pack(event.start_mark)
        if event.anchor:
            self.anchors[event.anchor] = (value, 1, path)
        self._attach(value, path, event)

    def _alias(self, event: Any) -> None:
        path = self._child_path(event, is_scalar=False)
        assert path is not None  # an alias key was refused as fatal in _child_path
        name = event.anchor
        if name in self.open_anchors:
            self.error(event.start_mark, path, f"alias *{name} refers to a node that contains it", fatal=True)
        if name not in self.anchors:
            self.error(event.start_mark, path, f"alias *{name} has no anchor &{name} before it", fatal=True)
        value, size, target = self.anchors[name]
        self._count(event.start_mark, path, size)
        self.source_map._values[path] = _pack(event.start_mark)
        self.source_map._redirects[path] = target
        self._attach(value, path, event)

    def _start(self, event: Any) -> None:
        path = self._child_path(event, is_scalar=False)
        assert path is not None
        if len(self.stack) >= MAX_DEPTH:
            self.error(
                event.start_mark,
                path,
                f"nested more than {MAX_DEPTH} levels deep; manifests are never that deep",
                fatal=True,
            )
        is_map = isinstance(event, yaml.MappingStartEvent)
        if event.tag not in (None, "!", _MAP if is_map else _SEQ):
            self.error(event.start_mark, path, _unsupported_tag(event.tag))
        self._count(event.start_mark, path, 1)
        self.source_map._values[path] = _pack(event.start_mark)
        if event.anchor:
            self.open_anchors.add(event.anchor)
        self.stack.append(
            _Frame(
                is_map=is_map,
                path=path,
                value={} if is_map else [],
                anchor=event.anchor,
                expanded_at_start=self.expanded - 1,
            )
        )

    def _end(self) -> None:
        frame = self.stack.pop()
        if frame.is_map:
            # Keys written in the mapping win over merged ones; earlier merges win over later.
            for source, source_path in frame.merges:
                for key, value in source.items():
                    if key not in frame.value:
                        frame.value[key] = value
                        self.source_map._redirects[frame.path + (key,)] = source_path + (key,)
        if frame.anchor:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = (frame.value, self.expanded - frame.expanded_at_start, frame.path)
        self._attach(frame.value, frame.path, None)

    def _attach(self, value: Any, path: NodePath, event: Any) -> None:
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        if not frame.is_map:
            frame.value.append(value)
            return
        if frame.key_is_merge:
            sources = value if isinstance(value, list) else [value]
            for i, source in enumerate(sources):
                source_path = path + (i,) if isinstance(value, list) else path
                if isinstance(source, dict):
                    frame.merges.append((source, source_path))
                else:
                    self.errors.append(
                        ManifestError(
                            self.source_map.value(source_path),
                            frame.path,
                            "'<<' must merge a mapping (or a list of mappings), e.g. '<<: *defaults'",
                        )
                    )
        else:
            assert frame.key is not None
            frame.value[frame.key] = value
        frame.key = None
        frame.key_is_merge = False


def _int_form(text: str) -> str:
    body = text.lstrip("+-").replace("_", "")
    if ":" in body:
        return "a sexagesimal (base 60, like a time)"
    if body.lower().startswith("0x"):
        return "a hexadecimal"
    if body.lower().startswith("0b"):
        return "a binary"
    if body.startswith("0") and len(body) > 1:
        return "an octal (a leading zero)"
    return "a non-decimal (with underscores)"


def _unsupported_tag(tag: str) -> str:
    short = "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag
    return f"unsupported YAML tag {short}; manifests use plain YAML values only"


def _syntax_message(exc: yaml.MarkedYAMLError, text: str) -> str:
    problem = exc.problem or "invalid YAML"
    if "maximum nesting depth" in problem:
        # PyYAML 6.0.3+ stops deep flow collections itself; say it as for block nesting.
        return f"nested more than {MAX_DEPTH} levels deep; manifests are never that deep"
    mark = exc.problem_mark
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        return "a tab character; YAML indentation must use spaces"
    message = f"invalid YAML: {problem}"
    if exc.context:
        message += f" ({exc.context}"
        if exc.context_mark is not None:
            message += f" at line {exc.context_mark.line + 1}"
        message += ")"
    return message


def parse_text(text: str, file: str) -> YamlDocument:
    """Parse one YAML document from ``text``; raise ``ManifestErrors`` on any problem."""
    composer = _Composer(file, text)
    root = composer.compose()
    if composer.errors:
        raise ManifestErrors(composer.errors)
    return YamlDocument(file=file, data=root, source_map=composer.source_map)


def parse_bytes(raw: bytes, file: str) -> YamlDocument:
    """Check that ``raw`` is UTF-8 text, then parse it."""
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise ManifestErrors(
            [
                ManifestError(
                    SourceLocation(file, line, nul - (raw.rfind(b"\n", 0, nul) + 1) + 1),
                    (),
                    "binary content (a NUL byte); expected a UTF-8 YAML text file",
                )
            ]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ManifestErrors(
            [
                ManifestError(
                    SourceLocation(file, line, column),
                    (),
                    f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); manifests must be saved as UTF-8 text",
                )
            ]
        ) from None
    return parse_text(text, file)


def read_file(path: Path, file: str) -> YamlDocument:
    """Read and parse one manifest file; ``file`` is how errors name it."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ManifestErrors(
                [
                    ManifestError(
                        SourceLocation(file),
                        (),
                        f"file is {size / 1024 / 1024:.1f} MiB; a manifest file may be at most "
                        f"{MAX_FILE_BYTES // 1024 // 1024} MiB (split it into several files)",
                    )
                ]
            )
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ManifestErrors(
            [ManifestError(SourceLocation(file), (), f"cannot read file: {exc.strerror or exc}")]
        ) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ManifestErrors(
            [
                ManifestError(
                    SourceLocation(file), (), f"file grew past {MAX_FILE_BYTES // 1024 // 1024} MiB while being read"
                )
            ]
        )
    return parse_bytes(raw, file)
