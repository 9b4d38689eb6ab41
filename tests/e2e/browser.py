"""What the browser tests share: the Chromium to drive, window sizes, signing in, screenshots."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "e2e"
PASSWORD = "a-long-test-password"


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def sign_in(page, username: str, *, next_path: str = "/"):
    """Sign in through the login form (templates/registration/login.html)."""
    page.goto(f"/login/?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # The login address itself ends with ?next=<path>: wait for the path, not a glob.
    page.wait_for_url(lambda url: urlsplit(url).path == next_path)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def number(page, value) -> str:
    """`value` as the page's locale writes it (the pages format with Intl and no fixed locale)."""
    return page.evaluate("(value) => new Intl.NumberFormat().format(value)", value)


def compact(page, value) -> str:
    """`value` in the page's locale's short form ("58.6M", "58,6 Mio."); the exact number where the
    locale has no short word for it (de-DE writes 4.497, not 4,5 Tsd.)."""
    return page.evaluate(
        """(value) => {
          const parts = new Intl.NumberFormat(undefined, {notation: 'compact', maximumFractionDigits: 1})
            .formatToParts(value);
          return Math.abs(value) >= 1000 && parts.some((p) => p.type === 'compact')
            ? parts.map((p) => p.value).join('') : new Intl.NumberFormat().format(value);
        }""",
        value,
    )


def parse_number(page, text: str) -> int:
    """A whole number as the page's locale writes it ("345,083", "345.083", "345 083") read back."""
    group = page.evaluate(
        "() => new Intl.NumberFormat().formatToParts(1e6).find((p) => p.type === 'group')?.value ?? ''"
    )
    return int(text.strip().replace(group, "").replace("\u2212", "-"))


def day_text(page, iso: str) -> str:
    """A calendar day as the page's locale writes it ("Mar 1, 2026", "01.03.2026")."""
    return page.evaluate(
        "(iso) => new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeZone: 'UTC'})"
        ".format(new Date(iso + 'T00:00:00Z'))",
        str(iso),
    )


def api(page, path: str):
    """GET an API path with the page's session (and so its role), as JSON."""
    response = page.request.get(path)
    assert response.ok, f"{path}: {response.status} {response.text()[:200]}"
    return response.json()
