"""The summary's body and totals as the selectors build them fast (the body joined from one query's
rows, the totals added up from one grouped query): the same bytes and figures as JSONRenderer
writes and Python sums for every latest row, in code point order, on every database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer

from accounts.models import Organization, Platform
from snapshots.models import AccountLatest
from snapshots.selectors import SUMMARY_COLUMNS, summary_body, summary_queryset, summary_totals
from snapshots.services import GROWTH_PERIODS, SnapshotRow, snapshot_upsert_many
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

#: Text that JSON writers escape differently if they differ at all: quotes, backslashes, every kind
#: of control character, non-ASCII, astral characters, the two line separators JSONRenderer escapes.
AWKWARD = [
    'quo"te',
    "back\\slash",
    "ctl\x01\x08\x09\x0a\x0c\x0d\x1f\x7f",
    "ünïcödé",
    "emoji\U0001f600",
    "line\u2028para\u2029",
    "slash/</script>",
]
#: Handles whose code point order differs from a natural language's: capitals before small
#: letters, accents after z, digits and punctuation first.
ORDERED = ["Zed", "alpha", "zulu", "éclair", "_under", "9lives", "a-b", "ab", "Ab2"]


def _write(accounts, *, day: dt.date, days: int = 1) -> None:
    snapshot_upsert_many(
        rows=[
            SnapshotRow(
                account_id=acc.pk,
                date=day - dt.timedelta(days=offset),
                followers=None if i % 7 == 3 else 1000 + 37 * i - offset * (i % 5),
                posts=None if i % 5 == 2 else 10 + i,
                likes=i % 4,
                comments=1,
            )
            for i, acc in enumerate(accounts)
            for offset in range(days)
        ]
    )


@pytest.fixture
def awkward_accounts():
    day = dt.date(2026, 5, 1)
    organizations = [None, *(Organization.objects.create(name=f"Org {name}") for name in AWKWARD)]
    accounts = []
    for i, handle in enumerate(AWKWARD + ORDERED):
        platform = [Platform.X, Platform.YOUTUBE, Platform.TRUTH_SOCIAL, Platform.BLUESKY][i % 4]
        organization = organizations[i % len(organizations)]
        core = i % 3 == 0
        accounts.append(
            AccountFactory(handle=handle, platform=platform, organization=organization, is_core=core)
        )
        accounts.append(AccountFactory(handle=handle, platform=Platform.MASTODON, organization=organization))
    accounts.append(AccountFactory(handle="inactive", is_active=False))
    _write(accounts, day=day, days=32)
    AccountFactory(handle="never-collected")
    return accounts


def expected_summary_body(queryset) -> bytes:
    """What JSONRenderer writes for the queryset's latest rows, read through their accounts and
    organizations (never from the copies the latest rows keep), sorted in Python."""
    rows = sorted(queryset.values_list(*SUMMARY_COLUMNS), key=lambda row: (row[0], row[1]))
    keys = ("platform", "handle", "org_name", "followers", "engagement", "engagement_rate", "posts", "date")
    objects = [
        {**dict(zip(keys, row[:-1], strict=True)), "anomaly": row[-1] is not None, "anomaly_reason": row[-1]}
        for row in rows
    ]
    return JSONRenderer().render(objects)


FILTERS = [
    {},
    {"account__platform__in": ["mastodon", "youtube"]},
    {"account__organization__name__iexact": "org ünïcödé"},
    {"account__organization__isnull": True},
    {"account__is_core": True},
]


@pytest.mark.usefixtures("awkward_accounts")
@pytest.mark.parametrize("filters", FILTERS)
def test_the_body_is_what_jsonrenderer_writes_for_every_latest_row(filters):
    queryset = summary_queryset().filter(**filters)
    body = summary_body(queryset=queryset)
    assert body == expected_summary_body(queryset)
    assert b"\\u2028" in body or filters  # the line separator of one handle, escaped


def test_no_rows_is_an_empty_list():
    assert summary_body(queryset=summary_queryset()) == b"[]"


@pytest.mark.usefixtures("awkward_accounts")
def test_the_body_is_one_query():
    """One query reads the rows; on PostgreSQL the whole summary's runs with sorting off (set, and
    put back inside a caller's transaction such as this test's)."""
    with CaptureQueriesContext(connection) as ctx:
        summary_body(queryset=summary_queryset())
    reads = [q["sql"] for q in ctx.captured_queries if "snapshots_accountlatest" in q["sql"]]
    assert len(reads) == 1
    assert len(ctx.captured_queries) == (3 if connection.vendor == "postgresql" else 1)


# --- Totals ---------------------------------------------------------------------------------------


def _sum(values):
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _expected_row(rows: list[AccountLatest]) -> dict:
    row = {
        "accounts": len(rows),
        "followers": _sum(r.followers for r in rows) or 0,
        "engagement": _sum(r.engagement for r in rows) or 0,
    }
    for period in GROWTH_PERIODS:
        changes = [(r.followers, getattr(r, f"followers_change_{period}d")) for r in rows]
        change = _sum(c for _, c in changes)
        base = _sum(f - c for f, c in changes if c is not None)
        row[f"followers_change_{period}d"] = change
        row[f"followers_change_pct_{period}d"] = (
            round(change * 100.0 / base, 4) if change is not None and base else None
        )
    return row


def _expected_totals(queryset) -> dict:
    rows = list(queryset.select_related("account__organization"))
    platforms = sorted({r.account.platform for r in rows})
    names = {r.account.organization.name if r.account.organization else None for r in rows}
    organizations = sorted(n for n in names if n is not None) + ([None] if None in names else [])

    def name(r):
        return r.account.organization.name if r.account.organization else None

    return {
        "total": _expected_row(rows),
        "platforms": [
            {"platform": p, **_expected_row([r for r in rows if r.account.platform == p])} for p in platforms
        ],
        "organizations": [
            {"organization": o, **_expected_row([r for r in rows if name(r) == o])} for o in organizations
        ],
    }


@pytest.mark.usefixtures("awkward_accounts")
@pytest.mark.parametrize("filters", FILTERS)
def test_totals_are_the_sums_of_every_latest_row(filters, django_assert_num_queries):
    queryset = summary_queryset().filter(**filters)
    expected = _expected_totals(queryset)
    with django_assert_num_queries(1):
        totals = summary_totals(queryset=queryset)
    assert totals == expected
    assert JSONRenderer().render(totals) == JSONRenderer().render(expected)


def test_totals_of_nothing():
    assert summary_totals(queryset=summary_queryset()) == {
        "total": {
            "accounts": 0,
            "followers": 0,
            "engagement": 0,
            **{f"followers_change_{p}d": None for p in GROWTH_PERIODS},
            **{f"followers_change_pct_{p}d": None for p in GROWTH_PERIODS},
        },
        "platforms": [],
        "organizations": [],
    }
