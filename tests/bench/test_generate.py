"""The benchmark's data set is the simulation's own series (bench/generate.py), so a simulated
collection of the next day continues it as the daily run does: the same numbers as
`scraping.simulation.simulate_day`, on the days `is_missing` keeps."""

from __future__ import annotations

import datetime as dt

import pytest

from bench.generate import COLUMNS, PLATFORMS, snapshot_rows, write_postgresql
from scraping.simulation import EPOCH, is_missing, simulate_day

FIELDS = ("followers", "following", "posts", "likes", "comments", "shares", "views", "precision")
#: Every platform the generator gives accounts, and two whose public figures have no engagement.
ACCOUNTS = [(n, platform, f"Bench{n:05d}") for n, platform in enumerate([*PLATFORMS, "github", "reddit"] * 3)]


@pytest.mark.parametrize(
    "end",
    [
        EPOCH + dt.timedelta(days=40),  # days before the simulation's epoch and after it
        dt.date(2026, 12, 3),
        EPOCH + dt.timedelta(days=7_700),  # where growth levels off and events stop
        EPOCH - dt.timedelta(days=1),  # every day before the epoch: no events at all
    ],
)
def test_the_rows_are_the_simulations_values_on_the_days_it_keeps(end):
    days = 120
    rows = list(snapshot_rows(accounts=ACCOUNTS, days=days, end=end))
    written = {(row[0], row[1]): row for row in rows}
    expected_days = 0
    for account_id, platform, handle in ACCOUNTS:
        key = f"{platform}:{handle.lower()}"
        for n in range(days):
            day = end - dt.timedelta(days=n)
            if is_missing(key, day):
                assert (account_id, day) not in written
                continue
            expected_days += 1
            row = written[(account_id, day)]
            values = simulate_day(key, platform, day)
            assert row[2:9] + row[10:11] == tuple(values[f] for f in FIELDS), (key, day)
            assert row[9] == "simulated"
    assert len(rows) == expected_days
    assert len(rows) < len(ACCOUNTS) * days  # the simulation leaves a few days out


def test_the_next_day_a_simulated_collection_writes_continues_the_series():
    """The next day's follower count differs from the last generated one by the simulation's daily
    change (a spike at most: under 5 %), not by a jump to another series' numbers."""
    end = dt.date(2026, 12, 3)
    rows = list(snapshot_rows(accounts=ACCOUNTS, days=30, end=end))
    last = {row[0]: row[2] for row in sorted(rows, key=lambda r: r[1])}
    changes = []
    for account_id, platform, handle in ACCOUNTS:
        following = simulate_day(f"{platform}:{handle.lower()}", platform, end + dt.timedelta(days=1))
        changes.append(abs(following["followers"] - last[account_id]) / last[account_id])
    assert max(changes) < 0.05


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # committed, so that the forked COPY workers see the accounts
def test_the_binary_copy_writes_the_rows_snapshot_rows_gives():
    """PostgreSQL's path packs the rows itself (binary COPY, in worker processes): the table then
    holds exactly `snapshot_rows`' rows, nulls, dates and times included, whichever worker wrote them."""
    from accounts.models import Account
    from snapshots.models import Snapshot

    accounts = [
        (Account.objects.create(platform=platform, handle=handle).pk, platform, handle)
        for _, platform, handle in ACCOUNTS
    ]
    end = dt.date(2026, 12, 3)
    written = write_postgresql(accounts, days=40, end=end, workers=2)
    expected = sorted(snapshot_rows(accounts=accounts, days=40, end=end))
    assert written == len(expected)
    assert sorted(Snapshot.objects.values_list(*COLUMNS)) == expected
