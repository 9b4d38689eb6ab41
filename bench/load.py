"""Mixed load with writes: anonymous readers keep every cache warm while staff write, and every write
is read back at once. Nobody may see a 5xx, and nobody may see a value older than the last write.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/socialmetrics_load REDIS_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python bench/load.py --duration 60 [--accounts 300 --days 60] \\
            [--json bench/results/load.json]

PostgreSQL and Redis only: several gunicorn workers answer, so they must share one cache (with the
embedded local-memory cache each process would have its own, and a write could not reach the others).

1. Data: the benchmark accounts are rewritten by bench/generate.py (`--accounts` x `--days`, ending
   today), a staff member is made (password and API token new on every run). The database must hold
   no other accounts: run it on a database of its own.
2. gunicorn serves the product on a free 127.0.0.1 port (bench/run.py's server: the production
   settings, gthread workers), and every path the readers use is read once so each is cached.
3. For `--duration` seconds, together:
   - reader processes (`--reader-processes` x `--reader-threads`, httpx, anonymous) read the summary
     (whole, per platform, totals), account list pages, single accounts, grid pages, one account's
     rows in the grid, histories, and the overview and account pages;
   - a collection writer: deletes today's snapshots of its accounts (through the snapshot service),
     starts a simulated collection of them with `POST /api/run-scraper` (staff token) and follows it
     at `/api/job-status/<id>` until it has ended;
   - an upload writer: `POST /api/upload-bulk` (staff token) with new follower counts of its accounts,
     on their latest day or an earlier one;
   - an admin writer: signs in to the Django admin (its form and CSRF token, as a browser behind the
     site's TLS proxy) and changes one snapshot's followers through the snapshot change form.
   The three writers work on accounts of their own. After each write has answered, its writer reads
   at once (anonymously, the readers' own URLs) the history, the grid and, when the account's latest
   day changed, the summary and the account: every one must show the written value (a deleted day:
   its absence). Anything else is a stale read. The admin writer reads the same as the signed-in
   staff member too, before and after each edit (the staff role's own cached entries).
4. A table, and `--json` for the raw figures: requests, 5xx and other failures per endpoint, stale
   reads with examples, the writes, and p50/p95/p99 of the readers' cached reads (all of them, hits
   only, misses only). Exit status 1 when there was any 5xx, stale read or failed request, or when a
   kind of write never happened; 2 when the tool refuses to run.

Everything is bounded: loopback only, a fixed number of readers and writers, the data set's size
(`--accounts` at most 5,000, `--days` at most 400), and a duration of at most an hour. Every process
it starts is stopped before it exits. Figures on a shared machine are indicative.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.generate import BENCH_PREFIX  # noqa: E402
from bench.run import Bench, configure_environment, percentile  # noqa: E402

STAFF_USERNAME = "load-staff"
#: Follower counts the writers write: far above anything generated or simulated, and each new, so a
#: read showing the value before the write can never be mistaken for the write.
UPLOAD_BASE = 900_000_000
ADMIN_BASE = 800_000_000
MAX_ACCOUNTS = 5_000
MAX_DAYS = 400
MAX_SECONDS = 3_600
#: Share of the readers' requests per kind of read.
READ_WEIGHTS = {
    "history": 25,
    "grid by handle": 15,
    "account": 15,
    "summary by platform": 10,
    "grid page": 10,
    "summary": 5,
    "summary totals": 5,
    "accounts page": 5,
    "page /": 5,
    "page account": 5,
}
#: How long a collection run of the writer's accounts may take before it counts as failed.
RUN_TIMEOUT = 120.0
EXAMPLES = 10


class LoadRefused(Exception):
    """The load cannot run on this backend or database; the message says why and what to do."""


class WriteFailed(Exception):
    """A write was refused or went wrong: counted as a failure, the writer goes on."""


@dataclass
class LoadOptions:
    duration: float = 60.0
    accounts: int = 300
    days: int = 60
    collect_accounts: int = 20
    upload_accounts: int = 20
    admin_accounts: int = 20
    upload_rows: int = 3
    reader_processes: int = 2
    reader_threads: int = 4
    #: Requests per second of all readers together (0: as fast as the server answers them).
    rate: float = 0.0
    #: Seconds between the starts of one writer's writes (a collection run takes what it takes).
    write_interval: float = 1.0
    workers: int = 2
    threads: int = 4
    seed: int = 7

    def problems(self) -> list[str]:
        found = []
        if not 1 <= self.duration <= MAX_SECONDS:
            found.append(f"--duration must be 1..{MAX_SECONDS} seconds")
        if not 30 <= self.accounts <= MAX_ACCOUNTS:
            found.append(f"--accounts must be 30..{MAX_ACCOUNTS}")
        if not 7 <= self.days <= MAX_DAYS:
            found.append(f"--days must be 7..{MAX_DAYS}")
        writers = (self.collect_accounts, self.upload_accounts, self.admin_accounts)
        if min(writers) < 1 or sum(writers) > self.accounts:
            found.append("each writer needs at least one account, and together no more than --accounts")
        if not 1 <= self.upload_rows <= self.upload_accounts:
            found.append("--upload-rows must be 1..--upload-accounts")
        if not (1 <= self.reader_processes <= 8 and 1 <= self.reader_threads <= 16):
            found.append("--reader-processes must be 1..8 and --reader-threads 1..16")
        if not (1 <= self.workers <= 8 and 1 <= self.threads <= 16):
            found.append("--workers must be 1..8 and --threads 1..16")
        if self.rate < 0 or self.write_interval < 0:
            found.append("--rate and --write-interval cannot be negative")
        return found


# --- The backend and the data set ------------------------------------------------------------------


def check_backends() -> None:
    """Refuse anything but PostgreSQL + Redis (LoadRefused says what to set)."""
    from django.conf import settings
    from django.db import connection

    missing = []
    if connection.vendor != "postgresql":
        missing.append("DATABASE_URL naming a PostgreSQL database (postgres://...)")
    if not settings.REDIS_URL:
        missing.append("REDIS_URL (redis://...)")
    if missing:
        raise LoadRefused(
            "the load needs PostgreSQL and Redis, because several gunicorn workers must share one "
            f"cache and one database: set {' and '.join(missing)}."
        )


@dataclass
class DataSet:
    today: str
    snapshots: int
    accounts: list[dict]
    collect: list[dict]
    upload: list[dict]
    admin: list[dict]
    staff_password: str
    staff_token: str


def prepare(*, options: LoadOptions) -> DataSet:
    """Rewrite the benchmark accounts (bench/generate.py), make the staff member, pick each writer's
    accounts. Refuses a database that holds accounts of its own."""
    import secrets

    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from accounts.models import Account
    from bench.generate import generate
    from socialmetrics import cache as generations
    from socialmetrics.api.tokens import token_rotate
    from socialmetrics.dates import local_today

    others = Account.objects.exclude(handle__startswith=BENCH_PREFIX).count()
    if others:
        raise LoadRefused(
            f"this database holds accounts that are not benchmark accounts ({others:,}); the load rewrites "
            "the data set, so run it on a database of its own (DATABASE_URL=.../socialmetrics_load)."
        )
    today = local_today()
    generated = generate(accounts=options.accounts, days=options.days, end=today)
    generations.clear_responses()  # the accounts were rewritten behind the services' back

    staff, _ = get_user_model().objects.get_or_create(
        username=STAFF_USERNAME, defaults={"email": "load-staff@example.org"}
    )
    password = secrets.token_urlsafe(18)
    # Hashed with the production hasher whatever this process's settings list (the test settings
    # list only a fast one, which the server's production settings would not accept).
    hasher = PBKDF2PasswordHasher()
    staff.password = hasher.encode(password, hasher.salt())
    staff.is_staff = staff.is_active = True
    staff.is_superuser = True  # the admin's change form of snapshots
    staff.save()
    token = token_rotate(user=staff).key

    accounts = [
        {"id": pk, "platform": platform, "handle": handle}
        for pk, platform, handle in Account.objects.filter(handle__startswith=BENCH_PREFIX)
        .order_by("pk")
        .values_list("pk", "platform", "handle")
    ]
    picked = random.Random(options.seed).sample(
        accounts, options.collect_accounts + options.upload_accounts + options.admin_accounts
    )
    first, second = options.collect_accounts, options.collect_accounts + options.upload_accounts
    return DataSet(
        today=today.isoformat(),
        snapshots=generated["snapshots"],
        accounts=accounts,
        collect=picked[:first],
        upload=picked[first:second],
        admin=picked[second:],
        staff_password=password,
        staff_token=token,
    )


# --- Paths ---------------------------------------------------------------------------------------------


def history_path(account: dict) -> str:
    return f"/api/history/{account['platform']}/{quote(account['handle'], safe='@')}"


def grid_path(account: dict, *, days: int) -> str:
    """The account's rows in the grid (all of them: one page)."""
    query = {"platform": account["platform"], "handle": account["handle"], "per_page": min(1000, days + 10)}
    return f"/api/grid?{urlencode(query)}"


def summary_path(platform: str) -> str:
    return f"/api/summary?{urlencode({'platform': platform})}"


def read_paths(*, data: DataSet, days: int, seed: int) -> dict[str, list[str]]:
    """Every path the readers read, by kind: the written accounts' own reads (so the entries a write
    must make stale are cached when it happens) and as many other accounts'."""
    written = data.collect + data.upload + data.admin
    others = [a for a in data.accounts if a not in written]
    sample = written + random.Random(seed).sample(others, min(len(others), len(written)))
    platforms = sorted({a["platform"] for a in data.accounts})
    pages = max(1, -(-len(data.accounts) // 100))
    grid_pages = min(20, max(1, -(-data.snapshots // 50)))
    return {
        "history": [history_path(a) for a in sample],
        "grid by handle": [grid_path(a, days=days) for a in sample],
        "account": [f"/api/accounts/{a['id']}" for a in sample],
        "summary by platform": [summary_path(p) for p in platforms],
        "grid page": [f"/api/grid?page={n}" for n in range(1, grid_pages + 1)],
        "summary": ["/api/summary"],
        "summary totals": ["/api/summary/totals"],
        "accounts page": [f"/api/accounts?page={n}" for n in range(1, pages + 1)],
        "page /": ["/"],
        "page account": [f"/accounts/{a['platform']}/{quote(a['handle'], safe='@')}/" for a in sample[:20]],
    }


def is_cached_read(kind: str) -> bool:
    return not kind.startswith("page ")


# --- Counting --------------------------------------------------------------------------------------------


@dataclass
class EndpointStats:
    requests: int = 0
    server_errors: int = 0  # 5xx
    failures: int = 0  # anything else unexpected: another status, no answer
    hits: int = 0
    misses: int = 0

    def add(self, other: EndpointStats) -> None:
        for name in ("requests", "server_errors", "failures", "hits", "misses"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class Tally:
    """Requests per endpoint, 5xx and other failures with examples; shared by threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.endpoints: dict[str, EndpointStats] = {}
        self.server_errors: list[dict] = []
        self.failures: list[dict] = []
        self.counts = Counter()

    def note(self, *, name: str, method: str, path: str, response=None, error: str = "", ok=(200,)) -> None:
        status = response.status_code if response is not None else None
        with self.lock:
            stats = self.endpoints.setdefault(name, EndpointStats())
            stats.requests += 1
            if response is not None:
                cache_state = response.headers.get("X-Cache")
                stats.hits += cache_state == "HIT"
                stats.misses += cache_state == "MISS"
            example = {"endpoint": name, "request": f"{method} {path}", "status": status}
            if status is not None and status >= 500:
                stats.server_errors += 1
                self.counts["server_errors"] += 1
                if len(self.server_errors) < EXAMPLES:
                    self.server_errors.append({**example, "body": response.text[:300]})
            elif status not in ok:
                stats.failures += 1
                self.counts["failures"] += 1
                if len(self.failures) < EXAMPLES:
                    body = response.text[:300] if response is not None else ""
                    self.failures.append({**example, "error": error or body})

    def failure(self, *, what: str, error: str) -> None:
        """A failure that is not one request's status (a write's result, a writer that stopped)."""
        with self.lock:
            self.counts["failures"] += 1
            if len(self.failures) < EXAMPLES:
                self.failures.append({"endpoint": what, "error": error[-1500:]})


def counted(tally: Tally, client, method: str, path: str, *, name: str, ok=(200,), **kwargs):
    """One request, counted; None when no answer came (counted as a failure)."""
    import httpx

    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        tally.note(name=name, method=method, path=path, error=f"{type(exc).__name__}: {exc}")
        return None
    tally.note(name=name, method=method, path=path, response=response, ok=ok)
    return response


# --- Readers (child processes) -----------------------------------------------------------------------------


def reader_main(spec_path: str) -> int:
    """A reader process: `threads` anonymous clients, each reading random paths (weighted by kind)
    from `start_at` for `seconds`; writes its counts and latencies to `result`."""
    import httpx

    spec = json.loads(Path(spec_path).read_text())
    kinds = list(spec["paths"])
    weights = [READ_WEIGHTS[k] for k in kinds]
    results: list[dict] = []

    def read(index: int) -> None:
        rng = random.Random(spec["seed"] * 1000 + index)
        tally = Tally()
        latencies: dict[str, list[float]] = {"HIT": [], "MISS": []}
        interval = spec["interval"]
        headers = {"Accept-Encoding": "gzip"}
        with httpx.Client(base_url=spec["url"], headers=headers, timeout=30) as client:
            time.sleep(max(0.0, spec["start_at"] - time.time()))
            end = spec["start_at"] + spec["seconds"]
            next_at = time.monotonic()
            while time.time() < end:
                kind = rng.choices(kinds, weights)[0]
                path = rng.choice(spec["paths"][kind])
                started = time.perf_counter()
                response = counted(tally, client, "GET", path, name=kind)
                ms = (time.perf_counter() - started) * 1000
                if response is not None and is_cached_read(kind):
                    state = response.headers.get("X-Cache")
                    if state in latencies:
                        latencies[state].append(round(ms, 3))
                if interval:
                    next_at += interval
                    time.sleep(max(0.0, next_at - time.monotonic()))
        results.append(
            {
                "endpoints": {k: asdict(v) for k, v in tally.endpoints.items()},
                "server_errors": tally.server_errors,
                "failures": tally.failures,
                "latencies": latencies,
            }
        )

    workers = [threading.Thread(target=read, args=(i,)) for i in range(spec["threads"])]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    Path(spec["result"]).write_text(json.dumps(results))
    return 0


# --- Reading back what was written -------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What every read must show right after a write: the account's followers on `day` (None: no
    snapshot that day) and, when the write changed the account's latest day, (date, followers)."""

    account: dict
    day: str
    followers: int | None
    latest: tuple[str, int] | None = None


@dataclass
class Checks:
    reads: int = 0
    stale: int = 0
    examples: list[dict] = field(default_factory=list)


class Checker:
    """Reads back a write's accounts at once through the very URLs the readers keep cached:
    anonymously (the early answer), or with `browser` as the signed-in staff member (the view's own
    look-up, under the staff role's entries; its reads are named "signed-in ...")."""

    def __init__(
        self,
        *,
        url: str,
        days: int,
        tally: Tally,
        checks: Checks,
        lock: threading.Lock,
        browser: StaffBrowser | None = None,
    ) -> None:
        import httpx

        self.client = httpx.Client(base_url=url, headers={"Accept-Encoding": "gzip"}, timeout=30)
        self.days = days
        self.tally = tally
        self.checks = checks
        self.lock = lock
        self.browser = browser

    def close(self) -> None:
        self.client.close()

    def verify(self, *, write: str, expected: list[Expected], written_at: float) -> None:
        summaries: dict[str, list[dict] | None] = {}
        for item in expected:
            account = item.account
            history = self._json("history", history_path(account))
            if history is not None:
                seen = None
                if item.day in history["dates"]:
                    seen = history["followers"][history["dates"].index(item.day)]
                self._compare(write, "history", history_path(account), item.followers, seen, written_at)
            grid = self._json("grid by handle", grid_path(account, days=self.days))
            if grid is not None:
                rows = [r for r in grid["data"] if r[1] == account["handle"] and r[3] == item.day]
                seen = rows[0][4] if rows else None
                path = grid_path(account, days=self.days)
                self._compare(write, "grid by handle", path, item.followers, seen, written_at)
            if item.latest is None:
                continue
            want = list(item.latest)
            path = f"/api/accounts/{account['id']}"
            one = self._json("account", path)
            if one is not None:
                latest = one.get("latest") or {}
                self._compare(
                    write, "account", path, want, [latest.get("date"), latest.get("followers")], written_at
                )
            platform = account["platform"]
            if platform not in summaries:
                summaries[platform] = self._json("summary by platform", summary_path(platform))
            if summaries[platform] is not None:
                row = next((r for r in summaries[platform] if r["handle"] == account["handle"]), {})
                seen = [row.get("date"), row.get("followers")]
                self._compare(write, "summary by platform", summary_path(platform), want, seen, written_at)

    def _json(self, name: str, path: str):
        if self.browser is None:
            response = counted(self.tally, self.client, "GET", path, name=name)
        else:
            try:
                response = self.browser.request("GET", path, name=f"signed-in {name}")
            except WriteFailed:  # no answer: counted as a failure already
                response = None
        return response.json() if response is not None and response.status_code == 200 else None

    def _compare(self, write: str, endpoint: str, path: str, want, seen, written_at: float) -> None:
        if self.browser is not None:
            endpoint = f"signed-in {endpoint}"
        with self.lock:
            self.checks.reads += 1
            if seen == want:
                return
            self.checks.stale += 1
            if len(self.checks.examples) < EXAMPLES:
                self.checks.examples.append(
                    {
                        "write": write,
                        "endpoint": endpoint,
                        "path": path,
                        "expected": want,
                        "seen": seen,
                        "ms_after_write": round((time.perf_counter() - written_at) * 1000, 1),
                    }
                )


# --- Writers (threads of this process) ---------------------------------------------------------------------


class _FormFields(HTMLParser):
    """What a browser would submit from the form with id `form_id`: its inputs' values (checked
    boxes only, no buttons), each select's selected (or first) option, its textareas; and whether
    the page shows form errors."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, str] = {}
        self.select: str | None = None
        self.select_chosen = False
        self.textarea: str | None = None
        self.errors: list[str] = []
        self._error_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "errorlist" in a.get("class", "").split() or "errornote" in a.get("class", "").split():
            self._error_depth = 1
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields[name] = a.get("value", "on" if kind in ("checkbox", "radio") else "")
        elif tag == "select" and name:
            self.select, self.select_chosen = name, False
        elif tag == "option" and self.select:
            if "selected" in a or (not self.select_chosen and self.select not in self.fields):
                self.fields[self.select] = a.get("value", "")
                self.select_chosen = self.select_chosen or "selected" in a
        elif tag == "textarea" and name:
            self.textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.fields[self.textarea] += data
        if self._error_depth and data.strip():
            self.errors.append(data.strip())
            self._error_depth = 0


class StaffBrowser:
    """A staff member's browser reaching the site through its TLS proxy: every request says
    `X-Forwarded-Proto: https` (so Django checks CSRF as on HTTPS: the Referer too), and the
    session and CSRF cookies, which the production settings mark Secure, are sent back by hand
    (a client would keep them from a plain-HTTP loopback URL)."""

    def __init__(self, *, url: str, tally: Tally) -> None:
        import httpx

        self.origin = f"https://{urlsplit(url).netloc}"
        self.client = httpx.Client(base_url=url, timeout=60, headers={"X-Forwarded-Proto": "https"})
        self.cookies: dict[str, str] = {}
        self.tally = tally

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, *, name: str, ok=(200,), referer: str = "", data=None):
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST":
            headers["Referer"] = self.origin + (referer or path)
        response = counted(
            self.tally, self.client, method, path, name=name, ok=ok, headers=headers, data=data
        )
        if response is None:
            raise WriteFailed(f"{method} {path}: no answer")
        for cookie in response.cookies.jar:
            self.cookies[cookie.name] = cookie.value
        return response

    def form(self, path: str, *, form_id: str, name: str) -> dict[str, str]:
        response = self.request("GET", path, name=name)
        if response.status_code != 200:
            raise WriteFailed(f"GET {path} answered {response.status_code}")
        parser = _FormFields(form_id)
        parser.feed(response.text)
        if "csrfmiddlewaretoken" not in parser.fields:
            raise WriteFailed(f"GET {path}: no form {form_id!r} with a CSRF token")
        return parser.fields

    def submit(self, path: str, fields: dict[str, str], *, name: str) -> None:
        """POST a form as the browser would; Django's admin answers a saved form with a redirect."""
        response = self.request("POST", path, name=name, ok=(302,), referer=path, data=fields)
        if response.status_code != 302:
            parser = _FormFields("")
            parser.feed(response.text)
            raise WriteFailed(f"POST {path} answered {response.status_code}: {' '.join(parser.errors)[:300]}")

    def sign_in(self, *, username: str, password: str) -> None:
        path = "/admin/login/?next=/admin/"
        fields = self.form(path, form_id="login-form", name="admin sign-in")
        fields.update(username=username, password=password)
        self.submit(path, fields, name="admin sign-in")
        if "sessionid" not in self.cookies:
            raise WriteFailed("the admin sign-in set no session cookie")


@dataclass
class Writes:
    collection_runs: int = 0
    collected_accounts: int = 0
    collection_resets: int = 0
    uploads: int = 0
    upload_rows: int = 0
    admin_edits: int = 0
    #: Seconds from POST /api/run-scraper to the run's end seen at /api/job-status.
    collection_seconds: list[float] = field(default_factory=list)


class Writers:
    """The three writers, each a thread with accounts of its own, and the checks after each write."""

    def __init__(self, *, url: str, data: DataSet, options: LoadOptions, tally: Tally) -> None:
        self.url = url
        self.data = data
        self.options = options
        self.tally = tally
        self.writes = Writes()
        self.checks = Checks()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sequence = itertools.count(1)

    # --- plumbing

    def run(self, *, start_at: float) -> list[threading.Thread]:
        steps = [
            ("collection writer", self.collect_once, 0.0),
            ("upload writer", self.upload_once, self.options.write_interval),
            ("admin writer", self.edit_once, self.options.write_interval),
        ]
        threads = [
            threading.Thread(target=self._loop, args=(name, step, interval, start_at), name=name)
            for name, step, interval in steps
        ]
        for thread in threads:
            thread.start()
        return threads

    def _loop(self, name: str, step: Callable, interval: float, start_at: float) -> None:
        from django.db import connection

        checker = Checker(
            url=self.url, days=self.options.days, tally=self.tally, checks=self.checks, lock=self.lock
        )
        state: dict = {}
        try:
            time.sleep(max(0.0, start_at - time.time()))
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    step(checker, state)
                except WriteFailed as exc:
                    self.tally.failure(what=name, error=str(exc))
                self.stop.wait(max(0.0, interval - (time.monotonic() - started)))
        except Exception:
            self.tally.failure(what=f"{name} stopped", error=traceback.format_exc())
        finally:
            for value in state.values():  # the clients it opened
                if hasattr(value, "close"):
                    value.close()
            checker.close()
            connection.close()

    def _count(self, **increments: int) -> None:
        with self.lock:
            for name, value in increments.items():
                setattr(self.writes, name, getattr(self.writes, name) + value)

    def _token_client(self, state: dict):
        import httpx

        if "api" not in state:
            state["api"] = httpx.Client(
                base_url=self.url, timeout=60, headers={"Authorization": f"Token {self.data.staff_token}"}
            )
        return state["api"]

    @staticmethod
    def _latest(account_ids: list[int]) -> dict[int, tuple[str, int]]:
        from snapshots.models import AccountLatest

        return {
            account_id: (day.isoformat(), followers)
            for account_id, day, followers in AccountLatest.objects.filter(
                account_id__in=account_ids
            ).values_list("account_id", "date", "followers")
        }

    @staticmethod
    def _earlier_day(rng: random.Random, account_id: int, latest_day: str) -> str:
        """One of the account's stored days before its latest."""
        from snapshots.models import Snapshot

        days = list(
            Snapshot.objects.filter(account_id=account_id, date__lt=latest_day).values_list("date", flat=True)
        )
        return rng.choice(days).isoformat() if days else latest_day

    # --- the collection writer

    def collect_once(self, checker: Checker, state: dict) -> None:
        """Delete today's snapshots of the writer's accounts, check they are gone everywhere; then
        collect them through the API and check every read shows what the run wrote."""
        from snapshots.models import Snapshot
        from snapshots.services import snapshot_delete_many
        from socialmetrics.dates import local_today

        accounts = self.data.collect
        ids = [a["id"] for a in accounts]
        round_no = state["round"] = state.get("round", 0) + 1
        today = local_today().isoformat()
        snapshot_delete_many(snapshots=Snapshot.objects.filter(account_id__in=ids, date=today))
        written_at = time.perf_counter()
        self._count(collection_resets=1)
        latest = self._latest(ids)
        checker.verify(
            write=f"collection reset #{round_no} (today's snapshots deleted)",
            expected=[Expected(a, today, None, latest.get(a["id"])) for a in accounts],
            written_at=written_at,
        )
        api = self._token_client(state)
        started = time.perf_counter()
        job = self._start_run(api, ids)
        run = self._follow_run(api, job)
        written_at = time.perf_counter()
        with self.lock:
            self.writes.collection_seconds.append(round(written_at - started, 2))
        if run["status"] != "completed" or run["succeeded"] != len(ids):
            raise WriteFailed(f"collection run {job} ended {run['status']}: {run.get('message')!r} {run}")
        self._count(collection_runs=1, collected_accounts=len(ids))
        values = dict(
            Snapshot.objects.filter(account_id__in=ids, date=run["date"]).values_list(
                "account_id", "followers"
            )
        )
        checker.verify(
            write=f"collection run #{round_no} (job {job})",
            expected=[
                Expected(a, run["date"], values.get(a["id"]), (run["date"], values.get(a["id"])))
                for a in accounts
            ],
            written_at=written_at,
        )

    def _start_run(self, api, ids: list[int]) -> int:
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            response = counted(
                self.tally,
                api,
                "POST",
                "/api/run-scraper",
                name="run-scraper",
                ok=(202, 409),
                json={"mode": "simulated", "accounts": ids},
            )
            if response is None:
                raise WriteFailed("POST /api/run-scraper: no answer")
            if response.status_code == 202:
                return response.json()["job_id"]
            if response.status_code != 409 or time.monotonic() > deadline:
                raise WriteFailed(
                    f"POST /api/run-scraper answered {response.status_code}: {response.text[:300]}"
                )
            time.sleep(0.5)  # another run (an earlier load's) holds the lock: it ends, or is reaped

    def _follow_run(self, api, job: int) -> dict:
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            response = counted(self.tally, api, "GET", f"/api/job-status/{job}", name="job-status")
            if response is not None and response.status_code == 200:
                run = response.json()
                if run["status"] not in ("pending", "running"):
                    return run
            time.sleep(0.1)
        raise WriteFailed(f"collection run {job} did not end within {RUN_TIMEOUT:.0f} s")

    # --- the upload writer

    def upload_once(self, checker: Checker, state: dict) -> None:
        """Upload new follower counts for a few of the writer's accounts: every other row on the
        account's latest day (the summary and the account change too), the others on an earlier day."""
        rng = state.setdefault("rng", random.Random(self.options.seed + 1))
        turn = state.get("turn", 0)
        state["turn"] = turn + self.options.upload_rows
        accounts = [
            self.data.upload[(turn + i) % len(self.data.upload)] for i in range(self.options.upload_rows)
        ]
        latest = self._latest([a["id"] for a in accounts])
        expected = []
        lines = ["Platform,Handle,Date,Followers"]
        for account in accounts:
            number = next(self.sequence)
            latest_day = latest[account["id"]][0]
            on_latest = number % 2 == 0
            day = latest_day if on_latest else self._earlier_day(rng, account["id"], latest_day)
            value = UPLOAD_BASE + number
            lines.append(f"{account['platform']},{account['handle']},{day},{value}")
            expected.append(Expected(account, day, value, (day, value) if day == latest_day else None))
        response = counted(
            self.tally,
            self._token_client(state),
            "POST",
            "/api/upload-bulk",
            name="upload-bulk",
            json={"csv_data": "\r\n".join(lines) + "\r\n"},
        )
        written_at = time.perf_counter()
        if response is None or response.status_code != 200:
            raise WriteFailed(f"upload answered {response.status_code if response else 'nothing'}")
        report = response.json()
        if (
            report["skipped"]
            or report["accounts_created"]
            or report["created"] + report["updated"] != len(accounts)
        ):
            raise WriteFailed(f"upload of {len(accounts)} rows: {report['message']} {report['errors'][:3]}")
        self._count(uploads=1, upload_rows=len(accounts))
        checker.verify(write=f"upload ({', '.join(lines[1:])})", expected=expected, written_at=written_at)

    # --- the admin writer

    def edit_once(self, checker: Checker, state: dict) -> None:
        """Change one snapshot's followers through the admin's change form: every other edit on the
        account's latest day, the others on an earlier day. The staff member reads the account
        before (so their own cached entries exist) and after the edit, as an anonymous reader does."""
        from snapshots.models import Snapshot

        browser = state.get("browser")
        if browser is None:
            browser = state["browser"] = StaffBrowser(url=self.url, tally=self.tally)
            browser.sign_in(username=STAFF_USERNAME, password=self.data.staff_password)
            state["signed_in"] = Checker(
                url=self.url,
                days=self.options.days,
                tally=self.tally,
                checks=self.checks,
                lock=self.lock,
                browser=browser,
            )
        signed_in = state["signed_in"]
        rng = state.setdefault("rng", random.Random(self.options.seed + 2))
        turn = state["turn"] = state.get("turn", -1) + 1
        account = self.data.admin[turn % len(self.data.admin)]
        number = next(self.sequence)
        latest = self._latest([account["id"]])[account["id"]]
        day = latest[0] if number % 2 == 0 else self._earlier_day(rng, account["id"], latest[0])
        snapshot = Snapshot.objects.get(account_id=account["id"], date=day)
        on_latest = day == latest[0]
        signed_in.verify(
            write=f"nothing yet (before the admin edit of snapshot {snapshot.pk})",
            expected=[Expected(account, day, snapshot.followers, latest if on_latest else None)],
            written_at=time.perf_counter(),
        )
        path = f"/admin/snapshots/snapshot/{snapshot.pk}/change/"
        fields = browser.form(path, form_id="snapshot_form", name="admin change form")
        value = ADMIN_BASE + number
        fields.update(followers=str(value), _save="Save")
        browser.submit(path, fields, name="admin change form")
        written_at = time.perf_counter()
        self._count(admin_edits=1)
        write = (
            f"admin edit of snapshot {snapshot.pk} ({account['platform']}/{account['handle']} {day}: {value})"
        )
        expected = [Expected(account, day, value, (day, value) if on_latest else None)]
        checker.verify(write=write, expected=expected, written_at=written_at)
        signed_in.verify(write=write, expected=expected, written_at=written_at)


# --- The run ---------------------------------------------------------------------------------------------


@dataclass
class LoadReport:
    started_at: str
    seconds: float
    setup: dict
    endpoints: dict[str, dict]
    server_errors: int
    server_error_examples: list[dict]
    failures: int
    failure_examples: list[dict]
    stale_reads: int
    stale_examples: list[dict]
    checks: int
    writes: dict
    cached_reads: dict
    server_log_tail: str = ""

    @property
    def missing_writes(self) -> list[str]:
        w = self.writes
        kinds = {
            "collection runs": w["collection_runs"],
            "uploads": w["uploads"],
            "admin edits": w["admin_edits"],
        }
        return [name for name, count in kinds.items() if not count]

    @property
    def ok(self) -> bool:
        return not (self.server_errors or self.stale_reads or self.failures or self.missing_writes)


def _latency(values: list[float], seconds: float) -> dict:
    return {
        "requests": len(values),
        "per_second": round(len(values) / seconds, 1) if seconds else None,
        **{f"p{q}_ms": percentile(values, q / 100) for q in (50, 95, 99)},
    }


@contextlib.contextmanager
def server_environment() -> Iterator[None]:
    """What the gunicorn processes inherit: the production settings as bench/run.py sets them up,
    this process's database (under a test run, the test database), Redis URL and key prefix (so a
    write made here reaches the server's cache), and collection runs on threads of the server.
    The environment is given back as it was afterwards."""
    from django.conf import settings
    from django.core.cache import caches
    from django.db import connection

    saved = dict(os.environ)
    try:
        configure_environment()
        os.environ["DATABASE_URL"] = _database_url(connection.settings_dict)
        os.environ["REDIS_URL"] = settings.REDIS_URL
        os.environ["CACHE_KEY_PREFIX"] = caches["default"].key_prefix
        os.environ["CELERY_BROKER_URL"] = ""
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _database_url(db: dict) -> str:
    """The URL of the database this process is connected to: DATABASE_URL with its database name
    replaced by the connection's (a test run's test database), or one made from the settings."""
    name = quote(db["NAME"], safe="")
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(configured)
        return urlunsplit(parts._replace(path=f"/{name}"))
    user = quote(db.get("USER") or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    host = quote(db.get("HOST") or "", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{name}"


def run_load(*, options: LoadOptions, progress: Callable[[str], None] = lambda line: None) -> LoadReport:
    """The whole load on the backend this process is configured for (Django set up): data set,
    server, readers and writers for `options.duration` seconds, and what they saw."""
    import httpx
    from django.db import connection

    check_backends()
    problems = options.problems()
    if problems:
        raise LoadRefused("; ".join(problems))
    progress(f"data set: {options.accounts:,} accounts x {options.days} days")
    data = prepare(options=options)
    connection.close()
    paths = read_paths(data=data, days=options.days, seed=options.seed)
    tally = Tally()
    tmp = Path(tempfile.mkdtemp(prefix="socialmetrics-load-"))
    bench = Bench(argparse.Namespace(workers=options.workers, threads=options.threads))
    readers: list[subprocess.Popen] = []
    writers: Writers | None = None
    log_tail = ""
    try:
        with server_environment(), bench.server() as server:
            progress(f"gunicorn on {server.url}: {options.workers} workers x {options.threads} threads")
            with httpx.Client(base_url=server.url, headers={"Accept-Encoding": "gzip"}, timeout=60) as client:
                for kind, kind_paths in paths.items():  # every entry cached before the clock starts
                    for path in kind_paths:
                        counted(tally, client, "GET", path, name=f"warm-up {kind}")
            start_at = time.time() + 2.0  # the readers' interpreters start meanwhile
            per_thread = (
                options.reader_processes * options.reader_threads / options.rate if options.rate else 0
            )
            for index in range(options.reader_processes):
                spec = {
                    "url": server.url,
                    "paths": paths,
                    "start_at": start_at,
                    "seconds": options.duration,
                    "threads": options.reader_threads,
                    "interval": per_thread,
                    "seed": options.seed + index,
                    "result": str(tmp / f"reader-{index}.json"),
                }
                spec_path = tmp / f"reader-{index}-spec.json"
                spec_path.write_text(json.dumps(spec))
                command = [sys.executable, str(Path(__file__).resolve()), "--child-reader", str(spec_path)]
                readers.append(subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True))
            writers = Writers(url=server.url, data=data, options=options, tally=tally)
            threads = writers.run(start_at=start_at)
            progress(f"load for {options.duration:g} s")
            time.sleep(max(0.0, start_at + options.duration - time.time()))
            writers.stop.set()
            for thread in threads:  # each ends the write it is in, and its checks
                thread.join(timeout=RUN_TIMEOUT + 60)
                if thread.is_alive():
                    tally.failure(what=thread.name, error="its last write did not end in time")
            reader_results = []
            for index, process in enumerate(readers):
                _, err = process.communicate(timeout=120)
                if process.returncode:
                    raise RuntimeError(f"reader process {index} failed: {err.strip()[-2000:]}")
                reader_results.extend(json.loads((tmp / f"reader-{index}.json").read_text()))
            if (
                tally.counts["server_errors"]
                or tally.counts["failures"]
                or any(r["server_errors"] or r["failures"] for r in reader_results)
            ):
                log_tail = server.log.read_text()[-4000:]
    finally:
        if writers is not None:
            writers.stop.set()
        for process in readers:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        bench.stop_all()
        shutil.rmtree(bench.tmp, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        connection.close()
    return _report(
        options=options,
        data=data,
        tally=tally,
        writers=writers,
        readers=reader_results,
        started=start_at,
        log_tail=log_tail,
    )


def _report(
    *,
    options: LoadOptions,
    data: DataSet,
    tally: Tally,
    writers: Writers,
    readers: list[dict],
    started: float,
    log_tail: str,
) -> LoadReport:
    read_stats: dict[str, EndpointStats] = {}
    hits: list[float] = []
    misses: list[float] = []
    server_examples = list(tally.server_errors)
    failure_examples = list(tally.failures)
    for result in readers:
        for name, values in result["endpoints"].items():
            read_stats.setdefault(name, EndpointStats()).add(EndpointStats(**values))
        hits += result["latencies"]["HIT"]
        misses += result["latencies"]["MISS"]
        server_examples += result["server_errors"]
        failure_examples += result["failures"]
    # The readers' reads, the writers' requests, their read-backs ("check ..."), the warm-up.
    table = {f"read {name}": asdict(stats) for name, stats in sorted(read_stats.items())}

    def is_check(name: str) -> bool:
        return name.removeprefix("signed-in ") in READ_WEIGHTS

    writing = sorted(n for n in tally.endpoints if not is_check(n) and not n.startswith("warm-up"))
    table |= {name: asdict(tally.endpoints[name]) for name in writing}
    table |= {f"check {n}": asdict(tally.endpoints[n]) for n in sorted(tally.endpoints) if is_check(n)}
    warm_up = sorted(n for n in tally.endpoints if n.startswith("warm-up"))
    table |= {name: asdict(tally.endpoints[name]) for name in warm_up}
    seconds = options.duration
    every = hits + misses
    return LoadReport(
        started_at=dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
        seconds=seconds,
        setup={
            "accounts": options.accounts,
            "days": options.days,
            "snapshots": data.snapshots,
            "today": data.today,
            "written_accounts": {
                "collection": len(data.collect),
                "upload": len(data.upload),
                "admin": len(data.admin),
            },
            "gunicorn": f"{options.workers} workers x {options.threads} threads (gthread)",
            "readers": f"{options.reader_processes} process{'es' if options.reader_processes > 1 else ''} "
            f"x {options.reader_threads} threads"
            + (f", {options.rate:g} requests/s together" if options.rate else ", closed loop"),
            "write_interval_s": options.write_interval,
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        endpoints=table,
        server_errors=sum(s.server_errors for s in read_stats.values()) + tally.counts["server_errors"],
        server_error_examples=server_examples[:EXAMPLES],
        failures=sum(s.failures for s in read_stats.values()) + tally.counts["failures"],
        failure_examples=failure_examples[:EXAMPLES],
        stale_reads=writers.checks.stale,
        stale_examples=writers.checks.examples,
        checks=writers.checks.reads,
        writes=asdict(writers.writes),
        cached_reads={
            "all": {
                **_latency(every, seconds),
                "hit_ratio": round(len(hits) / len(every), 3) if every else None,
            },
            "hits": _latency(hits, seconds),
            "misses": _latency(misses, seconds),
        },
        server_log_tail=log_tail,
    )


def print_report(report: LoadReport) -> None:
    s = report.setup
    print(
        f"\nsocialmetrics mixed load, {report.started_at}: {report.seconds:g} s on {s['cpus']} CPUs "
        f"(load average at the end {s['load_average_at_end']})"
    )
    w = s["written_accounts"]
    print(
        f"data: {s['accounts']:,} accounts x {s['days']} days "
        f"({s['snapshots']:,} snapshots, ending {s['today']}); "
        f"written: {w['collection']} by collection, {w['upload']} by upload, {w['admin']} in the admin"
    )
    print(
        f"gunicorn {s['gunicorn']}; readers {s['readers']}; writes every {s['write_interval_s']} s per writer"
    )
    header = ("endpoint", "requests", "5xx", "failed", "HIT %")
    rows = []
    for name, e in report.endpoints.items():
        cached = e["hits"] + e["misses"]
        ratio = f"{100 * e['hits'] / cached:.0f}" if cached else ""
        rows.append((name, f"{e['requests']:,}", str(e["server_errors"]), str(e["failures"]), ratio))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    print("  ".join(h.ljust(widths[i]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(header)))
    for row in rows:
        print("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
    c = report.cached_reads

    def line(label: str, f: dict) -> str:
        if not f["requests"]:
            return f"{label}: none"
        return (
            f"{label}: {f['requests']:,} ({f['per_second']:,} /s), p50 {f['p50_ms']:.2f} ms, "
            f"p95 {f['p95_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms"
        )

    print()
    hit_ratio = c["all"]["hit_ratio"]
    print(
        line("cached reads (readers, /api/)", c["all"])
        + (f"; {100 * hit_ratio:.1f} % hits" if hit_ratio else "")
    )
    print(line("  hits", c["hits"]))
    print(line("  misses", c["misses"]))
    wr = report.writes
    print(
        f"writes: {wr['collection_runs']} collection runs ({wr['collected_accounts']:,} accounts), "
        f"{wr['collection_resets']} resets (today's snapshots deleted), {wr['uploads']} uploads "
        f"({wr['upload_rows']} rows), {wr['admin_edits']} admin edits"
    )
    if wr["collection_seconds"]:
        runs = sorted(wr["collection_seconds"])
        print(
            f"collection runs, request to end seen: {runs[0]}..{runs[-1]} s (median {runs[len(runs) // 2]} s)"
        )
    print(f"reads right after a write: {report.checks:,}, stale: {report.stale_reads}")
    for example in report.stale_examples:
        print(f"  STALE {json.dumps(example)}")
    print(f"5xx: {report.server_errors}")
    for example in report.server_error_examples:
        print(f"  5xx {json.dumps(example)}")
    print(f"other failures: {report.failures}")
    for example in report.failure_examples:
        print(f"  FAILED {json.dumps(example)}")
    if report.missing_writes:
        print(f"writes that never happened: {', '.join(report.missing_writes)}")
    if report.server_log_tail:
        print(f"\nthe server's log, last lines:\n{report.server_log_tail}")
    print(f"\nresult: {'PASS' if report.ok else 'FAIL'}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = LoadOptions()
    parser = argparse.ArgumentParser(
        description="Mixed load with writes on the PostgreSQL + Redis that DATABASE_URL / REDIS_URL "
        "name: readers, a collection writer, an upload writer and an admin writer against gunicorn on "
        "127.0.0.1; every write is read back at once. Exits 1 on any 5xx, stale read or failed "
        "request, 2 when it refuses to run. It rewrites the benchmark accounts: use a database of its own.",
    )
    add = parser.add_argument
    add("--duration", type=float, default=defaults.duration, help="Seconds of load (60).")
    add("--accounts", type=int, default=defaults.accounts, help="Accounts in the data set (300).")
    add("--days", type=int, default=defaults.days, help="Days of snapshots per account, ending today (60).")
    add(
        "--collect-accounts",
        type=int,
        default=defaults.collect_accounts,
        help="Accounts each collection run collects (20).",
    )
    add(
        "--upload-accounts",
        type=int,
        default=defaults.upload_accounts,
        help="Accounts the uploads change (20).",
    )
    add(
        "--admin-accounts",
        type=int,
        default=defaults.admin_accounts,
        help="Accounts edited in the admin (20).",
    )
    add("--upload-rows", type=int, default=defaults.upload_rows, help="Rows per upload (3).")
    add("--reader-processes", type=int, default=defaults.reader_processes, help="Reader processes (2).")
    add("--reader-threads", type=int, default=defaults.reader_threads, help="Reader threads per process (4).")
    add(
        "--rate",
        type=float,
        default=defaults.rate,
        help="Reads per second of all readers together (0: no limit).",
    )
    add(
        "--write-interval",
        type=float,
        default=defaults.write_interval,
        help="Seconds between the starts of an upload or admin writer's writes (1).",
    )
    add("--workers", type=int, default=defaults.workers, help="gunicorn workers (2).")
    add("--threads", type=int, default=defaults.threads, help="gunicorn threads per worker (4).")
    add(
        "--seed",
        type=int,
        default=defaults.seed,
        help="Seed of the accounts' choice and the readers' paths (7).",
    )
    add("--json", default="", help="Write the report as JSON to this file (e.g. bench/results/load.json).")
    add("--child-reader", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_reader:
        return reader_main(args.child_reader)
    options = LoadOptions(
        **{
            name: getattr(args, name) for name in LoadOptions.__dataclass_fields__
        }  # every option has its flag
    )
    problems = options.problems()
    if problems:
        print(f"bench/load.py: {'; '.join(problems)}", file=sys.stderr)
        return 2
    configure_environment()
    import django

    django.setup()
    from django.core.management import call_command

    def terminate(signum, frame):
        raise SystemExit(128 + signum)  # so that every process started is stopped on the way out

    signal.signal(signal.SIGTERM, terminate)
    try:
        check_backends()
        call_command("migrate", verbosity=0, interactive=False)
        report = run_load(options=options, progress=lambda line: print(f"--- {line}", flush=True))
    except LoadRefused as exc:
        print(f"bench/load.py: {exc}", file=sys.stderr)
        return 2
    print_report(report)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
        print(f"JSON written to {path}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
