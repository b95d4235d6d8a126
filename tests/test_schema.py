from __future__ import annotations

import json

import jsonschema
import pytest
from helpers import EXAMPLES, REPO

from reconciler.manifest import schema
from reconciler.manifest.schema import SCHEMA_FILES


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schemas_are_valid_draft_2020_12(name):
    loaded = schema.load_schema(name)
    assert loaded["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(loaded)


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_the_packaged_schemas_are_the_repository_ones(name):
    assert schema.load_schema(name) == json.loads((REPO / "schemas" / name).read_text())


def test_every_example_manifest_names_the_schema_for_editors():
    for path in EXAMPLES.glob("*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=../schemas/manifest.schema.json\n"), path


def test_the_readme_shows_the_editor_line():
    assert "# yaml-language-server: $schema=" in (REPO / "README.md").read_text()


def test_describe_value_names_values_in_plain_words():
    assert schema.describe_value(None) == "nothing (null)"
    assert schema.describe_value("x" * 70) == '"' + "x" * 57 + '..."'
    assert schema.describe_value({"a": 1}) == "a mapping"
    assert schema.describe_value([1]) == "a list of 1 item"
