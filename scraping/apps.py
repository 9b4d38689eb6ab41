from django.apps import AppConfig


class ScrapingConfig(AppConfig):
    name = "scraping"
    verbose_name = "Collection"

    def ready(self) -> None:
        from socialmetrics import metrics

        from .metrics import RunCollector

        metrics.register_collector(RunCollector())
