"""Records of collection runs and of each account's outcome in a run."""

from django.db import models
from django.utils import timezone

from accounts.models import Account


class RunMode(models.TextChoices):
    SIMULATED = "simulated", "Simulated"
    REAL = "real", "Real (platform APIs)"


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    INTERRUPTED = "interrupted", "Interrupted"
    CANCELLED = "cancelled", "Cancelled"


class CollectionRun(models.Model):
    mode = models.CharField(max_length=10, choices=RunMode.choices, default=RunMode.SIMULATED)
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.PENDING)
    date = models.DateField(null=True, blank=True, help_text="The calendar day collected.")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    accounts_total = models.PositiveIntegerField(default=0)
    accounts_succeeded = models.PositiveIntegerField(default=0)
    accounts_failed = models.PositiveIntegerField(default=0)
    accounts_skipped = models.PositiveIntegerField(default=0)
    duration_seconds = models.FloatField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of the run.")
    #: The collection lock's token while the run holds it: only a lock held under it is freed for it.
    lock_token = models.CharField(max_length=64, blank=True, editable=False)
    options = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    #: Per platform: {"x": {"succeeded": n, "failed": n, "skipped": n, "deferred": n}}.
    by_platform = models.JSONField(default=dict, blank=True)
    #: Per platform, as the run starts: {"x": {"accounts": n, "requests": n, "key": "x"}}: the requests
    #: it needs on its rate-limit key ("key"; for Mastodon, on its busiest instance), for the ETA.
    planned = models.JSONField(default=dict, blank=True, editable=False)
    #: Set by a cancel (API, admin): the run stops before its next batch, keeps what it collected and
    #: ends "cancelled".
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(max_length=150, blank=True, help_text="Who asked to cancel the run.")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["-started_at"], name="run_started_idx")]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.mode}, {self.status})"

    @property
    def accounts_done(self) -> int:
        return self.accounts_succeeded + self.accounts_failed + self.accounts_skipped

    @property
    def is_active(self) -> bool:
        return self.status in (RunStatus.PENDING, RunStatus.RUNNING)

    @property
    def accounts_per_second(self) -> float | None:
        if not self.duration_seconds:
            return None
        return round(self.accounts_done / self.duration_seconds, 1)


class OutcomeStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    DEFERRED = "deferred", "Deferred to a later run"


class CollectionOutcome(models.Model):
    # No index of its own: the (run, account) unique index starts with it.
    run = models.ForeignKey(CollectionRun, on_delete=models.CASCADE, related_name="outcomes", db_index=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="collection_outcomes")
    status = models.CharField(max_length=10, choices=OutcomeStatus.choices)
    error_message = models.TextField(blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["run", "account"]
        constraints = [
            models.UniqueConstraint(fields=["run", "account"], name="outcome_run_account_unique"),
        ]
        indexes = [models.Index(fields=["run", "status"], name="outcome_run_status_idx")]

    def __str__(self) -> str:
        return f"{self.account_id} in run {self.run_id}: {self.status}"


class BatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled before a worker took it up"


class CollectionBatch(models.Model):
    """One task of a run spread over Celery workers: some accounts of one platform. The run ends in
    the transaction that marks its last batch done or failed."""

    # No index of its own: the (run, index) unique index starts with it.
    run = models.ForeignKey(CollectionRun, on_delete=models.CASCADE, related_name="batches", db_index=False)
    index = models.PositiveIntegerField()
    platform = models.CharField(max_length=20)
    account_ids = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=BatchStatus.choices, default=BatchStatus.PENDING)
    #: How many times a worker took it up (more than once: redelivered or retried).
    attempts = models.PositiveSmallIntegerField(default=0)
    #: The batch's outcomes by status, once done: {"succeeded": n, "failed": n, ...}.
    counts = models.JSONField(default=dict, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="The worker that finished it.")
    message = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="batch_run_index_unique"),
        ]

    def __str__(self) -> str:
        return f"batch {self.index} of run {self.run_id} ({self.platform}, {self.status})"
