"""json_objects: the fast renderer of large lists writes exactly what JSONRenderer writes."""

import datetime as dt

import pytest
from rest_framework.renderers import JSONRenderer

from socialmetrics.api.rendering import json_objects

KEYS = ("name", "count", "flag", "day", "none")


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [("plain", 1, True, dt.date(2026, 1, 2), None)],
        [
            ('quo"te \\ back', -5, False, dt.date(2026, 1, 2), None),
            (None, None, None, None, None),
            ("Zoë ✓ \u2028 \u2029 <script>", 10**15, True, dt.date(2025, 12, 31), None),
            ("tab\tnew\nline\x00", 0, False, dt.date(2026, 1, 2), None),
        ],
    ],
)
def test_the_same_bytes_as_the_json_renderer(rows):
    expected = JSONRenderer().render(
        [dict(zip(KEYS, row, strict=True)) for row in rows], "application/json", {}
    )
    assert json_objects(keys=KEYS, rows=rows) == expected


def test_rows_of_the_wrong_width_or_type_are_refused():
    with pytest.raises(ValueError, match="values a row"):
        json_objects(keys=("a", "b"), rows=[(1,)])
    with pytest.raises(TypeError):
        json_objects(keys=("a",), rows=[(1.5,)])


@pytest.mark.django_db
def test_the_summary_body_is_what_jsonrenderer_writes_for_the_rows():
    import datetime as dt

    from rest_framework.renderers import JSONRenderer

    from snapshots.selectors import summary_body, summary_queryset, summary_rows
    from snapshots.services import SnapshotRow, snapshot_upsert_many
    from tests.factories import AccountFactory

    accounts = [
        AccountFactory(handle='quo"te\\back'),
        AccountFactory(handle="ünï\u2028code", organization=None),
        AccountFactory(handle="plain"),
    ]
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=a.pk, date=dt.date(2026, 5, 1), followers=i * 10 or None, likes=i)
            for i, a in enumerate(accounts)
        ]
    )
    keys = ("platform", "handle", "org_name", "followers", "engagement", "engagement_rate", "posts", "date")
    rows = summary_rows(queryset=summary_queryset())
    expected = JSONRenderer().render(
        [
            {
                **dict(zip(keys, row[:-1], strict=True)),
                "anomaly": row[-1] is not None,
                "anomaly_reason": row[-1],
            }
            for row in rows
        ]
    )
    assert summary_body(queryset=summary_queryset()) == expected
