from rest_framework import serializers

from accounts.models import Platform
from scraping.models import CollectionRun, RunMode
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


class JobStatusSerializer(serializers.ModelSerializer):
    """A run's record as the dashboard polls it."""

    job_id = serializers.IntegerField(source="pk")
    total = serializers.IntegerField(source="accounts_total")
    done = serializers.IntegerField(source="accounts_done")
    succeeded = serializers.IntegerField(source="accounts_succeeded")
    failed = serializers.IntegerField(source="accounts_failed")
    skipped = serializers.IntegerField(source="accounts_skipped")
    rate = serializers.SerializerMethodField(help_text="Accounts per second so far.")
    eta = serializers.SerializerMethodField(
        help_text="Seconds left at the current rate (null when unknown, and for a failed or interrupted run)."
    )
    errors = serializers.SerializerMethodField()

    class Meta:
        model = CollectionRun
        fields = [
            "job_id", "status", "mode", "date", "total", "done", "succeeded", "failed", "skipped",
            "rate", "eta", "started_at", "finished_at", "duration_seconds", "message", "by_platform",
            "errors",
        ]  # fmt: skip

    def get_rate(self, run: CollectionRun) -> float | None:
        return self.context["progress"]["rate"]

    def get_eta(self, run: CollectionRun) -> float | None:
        return self.context["progress"]["eta"]

    def get_errors(self, run: CollectionRun) -> list[dict]:
        return self.context["errors"]


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
