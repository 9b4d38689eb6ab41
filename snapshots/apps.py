from django.apps import AppConfig


class SnapshotsConfig(AppConfig):
    name = "snapshots"
    verbose_name = "Daily metrics"

    def ready(self) -> None:
        from . import signals  # noqa: F401
