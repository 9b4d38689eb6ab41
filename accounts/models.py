"""Tracked accounts and the organizations they belong to."""

from django.db import models
from django.db.models.functions import Lower


class Platform(models.TextChoices):
    X = "x", "X"
    FACEBOOK = "facebook", "Facebook"
    INSTAGRAM = "instagram", "Instagram"
    LINKEDIN = "linkedin", "LinkedIn"
    YOUTUBE = "youtube", "YouTube"
    TIKTOK = "tiktok", "TikTok"
    THREADS = "threads", "Threads"
    BLUESKY = "bluesky", "Bluesky"
    MASTODON = "mastodon", "Mastodon"
    REDDIT = "reddit", "Reddit"
    TWITCH = "twitch", "Twitch"
    GITHUB = "github", "GitHub"
    TRUTH_SOCIAL = "truth_social", "Truth Social"
    FLICKR = "flickr", "Flickr"


class Organization(models.Model):
    name = models.CharField(max_length=200)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="organization_name_ci_unique",
                violation_error_message="An organization with this name already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    platform = models.CharField(max_length=20, choices=Platform.choices)
    handle = models.CharField(
        max_length=255,
        help_text="The account's name on its platform, without '@'. Mastodon: name@instance.",
    )
    display_name = models.CharField(max_length=255, blank=True)
    profile_url = models.URLField(max_length=500, blank=True)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="accounts"
    )
    is_core = models.BooleanField(
        "core account", default=False, help_text="Core accounts are collected first."
    )
    is_active = models.BooleanField(default=True, help_text="Inactive accounts are not collected.")
    external_id = models.CharField(
        "platform account id",
        max_length=255,
        null=True,
        blank=True,
        help_text="The platform's own id (a Bluesky DID, a YouTube channel id...).",
    )
    instance_host = models.CharField(
        max_length=255, blank=True, help_text="Server of a Mastodon-like account (e.g. mastodon.social)."
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["platform", "handle"]
        constraints = [
            models.UniqueConstraint(
                "platform",
                Lower("handle"),
                name="account_platform_handle_ci_unique",
                violation_error_message="This platform already has an account with this handle.",
            ),
        ]
        indexes = [
            models.Index(fields=["platform"], name="account_platform_idx"),
            models.Index(fields=["handle"], name="account_handle_idx"),
            models.Index(fields=["platform", "handle"], name="account_platform_handle_idx"),
            models.Index(fields=["is_core", "platform"], name="account_core_platform_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} @{self.handle}"

    @property
    def key(self) -> str:
        """A stable name for the account across databases: ``platform:handle``."""
        return f"{self.platform}:{self.handle.lower()}"


class AccountCount(models.Model):
    """How many accounts there are: the account list's total, without counting them (a count of
    100,000 accounts reads 100,000 index entries, 8 to 13 ms, on every uncached page).

    Written only by database triggers on the account table (migration 0003), so it is exact after
    every kind of write: the admin, imports, bulk and cascading deletes, TRUNCATE. On PostgreSQL a
    transaction's changes wait in `AccountCountChange` and reach this row as it commits (writers
    that add accounts at once never wait on each other); on SQLite the triggers update it directly.
    `manage.py rebuild_grid_counts` recomputes it.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    account_count = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.account_count} accounts"


class AccountCountChange(models.Model):
    """A change of `AccountCount` by a transaction still open (PostgreSQL): the rows it added or
    removed, folded into the count as it commits. Only that transaction sees its rows."""

    txid = models.BigIntegerField()
    change = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["txid"], name="account_count_change_txid_idx")]

    def __str__(self) -> str:
        return f"{self.change:+d} accounts in transaction {self.txid}"
