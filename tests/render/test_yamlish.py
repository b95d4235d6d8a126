"""Payloads as block YAML and their review diff (render/yamlish.py): what a reviewer reads must be
what YAML reads back."""

from __future__ import annotations

import yaml
from hypothesis import given
from hypothesis import strategies as st

from reconciler.render.yamlish import change_diff, scalar, split_path, yaml_lines

MESSAGE = {
    "attachment": {
        "type": "template",
        "payload": {
            "template_type": "generic",
            "text": "Hi {{first_name}}, our sale starts today!",
            "elements": [
                {
                    "title": "Warm coats, 30% off",
                    "image_url": "https://shop.example.com/img/coats.jpg",
                    "buttons": [{"type": "postback", "title": "Not now", "payload": "NOT_NOW"}],
                }
            ],
        },
    },
    "quick_replies": [],
}


def test_a_message_is_written_as_block_yaml_that_reads_back_the_same():
    lines = yaml_lines(MESSAGE)
    assert lines == [
        "attachment:",
        "  type: template",
        "  payload:",
        "    template_type: generic",
        "    text: Hi {{first_name}}, our sale starts today!",
        "    elements:",
        "      - title: Warm coats, 30% off",
        "        image_url: https://shop.example.com/img/coats.jpg",
        "        buttons:",
        "          - type: postback",
        "            title: Not now",
        "            payload: NOT_NOW",
        "quick_replies: []",
    ]
    assert yaml.safe_load("\n".join(lines)) == MESSAGE


@given(st.text(min_size=0, max_size=30))
def test_every_string_reads_back_as_itself(text):
    assert yaml.safe_load(f"key: {scalar(text)}") == {"key": text}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(min_size=1, max_size=5), JSON, min_size=1, max_size=3))
def test_every_payload_reads_back_as_itself(value):
    assert yaml.safe_load("\n".join(yaml_lines(value))) == value


def test_words_yaml_would_read_as_something_else_are_quoted():
    assert [
        scalar(v) for v in ("yes", "No", "null", "12", "1.5", "- x", "a: b", "a #b", " x", "ok", 7, True, None)
    ] == [
        '"yes"',
        '"No"',
        '"null"',
        '"12"',
        '"1.5"',
        '"- x"',
        '"a: b"',
        '"a #b"',
        '" x"',
        "ok",
        "7",
        "true",
        "null",
    ]


def test_paths_split_at_their_last_key_or_index():
    assert split_path("message.quick_replies[2]") == ("message.quick_replies", 2)
    assert split_path("message.attachment.payload") == ("message.attachment", "payload")
    assert split_path("message") == ("", "message")


def test_changes_group_under_their_parent_with_minus_before_and_plus_after():
    diff = change_diff(
        [
            ("message.attachment.payload.elements[0].buttons", [{"type": "postback", "title": "Not now"}], None),
            ("message.attachment.payload.elements[0].title", "Warm coats, 30% off", "Warm coats, 40% off"),
            ("message.quick_replies[2]", None, {"content_type": "text", "title": "Later"}),
        ]
    )
    assert diff == [
        (" ", "message.attachment.payload.elements[0]:"),
        ("-", "  buttons:"),
        ("-", "    - type: postback"),
        ("-", "      title: Not now"),
        ("-", "  title: Warm coats, 30% off"),
        ("+", "  title: Warm coats, 40% off"),
        (" ", "message.quick_replies:"),
        ("+", "  - content_type: text  # [2]"),
        ("+", "    title: Later"),
    ]
