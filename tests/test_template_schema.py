"""Every template rule has a passing and a failing example; failures name the broken limit."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.errors import SourceLocation
from reconciler.manifest import schema

CORPUS = sorted((Path(__file__).parent / "data" / "templates").glob("*.yaml"))
URL = "https://shop.example.com/x"
WEB = {"type": "web_url", "url": URL, "title": "Go"}
POSTBACK = {"type": "postback", "title": "Later", "payload": "LATER"}
APP = {"type": "app", "android_url": URL, "ios_url": URL}


def problems(message: object) -> list[str]:
    here = SourceLocation("t.yaml", 1, 1)
    return [
        f"{e.path}: {e.message}"
        for e in schema.validate(message, "template.schema.json", lambda p: here, lambda p: here)
    ]


def generic(*elements: dict, **payload: object) -> dict:
    return {
        "attachment": {
            "type": "template",
            "payload": {"template_type": "generic", "elements": list(elements), **payload},
        }
    }


def element(**fields: object) -> dict:
    return {"title": "Coats", "subtitle": "30% off", **fields}


def buttons_payload(text: str = "Pick one", buttons: list | None = None) -> dict:
    return {
        "attachment": {
            "type": "template",
            "payload": {"template_type": "button", "text": text, "buttons": buttons or [WEB]},
        }
    }


def media(*elements: dict) -> dict:
    return {"attachment": {"type": "template", "payload": {"template_type": "media", "elements": list(elements)}}}


def coupon(**fields: object) -> dict:
    base = {"template_type": "coupon", "title": "20% off", "coupon_code": "SAVE20", "coupon_url": URL}
    return {"attachment": {"type": "template", "payload": {**base, **fields}}}


def quick(*replies: dict, **message: object) -> dict:
    return {"text": "Hi", **message, "quick_replies": list(replies)}


def text_reply(**fields: object) -> dict:
    return {"content_type": "text", "title": "Yes", "payload": "YES", **fields}


def images(count: int, heroes: int = 0) -> list[dict]:
    return [{"url": f"{URL}/{i}.jpg", **({"is_hero_image": "true"} if i < heroes else {})} for i in range(count)]


E = "attachment.payload.elements"
CASES = [
    # text messages
    (
        "text at most 640",
        {"text": "x" * 640},
        {"text": "x" * 641},
        "text: text is 641 characters; Messenger allows at most 640",
    ),
    (
        "text or attachment",
        {"text": "Hi"},
        {"quick_replies": [text_reply()]},
        ": a message needs text or an attachment (quick replies alone are not a message)",
    ),
    (
        "not both",
        {"text": "Hi"},
        {"text": "Hi", **generic(element())},
        ": a message has text or an attachment, not both",
    ),
    (
        "no unknown message fields",
        {"text": "Hi"},
        {"text": "Hi", "tag": "x"},
        'tag: unknown field "tag"; expected one of: attachment, metadata, quick_replies, text',
    ),
    (
        "attachment is a template",
        generic(element()),
        {"attachment": {"type": "image", "payload": {"template_type": "generic", "elements": [element()]}}},
        'attachment.type: attachment.type must be "template" for marketing messages (images and videos go in the media '
        'template); found "image"',
    ),
    (
        "known template types",
        generic(element()),
        {"attachment": {"type": "template", "payload": {"template_type": "list"}}},
        'attachment.payload.template_type: template_type "list" is not a marketing-message template; use generic, button, '
        "media, coupon, receipt or product",
    ),
    # generic template
    (
        "carousel of at most 10",
        generic(*[element()] * 10),
        generic(*[element()] * 11),
        f"{E}: 11 elements; a carousel has at most 10",
    ),
    (
        "title at most 80",
        generic(element(title="t" * 80)),
        generic(element(title="t" * 81)),
        f"{E}[0].title: 81 characters; Messenger allows at most 80",
    ),
    (
        "subtitle at most 80",
        generic(element(subtitle="s" * 80)),
        generic(element(subtitle="s" * 81)),
        f"{E}[0].subtitle: 81 characters; Messenger allows at most 80",
    ),
    (
        "at most 3 buttons per element",
        generic(element(buttons=[WEB, POSTBACK, APP])),
        generic(element(buttons=[WEB, POSTBACK, APP, WEB])),
        f"{E}[0].buttons: 4 buttons; Messenger allows at most 3 per element",
    ),
    (
        "default_action has no title",
        generic(element(default_action={"type": "web_url", "url": URL})),
        generic(element(default_action={"type": "web_url", "url": URL, "title": "Go"})),
        f'{E}[0].default_action.title: unknown field "title"; expected one of: fallback_url, messenger_extensions, type, '
        "url, webview_height_ratio, webview_share_button",
    ),
    (
        "default_action is a URL action",
        generic(element(default_action={"type": "web_url", "url": URL})),
        generic(element(default_action={"type": "postback", "url": URL})),
        f'{E}[0].default_action.type: default_action.type must be "web_url"; found "postback"',
    ),
    (
        "an element needs more than a title",
        generic({"title": "T", "image_url": URL}),
        generic({"title": "T"}),
        f"{E}[0]: an element needs at least one property besides its title (subtitle, image_url, image_urls, video_id, "
        "default_action or buttons)",
    ),
    (
        "greeting with macros",
        generic(element(), text="Hi {{first_name}}"),
        generic(element(), text="x" * 641),
        "attachment.payload.text: the greeting is 641 characters; mmctl allows at most 640 (the limit of a text message)",
    ),
    # image grids
    (
        "grid of at most 6",
        generic(element(image_urls=images(6))),
        generic(element(image_urls=images(7))),
        f"{E}[0].image_urls: 7 images; an image grid has at most 6",
    ),
    (
        "grid of at least 2",
        generic(element(image_urls=images(2))),
        generic(element(image_urls=images(1))),
        f"{E}[0].image_urls: 1 image; an image grid has 2 to 6 (use image_url for one image)",
    ),
    (
        "at most one hero",
        generic(element(image_urls=images(3, heroes=1))),
        generic(element(image_urls=images(3, heroes=2))),
        f"{E}[0].image_urls: more than one image is marked is_hero_image; a grid has at most one hero image",
    ),
    (
        "grid or image_url",
        generic(element(image_urls=images(2))),
        generic(element(image_urls=images(2), image_url=URL)),
        f"{E}[0]: image_url and image_urls cannot be used together; use one of them",
    ),
    (
        "no grid in a carousel",
        generic(element(image_urls=images(2))),
        generic(element(image_urls=images(2)), element()),
        f"{E}[0]: image_urls (an image grid) is not allowed in a carousel of several elements; use image_url, or send the "
        "grid as a single element",
    ),
    # video elements
    (
        "video needs video_id",
        generic(element(media_type="video", video_id="1")),
        generic(element(media_type="video")),
        f"{E}[0]: a video element (media_type: video) needs a video_id",
    ),
    (
        "video_id needs media_type video",
        generic(element(media_type="video", video_id="1")),
        generic(element(video_id="1")),
        f"{E}[0]: an element with video_id needs media_type: video",
    ),
    (
        "no postback with video",
        generic(element(media_type="video", video_id="1", buttons=[WEB])),
        generic(element(media_type="video", video_id="1", buttons=[WEB, POSTBACK])),
        f"{E}[0].buttons[1].type: postback buttons cannot be used with a video; use a web_url or app button",
    ),
    # media template
    (
        "media has one element",
        media({"media_type": "image", "attachment_id": "1"}),
        media({"media_type": "image", "attachment_id": "1"}, {"media_type": "image", "attachment_id": "2"}),
        f"{E}: 2 elements; the media template has exactly one",
    ),
    (
        "media is image or video",
        media({"media_type": "video", "attachment_id": "1"}),
        media({"media_type": "audio", "attachment_id": "1"}),
        f'{E}[0].media_type: expected one of "image", "video"; found "audio"',
    ),
    (
        "media url or attachment_id",
        media({"media_type": "image", "url": "https://www.facebook.com/photo/1"}),
        media({"media_type": "image", "url": "https://www.facebook.com/photo/1", "attachment_id": "1"}),
        f"{E}[0]: a media element has either url or attachment_id (exactly one)",
    ),
    (
        "media url is a Facebook URL",
        media({"media_type": "image", "url": "https://www.facebook.com/photo/1"}),
        media({"media_type": "image", "url": "https://cdn.example.com/1.jpg"}),
        f"{E}[0].url: expected an https:// URL on facebook.com (upload other files and use attachment_id); found "
        '"https://cdn.example.com/1.jpg"',
    ),
    (
        "no postback with media video",
        media({"media_type": "video", "attachment_id": "1", "buttons": [WEB]}),
        media({"media_type": "video", "attachment_id": "1", "buttons": [POSTBACK]}),
        f"{E}[0].buttons[0].type: postback buttons cannot be used with a video; use a web_url or app button",
    ),
    # coupon / limited-time offer
    (
        "coupon needs its fields",
        coupon(),
        {"attachment": {"type": "template", "payload": {"template_type": "coupon", "title": "T", "coupon_url": URL}}},
        'attachment.payload: missing required field "coupon_code"',
    ),
    (
        "coupon code has no spaces",
        coupon(coupon_code="SAVE20"),
        coupon(coupon_code="SAVE 20"),
        'attachment.payload.coupon_code: expected a coupon code without spaces; found "SAVE 20"',
    ),
    (
        "coupon expire_time form",
        coupon(expire_time="2026-12-24 23:59:00"),
        coupon(expire_time="24/12/2026"),
        'attachment.payload.expire_time: expected a time written as "YYYY-MM-DD HH:MM:SS", e.g. "2026-12-24 23:59:00"; '
        'found "24/12/2026"',
    ),
    (
        "coupon pre-message with macros",
        coupon(coupon_pre_message="Hi {{first_name}}"),
        coupon(coupon_pre_message="Hi {{city}}"),
        'attachment.payload.coupon_pre_message: unknown personalization macro in "Hi {{city}}"; only {{first_name}}, '
        "{{last_name}} and {{full_name}} are available",
    ),
    (
        "coupon URL is https",
        coupon(coupon_url=URL),
        coupon(coupon_url="http://shop.example.com"),
        'attachment.payload.coupon_url: expected an https:// URL; found "http://shop.example.com"',
    ),
    # button template
    (
        "button template text at most 640",
        buttons_payload(text="x" * 640),
        buttons_payload(text="x" * 641),
        "attachment.payload.text: text is 641 characters; Messenger allows at most 640",
    ),
    (
        "button template has 1 to 3 buttons",
        buttons_payload(buttons=[WEB, POSTBACK, APP]),
        buttons_payload(buttons=[WEB, WEB, WEB, WEB]),
        "attachment.payload.buttons: 4 buttons; the button template has at most 3",
    ),
    (
        "button template needs buttons",
        buttons_payload(),
        {"attachment": {"type": "template", "payload": {"template_type": "button", "text": "Hi", "buttons": []}}},
        "attachment.payload.buttons: the button template needs 1 to 3 buttons",
    ),
    # quick replies
    (
        "at most 13 quick replies",
        quick(*[text_reply()] * 13),
        quick(*[text_reply()] * 14),
        "quick_replies: 14 quick replies; Messenger allows at most 13",
    ),
    (
        "quick reply content types",
        quick({"content_type": "user_email"}),
        quick({"content_type": "location"}),
        'quick_replies[0].content_type: quick reply content_type must be text, user_phone_number or user_email; found "location"',
    ),
    (
        "quick reply title at most 20",
        quick(text_reply(title="t" * 20)),
        quick(text_reply(title="t" * 21)),
        "quick_replies[0].title: quick reply title is 21 characters; Messenger allows at most 20",
    ),
    (
        "quick reply payload at most 1000",
        quick(text_reply(payload="p" * 1000)),
        quick(text_reply(payload="p" * 1001)),
        "quick_replies[0].payload: payload is 1001 characters; Messenger allows at most 1000",
    ),
    (
        "text quick reply needs a title",
        quick(text_reply()),
        quick({"content_type": "text", "payload": "X"}),
        'quick_replies[0]: missing required field "title"',
    ),
    (
        "empty payload needs an image",
        quick(text_reply(payload="", image_url=URL)),
        quick(text_reply(payload="")),
        "quick_replies[0]: a quick reply with an empty payload needs an image_url",
    ),
    (
        "email quick reply has no title",
        quick({"content_type": "user_email"}),
        quick({"content_type": "user_email", "title": "Mail"}),
        'quick_replies[0].title: unknown field "title"; expected one of: content_type',
    ),
    (
        "quick replies beside an attachment",
        {**generic(element()), "quick_replies": [text_reply()]},
        {"quick_replies": [text_reply()]},
        ": a message needs text or an attachment (quick replies alone are not a message)",
    ),
    # receipt and product
    (
        "receipt needs a summary",
        {
            "attachment": {
                "type": "template",
                "payload": yaml.safe_load((CORPUS[0].parent / "receipt.yaml").read_text())["attachment"]["payload"],
            }
        },
        {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "receipt",
                    "recipient_name": "A",
                    "order_number": "1",
                    "currency": "USD",
                    "payment_method": "Visa",
                },
            }
        },
        'attachment.payload: missing required field "summary"',
    ),
    (
        "product template at most 10",
        {"attachment": {"type": "template", "payload": {"template_type": "product", "elements": [{"id": "1"}] * 10}}},
        {"attachment": {"type": "template", "payload": {"template_type": "product", "elements": [{"id": "1"}] * 11}}},
        f"{E}: 11 products; the product template has at most 10",
    ),
    # buttons
    (
        "only marketing button types",
        generic(element(buttons=[WEB])),
        generic(element(buttons=[{"type": "phone_number", "title": "Call", "payload": "+16505551234"}])),
        f'{E}[0].buttons[0].type: button type "phone_number" is not supported in marketing messages; use web_url, postback or app',
    ),
    (
        "web_url is https",
        generic(element(buttons=[WEB])),
        generic(element(buttons=[{**WEB, "url": "http://shop.example.com"}])),
        f'{E}[0].buttons[0].url: expected an https:// URL; found "http://shop.example.com"',
    ),
    (
        "default_action is https",
        generic(element(default_action={"type": "web_url", "url": URL})),
        generic(element(default_action={"type": "web_url", "url": "http://shop.example.com"})),
        f'{E}[0].default_action.url: expected an https:// URL; found "http://shop.example.com"',
    ),
    (
        "app URLs are https",
        generic(element(buttons=[APP])),
        generic(element(buttons=[{**APP, "ios_url": "myapp://coats"}])),
        f'{E}[0].buttons[0].ios_url: expected an https:// URL; found "myapp://coats"',
    ),
    (
        "app button needs a URL",
        generic(element(buttons=[{"type": "app", "ios_url": URL}])),
        generic(element(buttons=[{"type": "app", "title": "Open"}])),
        f"{E}[0].buttons[0]: an app button needs android_url, ios_url or both",
    ),
    (
        "button title at most 20",
        generic(element(buttons=[{**WEB, "title": "t" * 20}])),
        generic(element(buttons=[{**WEB, "title": "t" * 21}])),
        f"{E}[0].buttons[0].title: button title is 21 characters; Messenger allows at most 20",
    ),
    (
        "postback title at most 20",
        generic(element(buttons=[{**POSTBACK, "title": "t" * 20}])),
        generic(element(buttons=[{**POSTBACK, "title": "t" * 21}])),
        f"{E}[0].buttons[0].title: button title is 21 characters; Messenger allows at most 20",
    ),
    (
        "postback payload at most 1000",
        generic(element(buttons=[{**POSTBACK, "payload": "p" * 1000}])),
        generic(element(buttons=[{**POSTBACK, "payload": "p" * 1001}])),
        f"{E}[0].buttons[0].payload: payload is 1001 characters; Messenger allows at most 1000",
    ),
    (
        "postback needs a payload",
        generic(element(buttons=[POSTBACK])),
        generic(element(buttons=[{"type": "postback", "title": "P"}])),
        f'{E}[0].buttons[0]: missing required field "payload"',
    ),
    (
        "webview heights",
        generic(element(buttons=[{**WEB, "webview_height_ratio": "full"}])),
        generic(element(buttons=[{**WEB, "webview_height_ratio": "half"}])),
        f'{E}[0].buttons[0].webview_height_ratio: webview_height_ratio must be compact, tall or full; found "half"',
    ),
    (
        "fallback_url needs extensions",
        generic(element(buttons=[{**WEB, "messenger_extensions": True, "fallback_url": URL}])),
        generic(element(buttons=[{**WEB, "fallback_url": URL}])),
        f"{E}[0].buttons[0]: fallback_url works only with messenger_extensions: true",
    ),
    (
        "fallback_url needs extensions true",
        generic(
            element(default_action={"type": "web_url", "url": URL, "messenger_extensions": True, "fallback_url": URL})
        ),
        generic(
            element(default_action={"type": "web_url", "url": URL, "messenger_extensions": False, "fallback_url": URL})
        ),
        f"{E}[0].default_action.messenger_extensions: fallback_url works only with messenger_extensions: true",
    ),
    # personalization macros
    (
        "macros in titles",
        generic(element(title="Hi {{last_name}}")),
        generic(element(title="Hi {{nickname}}")),
        f'{E}[0].title: unknown personalization macro in "Hi {{{{nickname}}}}"; only {{{{first_name}}}}, {{{{last_name}}}} and '
        "{{full_name}} are available",
    ),
    (
        "no macros in buttons",
        generic(element(buttons=[WEB])),
        generic(element(buttons=[{**WEB, "title": "Hi {{first_name}}"}])),
        f"{E}[0].buttons[0].title: personalization macros such as {{{{first_name}}}} work only in titles, subtitles, the "
        'greeting and the coupon pre-message; found "Hi {{first_name}}"',
    ),
    (
        "no macros in plain text",
        {"text": "Hi there"},
        {"text": "Hi {{first_name}}"},
        "text: personalization macros such as {{first_name}} work only in titles, subtitles, the greeting and the coupon "
        'pre-message; found "Hi {{first_name}}"',
    ),
    (
        "no macros in button URLs",
        generic(element(buttons=[WEB])),
        generic(element(buttons=[{**WEB, "url": URL + "?n={{first_name}}"}])),
        f'{E}[0].buttons[0].url: expected an https:// URL; found "{URL}?n={{{{first_name}}}}"',
    ),
]


@pytest.mark.parametrize(("rule", "good", "bad", "error"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_passes_and_fails_with_a_message_naming_the_limit(rule, good, bad, error):
    assert problems(good) == []
    assert problems(bad) == [error]


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_the_corpus_of_realistic_payloads_validates(path):
    assert problems(yaml.safe_load(path.read_text())) == []


def test_the_corpus_covers_every_template_kind_with_and_without_quick_replies():
    messages = [yaml.safe_load(p.read_text()) for p in CORPUS]
    kinds = {m["attachment"]["payload"]["template_type"] for m in messages if "attachment" in m}
    assert kinds == {"generic", "button", "media", "coupon", "receipt", "product"}
    assert any("quick_replies" in m and "attachment" in m for m in messages)
    assert any("quick_replies" in m and "text" in m for m in messages)
    assert any("quick_replies" not in m for m in messages)


def test_template_errors_point_at_the_yaml_line(with_provider):
    replies = "".join(f"        - {{content_type: text, title: R{i}, payload: P{i}}}\n" for i in range(14))
    with_provider.write(
        "t.yaml", "templates:\n  winter:\n    message:\n      text: Hi\n      quick_replies:\n" + replies
    )
    assert with_provider.errors() == [
        "t.yaml:6:9: templates.winter.message.quick_replies: 14 quick replies; Messenger allows at most 13"
    ]


# --- what Meta documents is accepted (issue: accept what Meta accepts) ------------------------------


@pytest.mark.parametrize(
    "message",
    [
        generic(element(), sharable=True, image_aspect_ratio="square"),
        buttons_payload() | {"metadata": "campaign=winter"},
        {
            "attachment": {
                "type": "template",
                "payload": {"template_type": "button", "text": "Pick", "buttons": [WEB], "sharable": False},
            }
        },
        {"text": "Hi", "metadata": "x" * 1000},
        generic(element(image_url="http://shop.example.com/coats.jpg")),  # Meta accepts http:// for images
        {
            "text": "Pick",
            "quick_replies": [
                {"content_type": "text", "title": "A", "payload": "A", "image_url": "http://shop.example.com/a.png"}
            ],
        },
    ],
    ids=["generic sharable", "metadata", "button sharable", "metadata 1000", "http image", "http quick reply image"],
)
def test_fields_meta_documents_are_accepted(message):
    assert problems(message) == []


def test_buttons_and_default_actions_stay_https_only():
    plain = "http://shop.example.com/x"
    assert problems(generic(element(buttons=[{**WEB, "url": plain}]))) == [
        f'attachment.payload.elements[0].buttons[0].url: expected an https:// URL; found "{plain}"'
    ]
    assert problems(generic(element(default_action={"type": "web_url", "url": plain}))) == [
        f'attachment.payload.elements[0].default_action.url: expected an https:// URL; found "{plain}"'
    ]
    assert problems({"text": "Hi", "metadata": "x" * 1001}) == [
        "metadata: metadata is 1001 characters; Messenger allows at most 1000"
    ]


def test_plain_http_urls_meta_accepts_are_warnings_and_strict_makes_them_errors(with_provider):
    with_provider.write(
        "t.yaml",
        """\
        templates:
          receipt:
            message:
              attachment:
                type: template
                payload:
                  template_type: generic
                  elements:
                    - title: Coats
                      image_url: http://shop.example.com/coats.jpg
                      buttons: [{type: web_url, url: "https://shop.example.com/c", title: Shop}]
        """,
    )
    project = with_provider.load()
    assert [str(w) for w in project.warnings] == [
        "t.yaml:10:26: templates.receipt.message.attachment.payload.elements[0].image_url: image_url uses plain "
        "http://; Meta accepts it here, but it is fetched or opened without encryption; use https://"
    ]
    from reconciler.errors import ManifestErrors
    from reconciler.manifest import project as manifest

    with pytest.raises(ManifestErrors) as strict:
        manifest.load_project([str(with_provider.root)], env={}, strict=True)
    assert [str(e) for e in strict.value.errors] == [str(w) for w in project.warnings]
