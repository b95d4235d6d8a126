"""Random and mutated input: nothing but mmctl's own error type may ever escape the loader."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from helpers import EXAMPLES, PROVIDER
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import ManifestErrors
from reconciler.manifest import project as manifest
from reconciler.manifest.yamlio import parse_bytes, parse_text
from reconciler.model import Project

pytestmark = pytest.mark.slow

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = {path.name: path.read_text() for path in sorted(EXAMPLES.glob("*.yaml"))}
YAML_CHARS = st.sampled_from(list(":-[]{}&*!|>'\"#%@`,?\n\t ") + ["<<", "---", "...", "${env:X}", "~", "0x", "null"])
KEYS = [
    "provider",
    "state",
    "templates",
    "audiences",
    "campaigns",
    "name",
    "daily_budget",
    "lifetime_budget",
    "start_time",
    "end_time",
    "pixel_id",
    "status",
    "template",
    "audience",
    "protect",
    "members",
    "file",
    "message",
    "text",
    "graph",
    "ad_account",
    "page_id",
    "timezone",
    "path",
    "hashed",
    "x",
]


def load_text(files: dict[str, str | bytes]) -> Project | None:
    with tempfile.TemporaryDirectory() as folder:
        for name, content in files.items():
            path = Path(folder) / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8", errors="surrogatepass")
        try:
            return manifest.load_project([folder], env={"X": "1"})
        except ManifestErrors as exc:
            assert exc.errors, "an error report is never empty"
            for error in exc.errors:
                assert str(error)
            return None


@FUZZ
@given(st.text())
def test_random_text_never_escapes(text):
    try:
        parse_text(text, "f.yaml")
    except ManifestErrors:
        pass


@FUZZ
@given(st.binary())
def test_random_bytes_never_escape(raw):
    try:
        parse_bytes(raw, "f.yaml")
    except ManifestErrors:
        pass


@st.composite
def mutated_example(draw):
    name = draw(st.sampled_from(sorted(SEEDS)))
    text = SEEDS[name]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "duplicate-line", "swap-lines"]))
        at = draw(st.integers(0, len(text)))
        if kind == "insert":
            text = text[:at] + "".join(draw(st.lists(YAML_CHARS, min_size=1, max_size=4))) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        else:
            lines = text.splitlines(keepends=True)
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if kind == "duplicate-line":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "".join(lines)
    return name, text


@FUZZ
@given(mutated_example())
def test_mutated_examples_never_escape(case):
    name, text = case
    files: dict[str, str | bytes] = dict(SEEDS)
    files[name] = text
    load_text(files)


scalars = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=True) | st.text(max_size=30)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS[:5]), documents, min_size=1, max_size=5))
def test_random_manifest_shapes_never_escape(data):
    load_text({"provider.yaml": PROVIDER, "random.yaml": yaml.safe_dump(data, allow_unicode=True)})
