"""A small run of the whole benchmark (bench/run.py), so that it cannot rot unnoticed.

30 accounts x 20 days, generated into a fresh SQLite file with the local-memory cache, whatever
backend the test run itself uses; every section runs, gunicorn included. It checks that each
section produced its figures and the JSON, never how fast anything was: timings belong to
`make bench`, not to the test run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SECTIONS = {"seed", "endpoints", "http", "export", "import", "collect", "freshness"}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    tmp = tmp_path_factory.mktemp("bench")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    out = tmp / "results.json"
    command = [
        sys.executable, "bench/run.py", "--generate", "--accounts", "30", "--days", "20",
        "--duration", "0.6", "--rounds", "2", "--uncached", "3", "--cached", "10", "--loadgen", "python",
        "--import-days", "3", "--fresh-writes", "5", "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, f"bench/run.py failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done, json.loads(out.read_text())


def test_every_section_runs_without_error(smoke_run):
    _, results = smoke_run
    assert set(results["sections"]) == SECTIONS
    assert {name: entry.get("error") for name, entry in results["sections"].items()} == dict.fromkeys(
        SECTIONS
    )
    assert results["meta"]["database"] == "sqlite"
    assert results["meta"]["data"]["bench_accounts"] == 30


def test_every_section_produces_figures(smoke_run):
    _, results = smoke_run
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


def test_the_raw_figures_and_baselines_are_in_the_json(smoke_run):
    _, results = smoke_run
    assert results["baselines"]["bare_inprocess"]["value"] > 0
    assert results["baselines"]["bare_http"]["value"] > 0
    assert results["baselines"]["minimal_http"]["value"] > 0
    minimal_figures = [f for f in results["figures"] if f["name"].endswith(": x minimal Django view")]
    assert len(minimal_figures) == 9  # the 8 cached endpoints and /health/live
    sections = results["sections"]
    assert all(
        e["rounds"] and e["bare_rounds"] and e["minimal_rounds"]
        for e in sections["http"]["raw"]["endpoints"].values()
    )
    assert sections["export"]["raw"]["rows"] == results["meta"]["data"]["snapshots"]
    assert sections["import"]["raw"]["runs"][0]["created"] == sections["import"]["raw"]["rows"]
    next_day = dt.date.fromisoformat(results["meta"]["data"]["last_date"]) + dt.timedelta(days=1)
    for day in (next_day.isoformat(), "1999-12-31"):  # the daily run, a past day
        assert sections["collect"]["raw"][day]["outcomes_recorded"] == 30
    assert sections["freshness"]["raw"]["checks"] > 0


def test_the_table_is_printed(smoke_run):
    done, _ = smoke_run
    assert "section    figure" in done.stdout
    assert "targets:" in done.stdout
