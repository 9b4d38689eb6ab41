from django.apps import AppConfig


class ScrapingConfig(AppConfig):
    name = "scraping"
    verbose_name = "Collection"

    def ready(self) -> None:
        from socialmetrics import metrics

        from . import checks  # noqa: F401  (registers the collection settings' checks)
        from .metrics import RunCollector

        metrics.register_collector(RunCollector())
