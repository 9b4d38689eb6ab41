"""`manage.py import_accounts` with the lists teams keep (JSON and CSV)."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account, Organization

pytestmark = pytest.mark.django_db
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample_accounts.json"


def run(path, *args: str, status: int = 0) -> tuple[str, str]:
    """The command's output; `status`: the exit status it must end with."""
    out, err = StringIO(), StringIO()
    try:
        call_command("import_accounts", str(path), *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    assert code == status, err.getvalue()
    return out.getvalue(), err.getvalue()


def unique_accounts_in_sample() -> int:
    from accounts.platforms import normalize_platform, parse_profile_url

    keys = set()
    for entry in json.loads(SAMPLE.read_text()):
        platform = normalize_platform(entry["platform"])
        keys.add((platform, parse_profile_url(platform=platform, url=entry["url"]).handle.lower()))
    return len(keys)


def test_imports_the_real_list_and_rerunning_creates_nothing():
    expected = unique_accounts_in_sample()
    out, err = run(SAMPLE)
    assert f"{expected} created" in out
    assert "0 rejected" in out
    assert err == ""
    assert Account.objects.count() == expected

    hhs = Account.objects.get(platform="facebook", handle="HHS")
    assert hhs.organization.name == "HHS"
    assert hhs.profile_url == "https://www.facebook.com/HHS"
    assert Account.objects.get(platform="youtube", handle__iexact="usgovhhs")
    assert Account.objects.get(platform="truth_social", handle="seckennedy")

    out, _ = run(SAMPLE)
    assert "0 created" in out
    assert "0 updated" in out
    assert f"{len(json.loads(SAMPLE.read_text()))} unchanged" in out
    assert Account.objects.count() == expected


def test_bad_entries_are_reported_with_position_and_reason_and_the_rest_imported(tmp_path):
    path = tmp_path / "accounts.json"
    path.write_text(
        json.dumps(
            [
                {"organization": "NASA", "platform": "X", "url": "https://x.com/NASA"},
                {"organization": "NASA", "platform": "Myspace", "url": "https://myspace.com/nasa"},
                {"organization": "NASA", "platform": "Instagram", "url": "https://www.instagram.com/"},
                {
                    "organization": "NASA",
                    "platform": "Twitter",
                    "url": "https://twitter.com/NASAWebb?lang=en",
                },
                "not an object",
            ]
        )
    )
    out, err = run(path, status=1)  # rejected entries: exit 1, after importing the others
    assert "2 created" in out
    assert "3 rejected" in out
    assert err.splitlines()[-1] == "import_accounts: 3 of 5 entries rejected; the other 2 were imported."
    assert "entry 2" in err
    assert "Myspace" in err
    assert "entry 3" in err
    assert "No handle found" in err
    assert "entry 5" in err
    assert set(Account.objects.values_list("handle", flat=True)) == {"NASA", "NASAWebb"}


def test_csv_with_platform_handle_organization_and_url(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text(
        "\ufeffPlatform,Handle,Organization,URL\n"
        "Twitter,@NASA,NASA,\n"
        "Bluesky,nasa.gov,NASA,\n"
        "Mastodon,,Science Desk,https://mastodon.social/@ScienceDesk\n"
        "Facebook Español,,NASA,https://m.facebook.com/profile.php?id=100064\n"
    )
    out, _ = run(path)
    assert "4 created" in out
    mastodon = Account.objects.get(platform="mastodon")
    assert mastodon.handle.lower() == "sciencedesk@mastodon.social"
    assert mastodon.instance_host == "mastodon.social"
    facebook = Account.objects.get(platform="facebook")
    assert facebook.external_id == "100064"
    assert Organization.objects.count() == 2


def test_organizations_match_case_insensitively_and_moves_are_updates(tmp_path):
    Organization.objects.create(name="NASA")
    first = tmp_path / "a.csv"
    first.write_text("Platform,Handle,Organization\nX,nasa,nasa\n")
    run(first)
    assert Organization.objects.count() == 1
    moved = tmp_path / "b.csv"
    moved.write_text("Platform,Handle,Organization\nX,NASA,Space Agency\n")
    out, _ = run(moved)
    assert "1 updated" in out
    assert Account.objects.get().organization.name == "Space Agency"


def test_dry_run_writes_nothing():
    out = StringIO()
    call_command("import_accounts", str(SAMPLE), "--dry-run", stdout=out)
    assert "dry run" in out.getvalue()
    assert Account.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "Not valid JSON"),
        ('{"platform": "X"}', "Expected a JSON list"),
    ],
)
def test_an_unreadable_json_file_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "accounts.json"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        run(path)
    assert Account.objects.count() == 0


def test_a_csv_without_the_columns_is_a_clear_error(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("Name,Followers\nnasa,10\n")
    with pytest.raises(CommandError, match="Platform, Handle, Organization"):
        run(path)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run(tmp_path / "nope.json")
