"""Browser tests: headless Chromium (Debian's `chromium`, driven by Playwright from PyPI) against the
app served by pytest-django's live server, with the demo data set.

Where no browser can be had the tests are skipped with the reason, except in CI (CI set, or
TEST_SERVICES=1), where a missing browser is a failure. `make test` installs Chromium with apt where
it is missing and the machine allows it. Screenshots go to test-output/e2e/. The pages run in the
browser's own locale unless E2E_LOCALE names one (E2E_LOCALE=de-DE): the tests expect numbers and
dates written the way that locale writes them.
"""

from __future__ import annotations

import io
import os

import pytest
from django.core.management import call_command

from .browser import CHROMIUM_ARGS, DESKTOP, PASSWORD, chromium_path

BROWSER_REQUIRED = bool(os.environ.get("CI") or os.environ.get("TEST_SERVICES") == "1")


def _unavailable(reason: str):
    if BROWSER_REQUIRED:
        pytest.fail(f"{reason} (a browser is required in CI and with TEST_SERVICES=1)", pytrace=False)
    pytest.skip(f"{reason}; `make test` installs it with apt where it can (sudo apt-get install chromium)")


@pytest.fixture(scope="package")
def browser():
    """Chromium for the tests of this package, stopped after the last of them.

    Playwright's sync API keeps an asyncio loop on the test thread while it runs, so Django would
    take the fixtures' (synchronous, safe) ORM calls for calls from async code: the variable that
    says they are safe is set only while the browser is up, never for the rest of the suite.
    """
    executable = chromium_path()
    if executable is None:
        _unavailable("no Chromium at /usr/bin/chromium (or CHROMIUM_PATH)")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"Playwright is not installed ({exc})")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        manager = sync_playwright().start()
        try:
            try:
                launched = manager.chromium.launch(
                    executable_path=executable, args=CHROMIUM_ARGS, headless=True
                )
            except PlaywrightError as exc:
                _unavailable(f"Chromium at {executable} did not start: {str(exc).splitlines()[0]}")
            yield launched
            launched.close()
        finally:
            manager.stop()


@pytest.fixture
def demo_data(transactional_db):
    """30 demo accounts x 60 days of history ending today (a few days are missing, as in real data)."""
    call_command("seed_demo", "--accounts", "30", "--days", "60", stdout=io.StringIO())


class Pages:
    """Opens pages of the live server in fresh browser contexts and records what went wrong in them."""

    def __init__(self, browser, base_url: str):
        self.browser = browser
        self.base_url = base_url
        self.contexts = []
        self.errors: list[str] = []

    def new(self, *, viewport: dict = DESKTOP, **options):
        """A page in a fresh context; `options` go to the context (locale, color_scheme...)."""
        options.setdefault("locale", os.environ.get("E2E_LOCALE") or None)
        context = self.browser.new_context(viewport=viewport, base_url=self.base_url, **options)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        return page

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def empty_pages(browser, live_server, transactional_db):
    """Pages of a site with no data at all."""
    opened = Pages(browser, live_server.url)
    yield opened
    opened.close()
    assert not opened.errors, f"JavaScript errors in the pages: {opened.errors}"


@pytest.fixture
def pages(empty_pages, demo_data):
    """Pages of the site with the demo data."""
    return empty_pages


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(username="editor", password=PASSWORD, is_staff=True)


@pytest.fixture
def plain_user(django_user_model):
    return django_user_model.objects.create_user(username="reader", password=PASSWORD)
