"""JSON Schema validation with errors in people's words, at the YAML line of the node.

The only module that uses jsonschema (and jsonschema-rs, a compiled validator that answers
"valid?" about thirty times faster; only a document it does not accept is validated again by
jsonschema for the messages). Schemas are read once from the installed package
(``reconciler/schemas/`` in a wheel) or, in a source checkout, from the top-level
``schemas/`` folder. Two annotations in the schemas keep the wording next to the rule:

- ``x-messages``: ``{keyword: text}``, the message when that keyword of this node fails;
  ``{found}``, ``{count}`` and ``{limit}`` are filled in (the value, its length, the rule);
- ``x-expected``: what the node accepts, for "expected ...; found ..." when a value is of
  the wrong kind or form.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

from reconciler.errors import ManifestError, SourceLocation

SCHEMA_FILES = ("manifest.schema.json", "template.schema.json", "plan.schema.json")

# Resolves a value path (mapping keys and list indices) to where it is written.
Locate = Callable[[tuple[Any, ...]], SourceLocation]


def schema_dir() -> Path:
    """The folder holding the JSON Schemas, installed or in a source checkout."""
    packaged = resources.files("reconciler") / "schemas"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "schemas"


@cache
def load_schema(name: str) -> dict[str, Any]:
    with (schema_dir() / name).open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def _is_integer(checker: Any, instance: Any) -> bool:
    # jsonschema counts 5000.0 as an integer; a budget or a Unix time written as a float is
    # a mistake to report, not a value to pass on.
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    # Loaded here, not at import: only a document the compiled validator refuses needs it, and it
    # is a tenth of mmctl's start-up.
    import jsonschema
    import referencing

    strict = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator,
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
    )
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(
        (file, referencing.Resource.from_contents(load_schema(file))) for file in SCHEMA_FILES
    )
    validator: jsonschema.protocols.Validator = strict(load_schema(name), registry=registry)
    return validator


@cache
def _fast(name: str) -> Any:
    """The compiled validator (jsonschema-rs) of a schema: it only says whether a document is valid,
    fast; the messages come from jsonschema. None where it cannot be built."""
    try:
        import jsonschema_rs
    except ImportError:  # a platform without its wheel: everything takes the detailed path
        return None
    resources = [(file, load_schema(file)) for file in SCHEMA_FILES]
    registry = jsonschema_rs.Registry(resources)
    return jsonschema_rs.validator_for(load_schema(name), registry=registry)


def _plain(value: Any) -> bool:
    """Whether a value holds only what both validators read alike: text keys, and no float (the
    strict validator refuses 5000.0 as an integer; JSON Schema itself counts it as one)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return not isinstance(value, float)


def is_valid_fast(instance: Any, schema_name: str) -> bool:
    """True only when the compiled validator accepts ``instance`` (a False is no verdict)."""
    fast = _fast(schema_name)
    if fast is None or not _plain(instance):
        return False
    try:
        return bool(fast.is_valid(instance))
    except (ValueError, TypeError, OverflowError):  # a value it cannot convert: ask jsonschema
        return False


def validate(
    instance: Any,
    schema_name: str,
    locate_value: Locate,
    locate_key: Locate,
    base_path: tuple[Any, ...] = (),
    hidden: frozenset[tuple[Any, ...]] = frozenset(),
) -> list[ManifestError]:
    """Validate ``instance`` against a schema and return readable errors.

    ``base_path`` is prefixed to every reported path (for validating a sub-document);
    values at paths in ``hidden`` came from the environment and are never echoed.
    """
    if is_valid_fast(instance, schema_name):
        return []  # most documents are valid: only an invalid one pays for the detailed validator
    errors = []
    for error in _validator(schema_name).iter_errors(instance):
        errors.extend(_humanize(error, base_path, locate_value, locate_key, hidden))
    return errors


def describe_value(value: Any) -> str:
    """How a value found in a manifest is named in a message."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return (
            f"the boolean {str(value).lower()} (YAML reads unquoted yes/no/on/off/true/false as "
            "a boolean; quote it to make it text)"
        )
    if isinstance(value, int):
        return f'the number {value} (quote it to make it text: "{value}")'
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return json.dumps(shown, ensure_ascii=False)
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_USERINFO = re.compile(r"[^\s/@]+:[^\s/@]*@")


def _found(value: Any, path: tuple[Any, ...], hidden: frozenset[tuple[Any, ...]]) -> str:
    if path in hidden:
        return "the value of an ${env:...} variable (not shown)"
    if isinstance(value, str) and _USERINFO.search(value):
        return "text with what looks like a user name and password in it (not shown)"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # A number where a number-like thing is wanted gets no "quote it" hint.
        return f"the number {value}"
    return describe_value(value)


_TYPE_NAMES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing",
}


def _humanize(
    error: ValidationError,
    base_path: tuple[Any, ...],
    locate_value: Locate,
    locate_key: Locate,
    hidden: frozenset[tuple[Any, ...]],
) -> list[ManifestError]:
    path = base_path + tuple(error.absolute_path)
    keyword = error.validator
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    value: Any = error.instance
    rule: Any = error.validator_value

    def at(p: tuple[Any, ...], text: str, key: bool = False) -> ManifestError:
        return ManifestError((locate_key if key else locate_value)(p), p, text)

    if "propertyNames" in error.relative_schema_path:
        name_path = path + (value,)
        expected = schema.get("x-expected", "a valid name")
        return [at(name_path, f"invalid name {json.dumps(value)}; expected {expected}", key=True)]

    if keyword == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(schema.get("properties", {}))
        extras = [k for k in value if k not in schema.get("properties", {})]
        out = []
        for extra in extras:
            unknown = f"unknown field {json.dumps(extra)}"
            close = difflib.get_close_matches(str(extra), allowed, n=1)
            if close:
                unknown += f" (did you mean {json.dumps(close[0])}?)"
            if allowed:
                unknown += f"; expected one of: {', '.join(allowed)}"
            out.append(at(path + (extra,), unknown, key=True))
        return out

    custom = schema.get("x-messages", {}).get(keyword)
    if isinstance(custom, str):
        count = len(value) if isinstance(value, (str, list, dict)) else ""
        text = custom.replace("{found}", _found(value, path, hidden))
        return [at(path, text.replace("{count}", str(count)).replace("{limit}", str(rule)))]

    if keyword == "required":
        missing = [name for name in rule if isinstance(value, dict) and name not in value]
        return [at(path, f"missing required field {json.dumps(name)}") for name in missing]

    found = _found(value, path, hidden)
    expected = schema.get("x-expected")
    if keyword in ("oneOf", "anyOf") and not expected and error.context:
        # Report the branch that got furthest instead of "is not valid under any of".
        from jsonschema.exceptions import best_match

        return _humanize(best_match(error.context), base_path, locate_value, locate_key, hidden)
    if expected and keyword in ("type", "pattern", "oneOf", "anyOf", "format", "minimum", "enum", "minLength"):
        return [at(path, f"expected {expected}; found {found}")]

    message: str
    if keyword == "type":
        types = rule if isinstance(rule, list) else [rule]
        message = f"expected {' or '.join(_TYPE_NAMES.get(str(t), str(t)) for t in types)}; found {found}"
    elif keyword == "enum":
        message = f"expected one of {', '.join(json.dumps(v) for v in rule)}; found {found}"
    elif keyword == "const":
        message = f"expected {json.dumps(rule)}; found {found}"
    elif keyword == "pattern":
        message = f"expected text matching {rule}; found {found}"
    elif keyword in ("minimum", "exclusiveMinimum"):
        sign = ">=" if keyword == "minimum" else ">"
        message = f"expected a number {sign} {rule}; found {found}"
    elif keyword in ("maximum", "exclusiveMaximum"):
        sign = "<=" if keyword == "maximum" else "<"
        message = f"expected a number {sign} {rule}; found {found}"
    elif keyword == "maxLength":
        message = f"{len(value)} characters; at most {rule} allowed"
    elif keyword == "minLength":
        message = "must not be empty" if rule == 1 else (f"{len(value)} characters; at least {rule} required")
    elif keyword == "maxItems":
        message = f"{len(value)} items; at most {rule} allowed"
    elif keyword == "minItems":
        message = f"{len(value)} items; at least {rule} required"
    else:
        message = error.message if path not in hidden else f"invalid value ({keyword})"
    return [at(path, message)]


def document_problems(instance: Any, schema_name: str, limit: int = 5) -> list[str]:
    """Plain ``path: message`` lines for a JSON document (a saved plan) that breaks its schema."""
    problems = []
    for error in sorted(_validator(schema_name).iter_errors(instance), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        problems.append(f"{where}: {error.message}")
        if len(problems) == limit:
            break
    return problems
