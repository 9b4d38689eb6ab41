"""The demo data set: organizations, accounts across platforms, and a year of simulated history
and posts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from accounts.models import Account, Platform
from accounts.platforms import profile_url_for
from accounts.services import accounts_import, accounts_set_flags
from snapshots.models import Source
from snapshots.services import (
    PostRow,
    PostUpsertResult,
    SnapshotRow,
    UpsertResult,
    post_upsert_many,
    snapshot_upsert_many,
)

from .collectors.simulated import PostClock, simulated_posts
from .simulation import is_glitch, is_missing, simulate_day

DEMO_ORGANIZATIONS = (
    ("Department of Health", "healthdept"),
    ("Office of the Secretary", "secretaryoffice"),
    ("National Parks Service", "natparks"),
    ("Weather Service", "weatherservice"),
    ("Space Agency", "spaceagency"),
    ("Public Library", "publiclibrary"),
    ("City Transit", "citytransit"),
    ("Food Safety Office", "foodsafety"),
    ("Veterans Affairs", "veterans"),
    ("Education Office", "educationoffice"),
    ("Energy Department", "energydept"),
    ("Tourism Board", "visittourism"),
)
#: Platforms in the order demo accounts are spread over them (the common ones first).
DEMO_PLATFORMS = (
    Platform.X,
    Platform.FACEBOOK,
    Platform.INSTAGRAM,
    Platform.YOUTUBE,
    Platform.LINKEDIN,
    Platform.BLUESKY,
    Platform.MASTODON,
    Platform.TIKTOK,
    Platform.THREADS,
    Platform.REDDIT,
    Platform.GITHUB,
)
MASTODON_HOST = "mastodon.social"


@dataclass
class SeedReport:
    accounts_created: int
    accounts_total: int
    days: int
    snapshots: UpsertResult
    posts: PostUpsertResult


def demo_account_entries(*, count: int) -> Iterator[dict]:
    """`count` deterministic demo accounts as import entries (organization, platform, url)."""
    per_round = len(DEMO_ORGANIZATIONS) * len(DEMO_PLATFORMS)
    for index in range(count):
        org_name, slug = DEMO_ORGANIZATIONS[index % len(DEMO_ORGANIZATIONS)]
        platform = DEMO_PLATFORMS[(index // len(DEMO_ORGANIZATIONS)) % len(DEMO_PLATFORMS)]
        round_ = index // per_round
        handle = f"{slug}{round_}" if round_ else slug
        host = MASTODON_HOST if platform == Platform.MASTODON else ""
        if platform == Platform.BLUESKY:
            handle = f"{handle}.bsky.social"
        yield {
            "organization": org_name,
            "platform": platform.value,
            "url": profile_url_for(platform=platform.value, handle=handle, instance_host=host),
            "display_name": f"{org_name} ({platform.label})",
        }


def simulated_rows(
    *, accounts: list[Account], start: dt.date, end: dt.date, skip_missing: bool = True
) -> Iterator[SnapshotRow]:
    """Simulated snapshots of these accounts for every day from start to end (inclusive), with the
    few missing days and wrong follower counts (`is_glitch`) real histories have."""
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    for account in accounts:
        key = account.key
        for day in days:
            if skip_missing and is_missing(key, day):
                continue
            values = simulate_day(key, account.platform, day)
            if is_glitch(key, day):
                values["followers"] //= 10
            yield SnapshotRow(account_id=account.pk, date=day, source=Source.SIMULATED, **values)


def simulated_post_rows(*, accounts: list[Account], start: dt.date, end: dt.date) -> Iterator[PostRow]:
    """The posts the simulated accounts published from start to end (inclusive), up to now."""
    for n in range((end - start).days + 1):
        day = start + dt.timedelta(days=n)
        clock = PostClock(day)
        for account in accounts:
            counts = SnapshotRow(account.pk, day, **simulate_day(account.key, account.platform, day))
            yield from simulated_posts(
                account_id=account.pk, key=account.key, platform=account.platform, day=day, counts=counts,
                clock=clock,
            )  # fmt: skip


#: on_progress(phase, done, total): how far a seed has got ("snapshots": accounts, "posts": days).
SeedProgress = Callable[[str, int, int], None]


def _published_day(row: PostRow) -> dt.date:
    return row.published_at.date()  # a simulated post's moment is in the product's time zone


def _reporting(
    rows: Iterable, *, phase: str, step: Callable, total: int, on_progress: SeedProgress | None
) -> Iterator:
    """`rows` as they are, telling `on_progress` each time `step(row)` (the account, the day the rows
    are generated in) changes: how many steps are done of `total`."""
    if on_progress is None:
        yield from rows
        return
    done, current = 0, object()
    on_progress(phase, 0, total)
    for row in rows:
        key = step(row)
        if key != current:
            if done:
                on_progress(phase, done, total)
            current, done = key, done + 1
        yield row
    on_progress(phase, total, total)


def demo_seed(
    *, accounts: int, days: int, end: dt.date, on_progress: SeedProgress | None = None
) -> SeedReport:
    """Create the demo organizations and accounts and `days` days of history ending on `end`.

    Deterministic and idempotent: seeding twice gives the same data and writes nothing new.
    """
    entries = list(demo_account_entries(count=accounts))
    report = accounts_import(entries=entries)
    demo = list(Account.objects.filter(pk__in=report.account_ids).order_by("pk"))
    core_ids = [a.pk for a in demo if a.platform in {Platform.X, Platform.FACEBOOK, Platform.INSTAGRAM}][::3]
    accounts_set_flags(account_ids=core_ids, is_core=True)
    start = end - dt.timedelta(days=days - 1)
    rows = simulated_rows(accounts=demo, start=start, end=end)
    rows = _reporting(
        rows, phase="snapshots", step=lambda row: row.account_id, total=len(demo), on_progress=on_progress
    )
    result = snapshot_upsert_many(rows=rows, batch_size=5000)
    post_rows = simulated_post_rows(accounts=demo, start=start, end=end)
    post_rows = _reporting(post_rows, phase="posts", step=_published_day, total=days, on_progress=on_progress)
    posts = post_upsert_many(rows=post_rows)
    return SeedReport(
        accounts_created=report.created, accounts_total=len(demo), days=days, snapshots=result, posts=posts
    )
