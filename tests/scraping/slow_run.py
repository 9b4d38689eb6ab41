"""A collection run that takes its time (0.05 s an account, a batch written every 5), for the tests
that kill its process mid-run: `python -m tests.scraping.slow_run`, with `runs.process_env()`."""

import os

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialmetrics.settings.test")
    django.setup()
    from collections import Counter

    from scraping import runner
    from tests.scraping.runs import factory_with

    runner.FLUSH_ACCOUNTS = 5
    log = {"running": Counter(), "peak": Counter(), "order": []}
    runner.collect(options=runner.RunOptions(workers=1), collector_factory=factory_with(log, delay=0.05))


if __name__ == "__main__":
    main()
