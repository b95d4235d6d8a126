"""Template links: parsed, and refused where they could mislead a reviewer or a customer."""

from __future__ import annotations

import pytest

from reconciler import urls
from reconciler.render.plan import plan_text


@pytest.mark.parametrize(
    ("url", "button", "words"),
    [
        ("https://shop.example@evil.test/", True, "has a user name before '@'"),
        ("https://shop.example/\u202egnp.exe", True, "bidirectional or invisible formatting character (U+202E)"),
        ("https://shop.example/a\x07", False, "control character (U+0007) at the end"),
        ("https://shop.example/sale\n", True, "control character (U+000A) at the end"),
        ("https://shop.example/a b", False, "has whitespace at position 23"),
        ("https:///path-only", True, "has no host"),
        ("https://shop.example:99999/", True, "can be parsed (a bad port"),
        ("https://127.0.0.1/admin", True, "loopback, private-network or local host"),
        ("https://10.1.2.3/", True, "loopback, private-network or local host"),
        ("https://[::1]/", True, "loopback, private-network or local host"),
        ("https://localhost:8080/", True, "loopback, private-network or local host"),
        ("https://router.local/", True, "loopback, private-network or local host"),
        ("https://intranet/", True, "loopback, private-network or local host"),
    ],
)
def test_misleading_urls_are_refused(url, button, words):
    refused, _ = urls.judge(url, button)
    assert refused is not None and words in refused


def test_private_hosts_are_allowed_outside_buttons_and_good_urls_pass():
    assert urls.judge("https://10.1.2.3/image.png", False) == (None, None)
    assert urls.judge("https://shop.example/winter?utm=mm", True) == (None, None)
    assert urls.judge("https://bücher.example/", True) == (None, None)


def test_hosts_mixing_scripts_are_a_warning():
    refused, warning = urls.judge("https://\u0440aypal.example/", True)  # a Cyrillic "р"
    assert refused is None and "mixes Cyrillic and Latin letters" in warning
    _, punycode = urls.judge("https://xn--aypal-uye.example/", True)
    assert punycode is not None and "mixes" in punycode


TEMPLATE = """\
templates:
  t:
    message:
      attachment:
        type: template
        payload:
          template_type: button
          text: Hello
          buttons:
            - {type: web_url, url: "%s", title: Shop}
"""


def test_validate_refuses_a_button_to_userinfo_and_a_trailing_newline(with_provider):
    with_provider.write("t.yaml", TEMPLATE % "https://shop.example@evil.test/")
    (error,) = with_provider.errors()
    assert error.startswith("t.yaml:10:36: templates.t.message.attachment.payload.buttons[0].url: url has a user name")
    # The schema's pattern lets a trailing newline through ($ matches before it); the parser does not.
    with_provider.write("t.yaml", TEMPLATE % "https://shop.example/\\n")
    (error,) = with_provider.errors()
    assert "control character (U+000A) at the end" in error


def test_mixed_scripts_are_a_warning_in_validate(with_provider):
    with_provider.write("t.yaml", TEMPLATE % "https://\u0440aypal.example/")
    [warning] = with_provider.load().warnings
    assert "mixes Cyrillic and Latin letters" in str(warning)


def test_a_new_template_in_a_plan_shows_where_its_links_lead(example):
    from reconciler.core import desired, planner
    from reconciler.manifest import project as manifest
    from reconciler.resources import Account
    from reconciler.state.model import State

    account = Account("act_100000000000001", "USD", "UTC", "x")
    project = manifest.load_project(["."], env={})
    made = planner.make_plan(
        desired.desired_state(project, account),
        State.empty(),
        [],
        account="act_100000000000001",
        graph="sandbox",
        currency="USD",
        now=1_800_000_000,
    )
    text = plan_text(made)
    assert "# link message.attachment.payload.elements[0].buttons[0].url: https://shop.example.com/winter/coats" in text
    assert "# link message.attachment.payload.elements[0].image_url: https://shop.example.com/img/coats.jpg" in text
