"""Reads for collection: which accounts a run collects, and run records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Count, QuerySet
from django.utils import timezone

from accounts.models import Account
from snapshots.models import Snapshot
from socialmetrics.dates import day_of, local_today

from .collectors.base import AccountRef
from .models import CollectionRun, OutcomeStatus, RunStatus
from .schedule import DAILY_TASK


def collection_accounts(
    *,
    platforms: Iterable[str] = (),
    account_ids: Iterable[int] = (),
    organization: str = "",
    core_only: bool = False,
) -> list[tuple[bool, AccountRef]]:
    """Active accounts to collect as (is core, what a collector needs), core accounts first, then by
    platform and handle. Plain rows, not model instances: a run reads tens of thousands."""
    qs = Account.objects.filter(is_active=True)
    if platforms := list(platforms):
        qs = qs.filter(platform__in=platforms)
    if account_ids := list(account_ids):
        qs = qs.filter(pk__in=account_ids)
    if organization:
        qs = qs.filter(organization__name__iexact=organization)
    if core_only:
        qs = qs.filter(is_core=True)
    return [
        (is_core, AccountRef(pk, platform, handle, external_id or None, instance_host))
        for pk, platform, handle, external_id, instance_host, is_core in qs.order_by(
            "-is_core", "platform", "pk"
        ).values_list("pk", "platform", "handle", "external_id", "instance_host", "is_core")
    ]


def run_list(*, limit: int = 20) -> QuerySet[CollectionRun]:
    return CollectionRun.objects.order_by("-started_at")[:limit]


def run_get(*, run_id: int) -> CollectionRun | None:
    return CollectionRun.objects.filter(pk=run_id).first()


def run_holding_lock(*, token: str | None) -> int | None:
    """The run that holds the collection lock under `token` (None while the holder is still recording
    its run); when the holder's token cannot be read, the newest run still going."""
    if token:
        return CollectionRun.objects.filter(lock_token=token).values_list("pk", flat=True).first()
    active = CollectionRun.objects.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING])
    return active.order_by("-started_at").values_list("pk", flat=True).first()


def run_latest() -> CollectionRun | None:
    """The newest run, whoever started it (one query on the run_started_idx index)."""
    return CollectionRun.objects.order_by("-started_at").first()


def run_cancel_state(*, run_id: int) -> tuple[dt.datetime | None, str]:
    """(when a cancel was asked for, by whom) of a run; (None, "") while none was."""
    row = CollectionRun.objects.filter(pk=run_id).values_list("cancel_requested_at", "cancelled_by").first()
    return row or (None, "")


def run_skip_reasons(*, run: CollectionRun, limit: int = 20) -> list[dict]:
    """Why accounts of a run were skipped or deferred, grouped: the most frequent reasons first,
    with their platform and count (from the run's outcomes, on the (run, status) index)."""
    rows = (
        run.outcomes.filter(status__in=[OutcomeStatus.SKIPPED, OutcomeStatus.DEFERRED])
        .values_list("account__platform", "status", "error_message")
        .annotate(count=Count("*"))
        .order_by("-count", "account__platform", "error_message")[:limit]
    )
    return [
        {"platform": platform, "status": status, "reason": reason, "count": count}
        for platform, status, reason, count in rows
    ]


def run_errors(*, run: CollectionRun, limit: int = 50) -> list[dict]:
    """The failed accounts of a run with their reasons (first `limit`)."""
    rows = (
        run.outcomes.filter(status="failed")
        .order_by("account__platform", "account__handle")
        .values_list("account_id", "account__platform", "account__handle", "error_message")[:limit]
    )
    return [{"account_id": a, "platform": p, "handle": h, "error": e} for a, p, h, e in rows]


@dataclass(frozen=True)
class DailySchedule:
    """The daily collection as the overview shows it: the schedule, its next run, the last run."""

    enabled: bool
    description: str  # "every day at 06:00 (Europe/Berlin)", or why there is none
    next_run_at: dt.datetime | None
    last_run: CollectionRun | None


def daily_schedule(*, now: dt.datetime | None = None) -> DailySchedule:
    """The daily periodic task (scraping.schedule) and the newest run that has ended, however started.
    The next run is the crontab's next moment after `now`; none while the task is off or missing."""
    from django_celery_beat.models import PeriodicTask

    now = now or timezone.now()
    last_run = CollectionRun.objects.exclude(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).first()
    task = PeriodicTask.objects.filter(name=DAILY_TASK).select_related("crontab").first()
    if task is None or task.crontab is None:
        return DailySchedule(False, "no daily schedule (see the admin's Periodic tasks)", None, last_run)
    crontab = task.crontab
    at = f"{int(crontab.hour):02d}:{int(crontab.minute):02d}" if _fixed(crontab) else str(crontab)
    description = f"every day at {at} ({crontab.timezone})" if _fixed(crontab) else f"cron {crontab}"
    if not task.enabled:
        return DailySchedule(False, f"{description}, switched off", None, last_run)
    return DailySchedule(True, description, _next_moment(crontab, now), last_run)


def _next_moment(crontab, now: dt.datetime) -> dt.datetime:
    if not _fixed(crontab):  # a pattern made in the admin: celery's own estimate
        return max(now, now + crontab.schedule.remaining_estimate(now))
    zone = ZoneInfo(str(crontab.timezone))
    local = now.astimezone(zone)
    moment = local.replace(hour=int(crontab.hour), minute=int(crontab.minute), second=0, microsecond=0)
    if moment <= local:
        moment = (local + dt.timedelta(days=1)).replace(
            hour=int(crontab.hour), minute=int(crontab.minute), second=0, microsecond=0
        )
    return moment.astimezone(dt.UTC)


def _fixed(crontab) -> bool:
    """A crontab of one moment every day ("30 6 * * *")."""
    every = ("*",) * 3
    days = (crontab.day_of_week, crontab.day_of_month, crontab.month_of_year)
    return crontab.hour.isdigit() and crontab.minute.isdigit() and days == every


#: The longest window gaps are looked for in (a year, and a day for a leap year).
GAPS_MAX_DAYS = 366


@dataclass(frozen=True)
class AccountGap:
    """An active account's days without a snapshot in the window asked about."""

    account_id: int
    platform: str
    handle: str
    missing: list[dt.date]


def account_gaps(*, days: int, platform: str = "", today: dt.date | None = None) -> list[AccountGap]:
    """Active accounts missing a snapshot on some day of the last `days` days (today included), by
    platform and handle. A day before the account was added is not missing. Two queries whatever the
    number of accounts: the snapshots per account in the window (by the date index), then the dates
    of the accounts that have fewer than they should."""
    today = today or local_today()
    first = today - dt.timedelta(days=days - 1)
    accounts = Account.objects.filter(is_active=True)
    if platform:
        accounts = accounts.filter(platform=platform)
    expected = {
        pk: (platform_, handle, max(first, day_of(created)))
        for pk, platform_, handle, created in accounts.values_list("pk", "platform", "handle", "created_at")
    }
    window = Snapshot.objects.filter(date__range=(first, today), account__in=accounts)
    counts = dict(window.values("account_id").annotate(n=Count("*")).values_list("account_id", "n"))
    short = [pk for pk, (_, _, start) in expected.items() if counts.get(pk, 0) < (today - start).days + 1]
    seen: dict[int, set[dt.date]] = {pk: set() for pk in short}
    for start in range(0, len(short), 1000):
        chunk = short[start : start + 1000]
        for account_id, day in window.filter(account_id__in=chunk).values_list("account_id", "date"):
            seen[account_id].add(day)
    gaps = []
    for pk in short:
        platform_, handle, start = expected[pk]
        every = (start + dt.timedelta(days=n) for n in range((today - start).days + 1))
        gaps.append(AccountGap(pk, platform_, handle, [day for day in every if day not in seen[pk]]))
    return sorted(gaps, key=lambda gap: (gap.platform, gap.handle.lower()))


def batch_accounts(*, account_ids: list[int]) -> list[AccountRef]:
    """What a collector needs of a batch's accounts, in the batch's order (an account deleted since
    the batch was made is left out)."""
    rows = Account.objects.filter(pk__in=account_ids).values_list(
        "pk", "platform", "handle", "external_id", "instance_host"
    )
    refs = {
        pk: AccountRef(pk, platform, handle, external_id or None, host)
        for pk, platform, handle, external_id, host in rows
    }
    return [refs[pk] for pk in account_ids if pk in refs]
