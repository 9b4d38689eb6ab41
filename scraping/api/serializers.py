from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Platform
from scraping.models import CollectionRun, OutcomeStatus, RunMode
from socialmetrics.api.errors import ErrorDetailSerializer


class RunRequestSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=RunMode.choices, default=RunMode.SIMULATED)
    platforms = serializers.ListField(child=serializers.ChoiceField(choices=Platform.choices), default=list)
    accounts = serializers.ListField(child=serializers.IntegerField(min_value=1), default=list)
    core_only = serializers.BooleanField(default=False)


class RunStartedSerializer(serializers.Serializer):
    job_id = serializers.IntegerField()
    status = serializers.CharField()
    account_count = serializers.IntegerField()


class RunConflictSerializer(serializers.Serializer):
    """409: a run is going; `run_id` is that run (follow it at /api/job-status/<run_id>)."""

    error = ErrorDetailSerializer()
    run_id = serializers.IntegerField(
        allow_null=True, help_text="The run in progress (null while it starts)."
    )


class RateLimitSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    seconds = serializers.FloatField(help_text="The window the requests are counted in.")


class PlatformProgressSerializer(serializers.Serializer):
    """One platform of a run: how far it has got and what bounds its time left."""

    platform = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    remaining = serializers.IntegerField()
    eta = serializers.FloatField(
        allow_null=True,
        help_text="Seconds its rate-limit key has left (null: not known yet, or the run has ended).",
    )
    rate_limit = serializers.SerializerMethodField(help_text="Its rate-limit key's budget (real mode).")
    defers_beyond_budget = serializers.BooleanField(
        help_text="The budget's window is longer than the run's --max-wait: what the budget does not "
        "cover is deferred to a later run instead of waited for."
    )

    @extend_schema_field(RateLimitSerializer(allow_null=True))
    def get_rate_limit(self, progress) -> dict | None:
        if progress.rate_limit is None:
            return None
        requests, seconds = progress.rate_limit
        return {"requests": requests, "seconds": seconds}


class SkipReasonSerializer(serializers.Serializer):
    platform = serializers.CharField()
    status = serializers.ChoiceField(choices=[OutcomeStatus.SKIPPED, OutcomeStatus.DEFERRED])
    reason = serializers.CharField()
    count = serializers.IntegerField(help_text="Accounts skipped or deferred for this reason.")


class RunProgressSerializer(serializers.ModelSerializer):
    """A run's record with its pace and time left (scraping.progress: from the platforms' rate limits
    and the observed pace in real mode, from the pace in simulated mode). The context gives
    `estimate` and `staff` (whether the caller may see who cancelled it)."""

    job_id = serializers.IntegerField(source="pk")
    total = serializers.IntegerField(source="accounts_total")
    done = serializers.IntegerField(source="accounts_done")
    succeeded = serializers.IntegerField(source="accounts_succeeded")
    failed = serializers.IntegerField(source="accounts_failed")
    skipped = serializers.IntegerField(source="accounts_skipped")
    rate = serializers.SerializerMethodField(help_text="Accounts per second so far.")
    eta = serializers.SerializerMethodField(
        help_text="Seconds left (null when unknown, and for a run that ended other than completed)."
    )
    eta_basis = serializers.SerializerMethodField(
        help_text='What bounds the time left: "rate_limits" (a platform\'s request budget), "pace" (the '
        'pace observed so far), or "" when nothing is left or it is unknown.'
    )
    platforms = serializers.SerializerMethodField(help_text="Per platform, as planned when the run started.")
    requested_platforms = serializers.SerializerMethodField(
        help_text="The platforms the run was asked to collect (empty: every platform)."
    )
    cancel_requested = serializers.SerializerMethodField()
    cancelled_by = serializers.SerializerMethodField(
        help_text="Who asked to cancel it (staff only; else empty)."
    )

    class Meta:
        model = CollectionRun
        fields = [
            "job_id", "status", "mode", "date", "total", "done", "succeeded", "failed", "skipped",
            "rate", "eta", "eta_basis", "started_at", "finished_at", "duration_seconds", "message",
            "by_platform", "platforms", "requested_platforms", "cancel_requested", "cancel_requested_at",
            "cancelled_by",
        ]  # fmt: skip

    def get_rate(self, run: CollectionRun) -> float | None:
        return self.context["estimate"].rate

    def get_eta(self, run: CollectionRun) -> float | None:
        return self.context["estimate"].eta

    def get_eta_basis(self, run: CollectionRun) -> str:
        return self.context["estimate"].basis

    @extend_schema_field(PlatformProgressSerializer(many=True))
    def get_platforms(self, run: CollectionRun) -> list[dict]:
        return PlatformProgressSerializer(self.context["estimate"].platforms, many=True).data

    def get_requested_platforms(self, run: CollectionRun) -> list[str]:
        return list((run.options or {}).get("platforms") or [])

    def get_cancel_requested(self, run: CollectionRun) -> bool:
        return run.cancel_requested_at is not None

    def get_cancelled_by(self, run: CollectionRun) -> str:
        return run.cancelled_by if self.context.get("staff") else ""


class JobStatusSerializer(RunProgressSerializer):
    """A run's record as the dashboard polls it: its progress, failures and skip reasons."""

    errors = serializers.SerializerMethodField()
    skip_reasons = serializers.SerializerMethodField(
        help_text="Why accounts were skipped or deferred, grouped, the most frequent first (at most 20)."
    )

    class Meta(RunProgressSerializer.Meta):
        fields = [*RunProgressSerializer.Meta.fields, "errors", "skip_reasons"]

    def get_errors(self, run: CollectionRun) -> list[dict]:
        return self.context["errors"]

    @extend_schema_field(SkipReasonSerializer(many=True))
    def get_skip_reasons(self, run: CollectionRun) -> list[dict]:
        return self.context["skip_reasons"]


class LatestRunSerializer(serializers.Serializer):
    """The newest run, whoever started it (the API, the command line, the schedule)."""

    run = RunProgressSerializer(allow_null=True, help_text="Null before the first run.")


class LastRunSerializer(serializers.ModelSerializer):
    job_id = serializers.IntegerField(source="pk")
    succeeded = serializers.IntegerField(source="accounts_succeeded")
    failed = serializers.IntegerField(source="accounts_failed")
    skipped = serializers.IntegerField(source="accounts_skipped")

    class Meta:
        model = CollectionRun
        fields = [
            "job_id",
            "status",
            "mode",
            "date",
            "started_at",
            "finished_at",
            "succeeded",
            "failed",
            "skipped",
        ]


class ScheduleSerializer(serializers.Serializer):
    """The daily collection: its schedule, its next run and the last run that ended."""

    enabled = serializers.BooleanField()
    description = serializers.CharField(help_text='e.g. "every day at 06:00 (Europe/Berlin)".')
    next_run_at = serializers.DateTimeField(allow_null=True, help_text="Null while the schedule is off.")
    last_run = LastRunSerializer(allow_null=True)


class AccountGapSerializer(serializers.Serializer):
    account_id = serializers.IntegerField()
    platform = serializers.CharField()
    handle = serializers.CharField()
    missing_count = serializers.SerializerMethodField()
    missing_days = serializers.ListField(source="missing", child=serializers.DateField())

    def get_missing_count(self, gap) -> int:
        return len(gap.missing)


class GapsPaginationSerializer(serializers.Serializer):
    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    total = serializers.IntegerField()
    pages = serializers.IntegerField()
    days = serializers.IntegerField(help_text="The window: this many days back, today included.")


class GapsPageSerializer(serializers.Serializer):
    data = AccountGapSerializer(many=True)
    pagination = GapsPaginationSerializer()
