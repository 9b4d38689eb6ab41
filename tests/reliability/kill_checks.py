"""What must hold of the stored history whatever happened to its writers (a kill, a database that
went away, writers at the same moment): the checks the reliability tests make (not a test module).

Each check returns the problems it found, as sentences (an empty list: it holds). Run as
`python -m tests.reliability.kill_checks [YYYY-MM-DD ...]` it checks the database of DATABASE_URL
(and the simulated values of those days) and prints one JSON object: for a database the test
process is not connected to. (The checks import the models themselves: run as a program, this module
is loaded before Django is set up.)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterable


def duplicate_problems() -> list[str]:
    """No account has two snapshots of one day (the unique constraint's promise, checked)."""
    from django.db.models import Count

    from snapshots.models import Snapshot

    duplicated = (
        Snapshot.objects.order_by()
        .values("account_id", "date")
        .annotate(n=Count("*"))
        .filter(n__gt=1)
        .values_list("account_id", "date", "n")[:10]
    )
    return [f"account {a} has {n} snapshots on {d}" for a, d, n in duplicated]


def latest_problems() -> list[str]:
    """Every account's maintained latest row is what `latest_compute` computes from its snapshots,
    and accounts without snapshots have none."""
    from accounts.models import Account
    from snapshots.models import AccountLatest
    from snapshots.services import latest_compute

    fields = [f.attname for f in AccountLatest._meta.concrete_fields if f.name != "account"]
    expected = latest_compute(account_ids=Account.objects.values_list("pk", flat=True))
    stored = {row.account_id: row for row in AccountLatest.objects.all()}
    problems = [f"account {a} has no latest row" for a in sorted(expected.keys() - stored.keys())]
    problems += [
        f"account {a} has a latest row but no snapshot" for a in sorted(stored.keys() - expected.keys())
    ]
    for account_id in sorted(expected.keys() & stored.keys()):
        want, have = expected[account_id], stored[account_id]
        wrong = [name for name in fields if getattr(want, name) != getattr(have, name)]
        if wrong:
            problems.append(
                f"account {account_id}'s latest row differs in "
                + ", ".join(
                    f"{n} (stored {getattr(have, n)!r}, computed {getattr(want, n)!r})" for n in wrong
                )
            )
    return problems[:20]


def date_count_problems() -> list[str]:
    """The per-date counts the triggers keep equal a GROUP BY date of the snapshots, and no
    transaction's changes are left waiting to be folded in."""
    from django.db.models import Count

    from snapshots.models import Snapshot, SnapshotDateCount, SnapshotDateCountChange

    actual = dict(Snapshot.objects.order_by().values("date").annotate(n=Count("*")).values_list("date", "n"))
    kept = dict(SnapshotDateCount.objects.values_list("date", "snapshot_count"))
    problems = [
        f"{day}: {kept.get(day, 0)} counted, {actual.get(day, 0)} stored"
        for day in sorted(actual.keys() | kept.keys())
        if kept.get(day, 0) != actual.get(day, 0)
    ]
    if left := SnapshotDateCountChange.objects.count():
        problems.append(f"{left} uncommitted date-count changes left behind")
    return problems[:20]


def consistency_problems() -> list[str]:
    return duplicate_problems() + latest_problems() + date_count_problems()


def simulated(account) -> Callable[[dt.date], dict]:
    """What the simulated collector gives for `account`, as a function of the day."""
    from scraping.simulation import simulate_day

    key = f"{account.platform}:{account.handle.lower()}"
    return lambda day: simulate_day(key, account.platform, day)


def simulated_value_problems(*, days: Iterable[dt.date]) -> list[str]:
    """Every snapshot of these days holds exactly the simulated values of its account and day (all
    of them, from one write: never some of a row)."""
    from accounts.models import Account
    from snapshots.models import METRIC_FIELDS, Snapshot

    accounts = {a.pk: simulated(a) for a in Account.objects.only("platform", "handle")}
    problems = []
    for row in Snapshot.objects.filter(date__in=list(days)).values(
        "account_id", "date", "precision", *METRIC_FIELDS
    ):
        want = accounts[row["account_id"]](row["date"])
        wrong = [n for n in (*METRIC_FIELDS, "precision") if row[n] != want[n]]
        if wrong:
            problems.append(
                f"account {row['account_id']} on {row['date']}: {', '.join(wrong)} not as collected"
            )
    return problems[:20]


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialmetrics.settings.test")
    import django

    django.setup()
    from snapshots.models import Snapshot

    days = [dt.date.fromisoformat(arg) for arg in sys.argv[1:]]
    report = {
        "problems": consistency_problems() + simulated_value_problems(days=days),
        "rows": {day.isoformat(): Snapshot.objects.filter(date=day).count() for day in days},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
