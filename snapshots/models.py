"""Daily metrics per account, and each account's maintained latest values."""

from django.db import models
from django.db.models import Case, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account

#: The metrics stored per account and day: the one list every read, write and form derives from.
METRIC_FIELDS = ("followers", "following", "posts", "likes", "comments", "shares", "views")
#: What is reported per day: the stored metrics and the engagement computed from them.
REPORTED_FIELDS = (*METRIC_FIELDS, "engagement")


class Source(models.TextChoices):
    SIMULATED = "simulated", "Simulated"
    API = "api", "Platform API"
    SCRAPE = "scrape", "Scrape"
    CSV = "csv", "CSV import"
    MANUAL = "manual", "Manual"


class Precision(models.TextChoices):
    EXACT = "exact", "Exact"
    ROUNDED = "rounded", "Rounded by the platform"


def _engagement_expression():
    """likes + comments + shares; null only when all three are unknown."""
    return Case(
        When(Q(likes__isnull=True) & Q(comments__isnull=True) & Q(shares__isnull=True), then=None),
        default=Coalesce("likes", Value(0)) + Coalesce("comments", Value(0)) + Coalesce("shares", Value(0)),
        output_field=models.BigIntegerField(null=True),
    )


class Snapshot(models.Model):
    """One account's metrics on one calendar day (in SOCIALMETRICS_TIME_ZONE).

    Unknown is null, never 0. `followers`, `following` and `posts` are lifetime totals on that
    day; `likes`, `comments`, `shares` and `views` are that day's activity.
    """

    # No index of its own: the (account, date) unique index starts with it.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="snapshots", db_index=False)
    date = models.DateField()
    followers = models.BigIntegerField(null=True, blank=True)
    following = models.BigIntegerField(null=True, blank=True)
    posts = models.BigIntegerField(null=True, blank=True, help_text="Lifetime total of posts.")
    likes = models.BigIntegerField(null=True, blank=True)
    comments = models.BigIntegerField(null=True, blank=True)
    shares = models.BigIntegerField(null=True, blank=True)
    views = models.BigIntegerField(null=True, blank=True)
    engagement = models.GeneratedField(
        expression=_engagement_expression(),
        output_field=models.BigIntegerField(null=True),
        db_persist=True,
        verbose_name="engagement total",
    )
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.MANUAL)
    precision = models.CharField(max_length=8, choices=Precision.choices, default=Precision.EXACT)
    collected_at = models.DateTimeField(default=timezone.now)
    #: Why the day's follower count is implausible (`snapshots.anomalies`), or null when it is not.
    #: Computed by the write services; the stored values themselves are never altered.
    anomaly_reason = models.CharField(max_length=200, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-date", "account_id"]
        get_latest_by = "date"
        constraints = [
            # Its index (account_id, date) also serves "one account's history" and
            # "latest per account" (read backwards), so no second index on those columns.
            models.UniqueConstraint(fields=["account", "date"], name="snapshot_account_date_unique"),
        ]
        indexes = [
            # "All accounts on a date" and the grid's newest-first order.
            models.Index(fields=["-date", "account"], name="snapshot_date_account_idx"),
            # /api/anomalies: the few flagged days, newest first.
            models.Index(
                fields=["-date"], condition=Q(anomaly_reason__isnull=False), name="snapshot_anomaly_date_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} on {self.date}"


class AccountLatest(models.Model):
    """Each account's latest snapshot values and follower growth, kept by the write services.

    Maintained in the same transaction as the snapshots it summarises, so "latest of every
    account" and "order by 7-day growth" never scan the snapshot table. Growth over N days
    compares the latest followers with the account's snapshot N days before the latest day (or
    the nearest earlier day with a follower count, at most GROWTH_TOLERANCE_DAYS earlier).
    `rebuild_latest` recomputes every row from the snapshots.
    """

    account = models.OneToOneField(Account, on_delete=models.CASCADE, primary_key=True, related_name="latest")
    date = models.DateField()
    followers = models.BigIntegerField(null=True)
    following = models.BigIntegerField(null=True)
    posts = models.BigIntegerField(null=True)
    likes = models.BigIntegerField(null=True)
    comments = models.BigIntegerField(null=True)
    shares = models.BigIntegerField(null=True)
    views = models.BigIntegerField(null=True)
    engagement = models.BigIntegerField(null=True)
    #: The latest day's engagement / followers (`snapshots.engagement`), or null.
    engagement_rate = models.FloatField(null=True)
    precision = models.CharField(max_length=8, choices=Precision.choices, default=Precision.EXACT)
    #: The latest day's anomaly (as on its snapshot), or null.
    anomaly_reason = models.CharField(max_length=200, null=True, blank=True)
    followers_change_1d = models.BigIntegerField(null=True)
    followers_change_7d = models.BigIntegerField(null=True)
    followers_change_30d = models.BigIntegerField(null=True)
    followers_change_pct_1d = models.FloatField(null=True)
    followers_change_pct_7d = models.FloatField(null=True)
    followers_change_pct_30d = models.FloatField(null=True)
    #: The row's part of the /api/summary JSON object, pre-rendered by the write services:
    #: ``"followers":N,"engagement":N,"engagement_rate":F,"posts":N,"date":"YYYY-MM-DD","anomaly":B,``
    #: ``"anomaly_reason":S``.
    summary_json = models.TextField(default="", editable=False)
    #: The account's whole /api/summary object as JSONRenderer writes it: its platform, handle and
    #: organization's name, then `summary_json`. The uncached summary is these texts joined in
    #: `summary_key` order, read from this table alone. The write services keep it and the two
    #: fields below with the values; database triggers (migration 0009) keep them on every change of
    #: an account's platform, handle, organization or activity and of an organization's name,
    #: whichever path makes the change.
    summary_object = models.TextField(default="", editable=False)
    #: The summary's order: platform, a space, handle. No platform name has a character below a
    #: space, so comparing this text by code point (COLLATE "C") orders by platform, then handle.
    summary_key = models.TextField(default="", editable=False)
    #: The account's `is_active`, so that the summary reads no other table.
    is_active = models.BooleanField(default=True, editable=False)

    class Meta:
        verbose_name = "latest values"
        verbose_name_plural = "latest values"
        indexes = [
            models.Index(fields=["followers"], name="latest_followers_idx"),
            models.Index(fields=["followers_change_7d"], name="latest_change_7d_idx"),
            models.Index(fields=["date"], name="latest_date_idx"),
        ]

    def __str__(self) -> str:
        return f"latest of {self.account_id} ({self.date})"


class SnapshotDateCount(models.Model):
    """How many snapshots each date has: the unfiltered grid's total and where its pages start.

    Written only by database triggers on the snapshot table (migration 0003), so it is exact after
    every kind of write: the upsert service, COPY, bulk and cascading deletes, a save that moves a
    snapshot to another day, TRUNCATE. On PostgreSQL a transaction's changes wait in
    `SnapshotDateCountChange` and reach this table as it commits; on SQLite (one writer at a time)
    the triggers update it directly. `manage.py rebuild_grid_counts` recomputes it, and the
    per-platform counts.
    """

    date = models.DateField(primary_key=True)
    snapshot_count = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.snapshot_count} snapshots on {self.date}"


class SnapshotDateCountChange(models.Model):
    """PostgreSQL: what an open transaction added (+) to or removed (-) from a date's snapshots.

    One row per write statement and date, tagged with the transaction's id and visible only to it
    until its commit, when a deferred trigger folds its rows into `SnapshotDateCount` in one
    statement (dates in order) and deletes them. So concurrent writers never wait on each other
    before they commit, and a long import never updates a count twice (updating one row N times
    in one transaction costs O(N^2) in PostgreSQL). Empty between transactions.
    """

    txid = models.BigIntegerField()
    date = models.DateField()
    change = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["txid"], name="snapshot_date_change_txid_idx")]

    def __str__(self) -> str:
        return f"{self.change:+} snapshots on {self.date} (transaction {self.txid})"


class SnapshotPlatformCount(models.Model):
    """How many snapshots each (date, platform) has: a platform-filtered grid's total and pages, and
    where each platform's rows start inside a date.

    Kept exactly as `SnapshotDateCount` is, by database triggers (migration 0008): on the snapshot
    table for every write, and on the account table for a change of platform. On PostgreSQL a
    transaction's changes wait in `SnapshotPlatformCountChange` until its commit.
    """

    date = models.DateField()
    platform = models.CharField(max_length=20)
    snapshot_count = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["date", "platform"], name="snapshot_platform_count_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.snapshot_count} snapshots of {self.platform} on {self.date}"


class SnapshotPlatformCountChange(models.Model):
    """PostgreSQL: what an open transaction added to or removed from a (date, platform)'s snapshots,
    folded into `SnapshotPlatformCount` as it commits (as `SnapshotDateCountChange` is)."""

    txid = models.BigIntegerField()
    date = models.DateField()
    platform = models.CharField(max_length=20)
    change = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["txid"], name="snapshot_platform_change_txid")]

    def __str__(self) -> str:
        return f"{self.change:+} snapshots of {self.platform} on {self.date} (transaction {self.txid})"


class GridBucket(models.Model):
    """Where a bucket of one platform's accounts starts: the accounts of `platform` whose handle sorts
    from `first_handle` up to the next bucket's first handle. An account before every bucket of its
    platform is in the bucket named "" (kept in no row). Buckets split as accounts are added
    (`snapshots.grid_buckets`); a rename or a new account never moves a boundary."""

    platform = models.CharField(max_length=20)
    first_handle = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "first_handle"], name="grid_bucket_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.platform} accounts from {self.first_handle!r}"


class SnapshotBucketCount(models.Model):
    """How many snapshots each (date, platform, bucket of accounts) has: where a deep grid page's rows
    start inside one platform's day, without walking the accounts before them.

    Kept exactly as `SnapshotPlatformCount` is, by database triggers (migration 0010): on the snapshot
    table for every write, on the account table for a change of platform or handle. On PostgreSQL a
    transaction's changes wait in `SnapshotBucketCountChange` until its commit.
    """

    date = models.DateField()
    platform = models.CharField(max_length=20)
    bucket = models.CharField(max_length=255)
    snapshot_count = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["date", "platform", "bucket"], name="snapshot_bucket_count_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.snapshot_count} snapshots of {self.platform} from {self.bucket!r} on {self.date}"


class SnapshotBucketCountChange(models.Model):
    """PostgreSQL: what an open transaction added to or removed from a (date, platform, bucket)'s
    snapshots, folded into `SnapshotBucketCount` as it commits."""

    txid = models.BigIntegerField()
    date = models.DateField()
    platform = models.CharField(max_length=20)
    bucket = models.CharField(max_length=255)
    change = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["txid"], name="snapshot_bucket_change_txid")]

    def __str__(self) -> str:
        where = f"{self.platform} from {self.bucket!r} on {self.date}"
        return f"{self.change:+} snapshots of {where} (transaction {self.txid})"


class PostType(models.TextChoices):
    POST = "post", "Post"
    REPLY = "reply", "Reply"
    REPOST = "repost", "Repost"
    VIDEO = "video", "Video"
    SHORT = "short", "Short video"
    LINK = "link", "Link"
    OTHER = "other", "Other"


class Post(models.Model):
    """One of an account's posts with its latest counts, upserted by collection per (account, post id).

    Counts are lifetime totals as of `updated_at`; unknown is null, never 0 (Reddit shows no shares
    or views, Mastodon no views). `text` is a plain-text excerpt, at most TEXT_LENGTH characters.
    """

    TEXT_LENGTH = 500

    # No index of its own: the (account, platform_post_id) unique index starts with it.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="platform_posts", db_index=False
    )
    platform_post_id = models.CharField("platform post id", max_length=255)
    url = models.URLField(max_length=1000, blank=True)
    post_type = models.CharField(max_length=10, choices=PostType.choices, default=PostType.POST)
    text = models.CharField(max_length=TEXT_LENGTH, blank=True)
    published_at = models.DateTimeField()
    likes = models.BigIntegerField(null=True, blank=True)
    comments = models.BigIntegerField(null=True, blank=True)
    shares = models.BigIntegerField(null=True, blank=True)
    views = models.BigIntegerField(null=True, blank=True)
    engagement = models.GeneratedField(
        expression=_engagement_expression(),
        output_field=models.BigIntegerField(null=True),
        db_persist=True,
        verbose_name="engagement total",
    )
    #: When the post was first collected; `updated_at` is when its counts were last refreshed.
    collected_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-published_at", "id"]
        get_latest_by = "published_at"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "platform_post_id"], name="post_account_platform_id_unique"
            ),
        ]
        indexes = [
            # One account's posts in a date range (the account page's top posts, ?handle=&since=):
            # the range is read from this index and its few rows sorted by engagement.
            models.Index(fields=["account", "-published_at"], name="post_account_published_idx"),
            # /api/posts?since= across accounts, newest first.
            models.Index(fields=["-published_at"], name="post_published_idx"),
        ]

    def __str__(self) -> str:
        return f"post {self.platform_post_id} of account {self.account_id}"
