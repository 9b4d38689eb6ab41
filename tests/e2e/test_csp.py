"""Every page works under the Content-Security-Policy: its scripts run, its charts draw, and the
browser reports no violation (no inline script or style, nothing from another origin)."""

from __future__ import annotations

import pytest

from accounts.models import Account

from .browser import sign_in

pytestmark = pytest.mark.e2e

# (path, a selector that only the page's own JavaScript makes appear)
PAGES = [
    ("/", '#totals[aria-busy="false"] .card'),
    ("/grid/", '#grid-body[aria-busy="false"] tr'),
    ("/upload", "#upload-form"),
    ("/api/docs", ".swagger-ui .info"),
    ("/api/summary", "body"),  # REST framework's browsable page (its own static scripts)
    ("/admin/", "#content"),
    ("/admin/password_change/", "#content form"),  # a staff user without model permissions
]


def _watch(page) -> list[str]:
    violations: list[str] = []

    def record(message) -> None:
        if "Content Security Policy" in message.text:
            violations.append(f"{page.url}: {message.text} ({message.location})")

    page.on("console", record)
    return violations


def test_every_page_runs_its_scripts_under_the_policy(pages, staff_user):
    account = Account.objects.order_by("pk").first()
    page = pages.new()
    violations = _watch(page)
    sign_in(page, "editor")
    for path, ready in [*PAGES, (f"/accounts/{account.platform}/{account.handle}/", "canvas")]:
        response = page.goto(path)
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_selector(ready, state="attached")
        page.wait_for_load_state("networkidle")
    # Compare: the chosen accounts' colour swatches are styled from JavaScript (through the CSSOM).
    page.goto("/compare/")
    page.locator("#compare-search").fill("a")
    page.locator("#compare-results button.result:not([disabled])").first.click()
    page.wait_for_function("() => document.getElementById('compare-chart').dataset.series === '1'")
    swatch = page.locator("#picked .swatch").first
    assert swatch.evaluate("node => getComputedStyle(node).backgroundColor") != "rgba(0, 0, 0, 0)"
    # REST framework's browsable API puts a few float/clear style="" attributes in its own templates:
    # the policy refuses them, which moves two buttons and changes nothing else on that page.
    assert not [v for v in violations if not (v.startswith(f"{pages.base_url}/api/summary") and "style" in v)]


def test_the_policy_blocks_an_injected_inline_script(pages):
    page = pages.new()
    violations = _watch(page)
    page.goto("/")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = true';"
        " document.body.append(s); }"
    )
    assert page.evaluate("() => window.__ran === undefined")
    assert violations
