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


def api(page, path: str):
    """GET an API path with the page's session (and so its role), as JSON."""
    response = page.request.get(path)
    assert response.ok, f"{path}: {response.status} {response.text()[:200]}"
    return response.json()
