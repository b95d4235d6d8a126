from __future__ import annotations

from pathlib import Path

import pytest
from helpers import EXAMPLES, PROVIDER

from reconciler.errors import ManifestErrors
from reconciler.manifest import project as manifest
from reconciler.model import Campaign


def test_examples_load_into_the_model(monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)
    project = manifest.load_project(["examples"], env={})
    assert project.root == EXAMPLES
    assert project.provider.ad_account == "act_100000000000001"
    assert project.provider.graph == "sandbox"
    assert project.state_path == EXAMPLES / ".mmctl" / "state.db"
    assert project.state.backend == "sqlite" and project.state.key == "act_100000000000001"
    assert sorted(project.templates) == ["spring-preview", "winter-carousel"]
    assert project.audiences["vip"].members.file == EXAMPLES / "data" / "vip.csv"
    winter = project.campaigns["winter-sale"]
    assert winter.address == "campaign.winter-sale"
    assert winter.daily_budget == "50.00 USD" and winter.protect is True
    assert winter.fields_set == frozenset(
        {"name", "daily_budget", "end_time", "status", "template", "audience", "protect"}
    )
    assert project.files == (
        "examples/audiences.yaml",
        "examples/campaigns.yaml",
        "examples/mmctl.yaml",
        "examples/sends.yaml",
        "examples/templates.yaml",
        "examples/unsubscribes.yaml",
    )
    assert project.unsubscribes is not None and project.unsubscribes.file == EXAMPLES / "data" / "optouts.csv"
    first = project.sends["winter-first-wave"]
    assert (first.campaign, first.template, first.audiences) == ("winter-sale", "winter-carousel", ("vip",))
    assert first.min_conversation_gap_seconds == 3600 and first.address == "send.winter-first-wave"


def test_files_merge_and_env_interpolates(with_provider):
    with_provider.write("t.yaml", "templates:\n  hi:\n    message: {text: 'Hi $${literal}'}\n")
    with_provider.write("c/c.yaml", "campaigns:\n  a:\n    name: ${env:PREFIX} sale\n    template: hi\n")
    with_provider.write("s.yaml", "audiences:\n  vip: {name: V}\nsends:\n  s1: {campaign: a, audience: vip}\n")
    project = with_provider.load(env={"PREFIX": "Winter"})
    assert project.campaigns["a"] == Campaign(
        key="a",
        name="Winter sale",
        template="hi",
        location=project.campaigns["a"].location,
        fields_set=frozenset({"name", "template"}),
    )
    assert str(project.campaigns["a"].location) == "c/c.yaml:2:3"
    assert project.templates["hi"].message["text"] == "Hi ${literal}"


def test_hidden_folders_and_other_suffixes_are_not_read(with_provider):
    with_provider.write(".github/workflows/ci.yml", "on: push\njobs: {}\n")
    with_provider.write("notes.txt", "not yaml: [")
    assert with_provider.load().files == ("provider.yaml",)


def test_unknown_fields_name_the_field_and_suggest(with_provider):
    with_provider.write("c.yaml", "campaigns:\n  a:\n    name: A\n    dailybudget: 5\n")
    assert with_provider.errors() == [
        'c.yaml:4:5: campaigns.a.dailybudget: unknown field "dailybudget" (did you mean "daily_budget"?); '
        "expected one of: audience, daily_budget, end_time, lifetime_budget, name, pixel_id, protect, "
        "start_time, status, template"
    ]


def test_unknown_top_level_keys_are_errors(with_provider):
    with_provider.write("c.yaml", "campaign:\n  a: {name: A}\n")
    assert with_provider.errors() == [
        'c.yaml:1:1: campaign: unknown field "campaign" (did you mean "campaigns"?); '
        "expected one of: audiences, campaigns, provider, sends, state, templates, unsubscribes"
    ]


@pytest.mark.parametrize(
    ("field", "written", "message"),
    [
        ("status", "RUNNING", 'expected one of "ACTIVE", "PAUSED"; found "RUNNING"'),
        (
            "pixel_id",
            "300000000000001",
            'expected an id written as a quoted string of digits, e.g. "200000000000001"; '
            "found the number 300000000000001",
        ),
        (
            "pixel_id",
            "'pixel-1'",
            'expected an id written as a quoted string of digits, e.g. "200000000000001"; found "pixel-1"',
        ),
        (
            "daily_budget",
            "0",
            "expected an amount greater than 0: an integer in minor units (5000 = 50.00 USD) or "
            'a string like "50.00 USD"; found the number 0',
        ),
        (
            "daily_budget",
            "'50 dollars'",
            "expected an amount greater than 0: an integer in minor units (5000 = 50.00 "
            'USD) or a string like "50.00 USD"; found "50 dollars"',
        ),
        ("protect", "maybe", 'expected true or false; found "maybe"'),
        ("name", "[a, b]", "expected text; found a list of 2 items"),
        ("name", "''", "must not be empty"),
        (
            "template",
            "NO",
            "expected a name of letters, digits, '-' and '_' (starting with a letter or digit, at most "
            "64 characters); found the boolean false (YAML reads unquoted yes/no/on/off/true/false as a boolean; quote "
            "it to make it text)",
        ),
    ],
)
def test_wrong_types_say_what_was_expected_and_found(with_provider, field, written, message):
    extra = "" if field == "name" else "    name: A\n"
    with_provider.write("c.yaml", f"campaigns:\n  a:\n{extra}    {field}: {written}\n")
    errors = with_provider.errors()
    line = 3 if field == "name" else 4
    column = len(field) + 7  # four spaces, the field, ': '
    assert errors == [f"c.yaml:{line}:{column}: campaigns.a.{field}: {message}"]


def test_invalid_resource_names_are_errors(with_provider):
    with_provider.write("c.yaml", "campaigns:\n  winter.sale: {name: A}\n")
    assert with_provider.errors() == [
        'c.yaml:2:3: campaigns.winter.sale: invalid name "winter.sale"; expected a name of letters, digits, '
        "'-' and '_' (starting with a letter or digit, at most 64 characters)"
    ]


def test_missing_required_fields(project):
    project.write("p.yaml", "provider:\n  ad_account: act_1\ncampaigns:\n  a: {status: PAUSED}\n")
    assert project.errors() == [
        'p.yaml:2:3: provider: missing required field "page_id"',
        'p.yaml:4:6: campaigns.a: missing required field "name"',
    ]


def test_provider_fields_are_checked(project):
    project.write(
        "p.yaml",
        """\
        provider:
          graph: http://graph.example.com
          api_version: "24"
          ad_account: "100000000000001"
          page_id: "200000000000001"
          timezone: Mars/Olympus
        """,
    )
    assert project.errors() == [
        "p.yaml:2:10: provider.graph: plain http is allowed only for loopback addresses; use "
        "https://graph.example.com (access tokens must never cross a network unencrypted)",
        'p.yaml:3:16: provider.api_version: expected a Graph API version such as v24.0; found "24"',
        "p.yaml:4:15: provider.ad_account: expected an ad account id: act_ followed by digits, e.g. "
        'act_100000000000001; found "100000000000001"',
        "p.yaml:6:13: provider.timezone: unknown time zone 'Mars/Olympus'; expected an IANA name such as "
        "America/New_York",
    ]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:9", "http://[::1]:80", "https://graph.facebook.com"]
)
def test_plain_http_is_fine_on_loopback_and_https_anywhere(project, url):
    project.write("p.yaml", PROVIDER.replace("graph: sandbox", f"graph: '{url}'"))
    assert project.load().provider.graph == url


def test_a_second_provider_block_is_an_error(with_provider):
    with_provider.write("z.yaml", "provider:\n  ad_account: act_2\n  page_id: '3'\n")
    assert with_provider.errors() == [
        "z.yaml:1:1: provider: a second provider block; the first is at provider.yaml:1:1 "
        "(exactly one file holds the provider block)"
    ]


def test_no_provider_block_is_an_error(project):
    project.write("c.yaml", "campaigns: {}\n")
    assert project.errors() == [
        ".: provider: no provider block in any of the 1 *.yaml/*.yml file(s) here (nothing else was read); add "
        'one, e.g. provider: {ad_account: act_100000000000001, page_id: "200000000000001"}, or, if this is not '
        "an mmctl project, run mmctl in the project's folder or leave other tools' YAML out with .mmctlignore "
        "or --exclude"
    ]


def test_the_same_address_in_two_files_is_an_error(with_provider):
    with_provider.write("a.yaml", "campaigns:\n  sale: {name: A}\n")
    with_provider.write("b.yaml", "\ncampaigns:\n  sale: {name: B}\n")
    assert with_provider.errors() == [
        "b.yaml:3:3: campaigns.sale: campaign.sale is already declared at a.yaml:2:3; each address may be declared once"
    ]


def test_dangling_references_suggest_what_exists(with_provider):
    with_provider.write(
        "c.yaml",
        """\
        templates:
          winter: {message: {text: Hi}}
        campaigns:
          a: {name: A, template: wintr, audience: vip}
        """,
    )
    assert with_provider.errors() == [
        'c.yaml:4:26: campaigns.a.template: no template named "wintr" (did you mean "winter"?)',
        'c.yaml:4:43: campaigns.a.audience: no audience named "vip"; no audiences are declared',
    ]


def test_unset_env_is_an_error_and_not_followed_by_noise(with_provider):
    with_provider.write("c.yaml", "campaigns:\n  a: {name: '${env:CAMPAIGN_NAME}'}\n")
    assert with_provider.errors() == [
        "c.yaml:2:13: campaigns.a.name: environment variable CAMPAIGN_NAME is not set "
        "(set it, or change ${env:CAMPAIGN_NAME})"
    ]


def test_unknown_interpolations_and_secrets_are_errors(with_provider):
    with_provider.write(
        "c.yaml",
        "campaigns:\n  a: {name: '${ENV:X}'}\n  b: {name: 'x ${env:META_ACCESS_TOKEN}'}\n  c: {name: 'oops ${'}\n",
    )
    assert with_provider.errors(env={"META_ACCESS_TOKEN": "EAAB-secret"}) == [
        "c.yaml:2:13: campaigns.a.name: unknown interpolation '${ENV:X}'; expected ${env:NAME} (write $${ for a literal ${)",
        "c.yaml:3:13: campaigns.b.name: ${env:META_ACCESS_TOKEN}: access tokens and app secrets never go in "
        "manifests; mmctl reads them from the environment itself",
        "c.yaml:4:13: campaigns.c.name: '${' is not closed by '}'; write $${ for a literal ${",
    ]


def test_values_from_the_environment_are_never_echoed(with_provider):
    with_provider.write("c.yaml", "campaigns:\n  a: {name: A, pixel_id: '${env:PIXEL}'}\n")
    errors = with_provider.errors(env={"PIXEL": "s3cr3t-value"})
    assert errors == [
        "c.yaml:2:26: campaigns.a.pixel_id: expected an id written as a quoted string of digits, e.g. "
        '"200000000000001"; found the value of an ${env:...} variable (not shown)'
    ]


def test_empty_files_are_errors(with_provider):
    with_provider.write("empty.yaml", "# nothing yet\n")
    assert with_provider.errors() == [
        "empty.yaml:1:1: file is empty; a manifest holds at least one of provider, state, templates, audiences, campaigns, sends"
    ]


def test_empty_sections_are_allowed(with_provider):
    with_provider.write("c.yaml", "campaigns:\naudiences:\n")
    assert with_provider.load().campaigns == {}


def test_yaml_problems_of_every_file_are_reported_together_and_sorted(with_provider):
    with_provider.write("b.yaml", "campaigns:\n  a: {name: A}\n  a: {name: B}\n")
    with_provider.write("a.yaml", "x: 1\n---\ny: 2\n")
    (with_provider.root / "c.yaml").write_bytes(b"a: \xff\n")
    assert with_provider.errors() == [
        "a.yaml:2:1: a second YAML document ('---'); each manifest file holds one document (split it into two files)",
        "b.yaml:3:3: campaigns.a: duplicate key 'a'; it is already set at line 2 (YAML would silently keep only the last one)",
        "c.yaml:1:4: not valid UTF-8 (byte 0xff); manifests must be saved as UTF-8 text",
    ]


def test_budgets_are_exclusive_and_positive(with_provider):
    with_provider.write(
        "c.yaml",
        "campaigns:\n  a: {name: A, daily_budget: 100, lifetime_budget: 3000}\n  b: {name: B, daily_budget: '0.00 USD'}\n",
    )
    assert with_provider.errors() == [
        "c.yaml:2:52: campaigns.a.lifetime_budget: both daily_budget and lifetime_budget are set; a campaign has "
        "at most one of them",
        'c.yaml:3:30: campaigns.b.daily_budget: expected an amount greater than 0; found "0.00 USD"',
    ]


def test_end_time_must_be_after_start_time_as_instants(with_provider):
    with_provider.write(
        "c.yaml",
        """\
        campaigns:
          a:
            name: A
            start_time: 2030-12-01T10:00:00-05:00
            end_time: 2030-12-01T15:00:00Z
          ok:
            name: OK
            start_time: 2030-12-01T10:00:00-05:00
            end_time: 1922367601
        """,
    )
    assert with_provider.errors() == [
        "c.yaml:5:15: campaigns.a.end_time: end_time (2030-12-01T15:00:00Z) must be after start_time "
        "(2030-12-01T15:00:00Z)"
    ]


def test_times_without_offset_need_a_timezone(project):
    project.write("p.yaml", "provider: {ad_account: act_1, page_id: '2'}\n")
    project.write("c.yaml", "campaigns:\n  a: {name: A, start_time: 2026-12-01T09:00:00, end_time: 'soon'}\n")
    assert project.errors() == [
        "c.yaml:2:28: campaigns.a.start_time: '2026-12-01T09:00:00' has no UTC offset and provider.timezone is not "
        "set; write an offset (e.g. 2026-12-01T09:00:00-05:00) or set provider.timezone",
        "c.yaml:2:59: campaigns.a.end_time: 'soon' is not an ISO 8601 time; expected e.g. 2026-12-01T09:00:00-05:00",
    ]


def test_times_without_offset_use_the_provider_timezone(with_provider):
    with_provider.write(
        "c.yaml", "campaigns:\n  a: {name: A, start_time: 2030-12-01T09:00:00, end_time: 2030-12-01T13:59:00Z}\n"
    )
    assert with_provider.errors() == [
        "c.yaml:2:59: campaigns.a.end_time: end_time (2030-12-01T13:59:00Z) must be after start_time "
        "(2030-12-01T14:00:00Z)"
    ]


def test_an_end_time_that_has_passed_is_an_error_offline(with_provider):
    """Meta refuses it at apply, halfway through; validate knows it already."""
    with_provider.write(
        "c.yaml", "campaigns:\n  gone: {name: Gone, daily_budget: 500, end_time: 2020-01-31T23:59:00Z}\n"
    )
    [error] = with_provider.errors()
    assert error.startswith("c.yaml:2:51: campaigns.gone.end_time: end_time (2020-01-31T23:59:00Z) has passed (it is ")
    assert error.endswith(
        "); a campaign cannot be created or changed to end in the past. Move end_time into the "
        "future, or remove the campaign from the manifests once it has finished"
    )


def test_names_are_unique_per_kind(with_provider):
    with_provider.write(
        "c.yaml",
        """\
        audiences:
          a: {name: Fans}
          b: {name: Fans}
        campaigns:
          a: {name: Sale}
          b: {name: Sale}
          c: {name: Fans}
        """,
    )
    assert with_provider.errors() == [
        'c.yaml:3:13: audiences.b.name: audience name "Fans" is already used by audience.a (c.yaml:2:13); names '
        "must be unique, because mmctl finds existing objects by name",
        'c.yaml:6:13: campaigns.b.name: campaign name "Sale" is already used by campaign.a (c.yaml:5:13); names '
        "must be unique, because mmctl finds existing objects by name",
    ]


def test_member_files_must_exist_inside_the_root(with_provider, tmp_path):
    (tmp_path / "outside.csv").write_text("email\n")
    with_provider.write(
        "a.yaml",
        "audiences:\n  a: {name: A, members: {file: ../outside.csv}}\n  b: {name: B, members: {file: missing.csv}}\n",
    )
    assert with_provider.errors() == [
        f'a.yaml:2:32: audiences.a.members.file: "../outside.csv" is outside the manifests root {with_provider.root}; '
        "member files live beside the manifests, or, for a customer list kept out of git, set "
        "members.outside_root: true and give an absolute path or one from the environment (file: ${env:VIP_MEMBERS})",
        'a.yaml:3:32: audiences.b.members.file: member file "missing.csv" does not exist',
    ]


def test_paths_that_do_not_exist_and_folders_without_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestErrors) as info:
        manifest.load_project(["nope", "empty"], env={})
    assert [str(e) for e in info.value.errors] == [
        "empty: no *.yaml or *.yml files in this folder",
        "nope: no such file or folder",
    ]


def test_a_file_named_explicitly_is_read_whatever_its_suffix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("manifest.conf").write_text(PROVIDER)
    assert manifest.load_project(["manifest.conf"], env={}).files == ("manifest.conf",)


def test_numbers_written_as_floats_are_not_taken_for_integers(with_provider):
    # Found by the fuzz test: jsonschema counts 0.0 as an integer, and the float reached the
    # time parser. A budget of 5000.0 is a mistake to report, not an amount to send.
    with_provider.write("c.yaml", "campaigns:\n  a: {name: A, daily_budget: 5000.0, start_time: 0.0}\n")
    assert with_provider.errors() == [
        "c.yaml:2:30: campaigns.a.daily_budget: expected an amount greater than 0: an integer in minor units "
        '(5000 = 50.00 USD) or a string like "50.00 USD"; found the number 5000.0',
        "c.yaml:2:50: campaigns.a.start_time: expected an ISO 8601 time such as 2026-12-01T09:00:00-05:00, or Unix "
        "seconds; found the number 0.0",
    ]


def test_money_written_as_text_names_a_real_currency_with_its_decimals(with_provider):
    with_provider.write(
        "c.yaml",
        "campaigns:\n  a: {name: A, daily_budget: '50.00 XYZ'}\n  b: {name: B, lifetime_budget: '30000.5 JPY'}\n",
    )
    assert with_provider.errors() == [
        "c.yaml:2:30: campaigns.a.daily_budget: XYZ is not an ISO 4217 currency code",
        'c.yaml:3:33: campaigns.b.lifetime_budget: "30000.5 JPY" has more decimals than JPY budgets allow (0)',
    ]


def test_the_state_block_chooses_a_backend_and_never_ignores_a_field(with_provider):
    assert with_provider.load().state.path == with_provider.root / ".mmctl" / "state.db"
    with_provider.write("state.yaml", "state:\n  backend: postgres\n  url: ${env:DB}\n  key: team-a\n")
    config = with_provider.load(env={"DB": "postgresql://u:pw@db/mm"}).state
    assert (config.backend, config.url, config.schema, config.key) == (
        "postgres",
        "postgresql://u:pw@db/mm",
        "mmctl",
        "team-a",
    )
    assert "pw" not in repr(config)
    with_provider.write("state.yaml", "state:\n  path: old/state.json\n")
    assert with_provider.load().state.path == with_provider.root / "old" / "state.db"  # its JSON is imported
    with_provider.write("state.yaml", "state:\n  url: postgresql://db/mm\n  schema: other\n")
    assert with_provider.errors() == [
        "state.yaml:2:3: state.url: url is read only with backend: postgres; this state block has backend: sqlite",
        "state.yaml:3:3: state.schema: schema is read only with backend: postgres; this state block has backend: sqlite",
    ]
    with_provider.write("state.yaml", "state:\n  backend: postgres\n  path: x.db\n  schema: Bad-Name\n")
    errors = with_provider.errors()
    assert errors[0].startswith("state.yaml:3:3: state.path: path is read only with backend: sqlite")
    assert "state.yaml:4:11: state.schema: expected a lower-case SQL name" in errors[1]
