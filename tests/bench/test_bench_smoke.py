"""A small run of the whole benchmark (bench/run.py), so that it cannot rot unnoticed.

30 accounts x 20 days, generated into a database of the run's own, every section, gunicorn
included: on SQLite with the local-memory cache (a fresh file) in every test run, and on PostgreSQL
+ Redis (a fresh database next to the test run's, dropped afterwards, and a Redis key prefix of its
own) in the services pass, where the psql COPY ceilings, the Redis traffic and the freshness writer
and reader processes run too. It checks that each section produced its figures and the JSON, never
how fast anything was: timings belong to `make bench`, not to the test run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent.parent
SECTIONS = {"seed", "endpoints", "cold", "http", "export", "import", "collect", "freshness"}
ACCOUNTS = 30
SERVICES_REQUIRED = bool(os.environ.get("CI") or os.environ.get("TEST_SERVICES") == "1")


def _run(env: dict, out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    command = [
        sys.executable, "bench/run.py", "--generate", "--accounts", str(ACCOUNTS), "--days", "20",
        "--duration", "0.6", "--rounds", "2", "--uncached", "3", "--cached", "10", "--loadgen", "python",
        "--import-days", "3", "--fresh-writes", "5", "--cold-starts", "1", "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"bench/run.py failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done, json.loads(out.read_text())


def _base_env() -> dict:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "CACHE_KEY_PREFIX"}
    }


def _unavailable(reason: str) -> None:
    if SERVICES_REQUIRED:
        pytest.fail(f"{reason} (services are required in this run)", pytrace=False)
    pytest.skip(f"{reason}; runs in the services pass of `make test` (TEST_SERVICES=1)")


def _services_run(tmp: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """The benchmark on a PostgreSQL database of its own (it rewrites its data set and vacuums) and
    the test run's Redis under a key prefix of its own."""
    import psycopg

    if connection.vendor != "postgresql" or not os.environ.get("DATABASE_URL"):
        _unavailable("needs PostgreSQL: DATABASE_URL is not a PostgreSQL URL")
    if not settings.REDIS_URL:
        _unavailable("needs Redis: REDIS_URL is not set")
    url = urlsplit(os.environ["DATABASE_URL"])
    name = f"{url.path.lstrip('/')}_bench_smoke"
    maintenance = urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        env = _base_env()
        env["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{name}"))
        env["REDIS_URL"] = settings.REDIS_URL
        env["CACHE_KEY_PREFIX"] = f"{os.environ.get('CACHE_KEY_PREFIX', 'sm-test')}-bench-smoke"
        return _run(env, tmp / "results.json")
    finally:
        with psycopg.connect(maintenance, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("services", marks=[pytest.mark.postgres, pytest.mark.redis])],
)
def smoke_run(request, tmp_path_factory) -> tuple[str, subprocess.CompletedProcess, dict]:
    tmp = tmp_path_factory.mktemp(f"bench-{request.param}")
    if request.param == "services":
        return (request.param, *_services_run(tmp))
    env = _base_env()
    env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    return (request.param, *_run(env, tmp / "results.json"))


def test_every_section_runs_without_error(smoke_run):
    backend, _, results = smoke_run
    assert set(results["sections"]) == SECTIONS
    assert {name: entry.get("error") for name, entry in results["sections"].items()} == dict.fromkeys(
        SECTIONS
    )
    if backend == "embedded":
        assert (results["meta"]["database"], results["meta"]["cache"]) == ("sqlite", "local memory")
    else:
        assert results["meta"]["database"].startswith("postgresql")
        assert results["meta"]["cache"] == "redis"
    assert results["meta"]["data"]["bench_accounts"] == ACCOUNTS


def test_every_section_produces_figures(smoke_run):
    backend, _, results = smoke_run
    figures = results["figures"]
    assert {f["section"] for f in figures} == SECTIONS
    for figure in figures:
        assert isinstance(figure["value"], int | float), figure
        assert figure["result"] in {"", "PASS", "MISS", "n/a"}, figure
    names = {f["name"] for f in figures}
    for endpoint in ("summary", "summary totals", "grid page 1", "grid page 10,000", "accounts page 1"):
        assert f"{endpoint}: uncached p50" in names
        assert f"{endpoint}: cached p50" in names
    assert sum(1 for f in figures if f["section"] == "http" and f["name"].endswith(": cached")) == 8
    # Redis traffic is counted only where there is Redis.
    assert ("health/live: Redis round trips" in names) == (backend == "services")


def test_the_raw_figures_and_baselines_are_in_the_json(smoke_run):
    backend, _, results = smoke_run
    baselines = results["baselines"]
    assert baselines["bare_inprocess"]["value"] > 0
    assert baselines["bare_http"]["value"] > 0
    assert baselines["minimal_http"]["value"] > 0
    # The COPY ceilings need psql and PostgreSQL.
    copies = ("copy_seed", "copy_out", "copy_in")
    if backend == "services":
        assert all(baselines[name]["value"] > 0 for name in copies), baselines
    else:
        assert all(baselines[name]["value"] is None for name in copies), baselines
    minimal_figures = [f for f in results["figures"] if f["name"].endswith(": x minimal Django view")]
    assert len(minimal_figures) == 9  # the 8 cached endpoints and /health/live
    sections = results["sections"]
    assert all(
        e["rounds"] and e["bare_rounds"] and e["minimal_rounds"]
        for e in sections["http"]["raw"]["endpoints"].values()
    )
    assert sections["export"]["raw"]["rows"] == results["meta"]["data"]["snapshots"]
    assert sections["import"]["raw"]["runs"][0]["created"] == sections["import"]["raw"]["rows"]
    assert sections["freshness"]["raw"]["checks"] > 0
    assert ("processes" in sections["freshness"]["raw"]["mode"]) == (backend == "services")


def test_the_collections_are_ordinary_runs_on_the_simulations_own_history(smoke_run):
    """The data set is the simulation's series (bench/generate.py), so the daily run of the next
    day continues it: the anomaly rule flags at most the simulation's rare spikes, not every
    account as it would if the next day came from another series."""
    _, _, results = smoke_run
    collect = results["sections"]["collect"]["raw"]
    next_day = dt.date.fromisoformat(results["meta"]["data"]["last_date"]) + dt.timedelta(days=1)
    for day in (next_day.isoformat(), "1999-12-31"):  # the daily run, a past day
        assert collect[day]["outcomes_recorded"] == ACCOUNTS
    assert collect[next_day.isoformat()]["anomalies"] <= ACCOUNTS // 10
    assert collect["1999-12-31"]["anomalies"] == 0  # no history near it to compare with


def test_the_table_is_printed(smoke_run):
    _, done, _ = smoke_run
    assert "section    figure" in done.stdout
    assert "targets:" in done.stdout
