"""Request ids: in the response, in gunicorn's access line and in the app's log lines of the request."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from socialmetrics import logs

ROOT = Path(__file__).resolve().parent.parent


def test_every_response_names_its_request(client):
    first = client.get("/health/live")["X-Request-ID"]
    second = client.get("/health/live")["X-Request-ID"]
    assert len(first) == 32
    assert first != second


def test_an_id_from_the_load_balancer_is_kept_and_a_strange_one_replaced(client):
    assert client.get("/health/live", HTTP_X_REQUEST_ID="lb-7f3a.91")["X-Request-ID"] == "lb-7f3a.91"
    for strange in ('a"b', "x" * 65, "two words", "new\nline"):
        kept = client.get("/health/live", HTTP_X_REQUEST_ID=strange)["X-Request-ID"]
        assert kept != strange
        assert len(kept) == 32


def test_log_records_carry_the_running_request_id():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("there",), None)
    token = logs.request_id.set("abc123")
    try:
        logs.RequestIdFilter().filter(record)
    finally:
        logs.request_id.reset(token)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["request_id"] == "abc123"
    assert line["message"] == "hello there"
    assert line["level"] == "INFO"
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    contextvars.Context().run(logs.RequestIdFilter().filter, outside)  # as a thread that served none
    assert outside.request_id == "-"


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"SOCIALMETRICS_LOG_FORMAT": "json"}, "json"),
        ({"DJANGO_SETTINGS_MODULE": "socialmetrics.settings.prod"}, "json"),
        (
            {"DJANGO_SETTINGS_MODULE": "socialmetrics.settings.prod", "SOCIALMETRICS_LOG_FORMAT": "plain"},
            "plain",
        ),
        ({"DJANGO_SETTINGS_MODULE": "socialmetrics.settings.dev"}, "plain"),
    ],
)
def test_the_log_format(monkeypatch, environment, expected):
    monkeypatch.delenv("SOCIALMETRICS_LOG_FORMAT", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert logs.log_format() == expected


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _gunicorn(tmp_path: Path, log_format: str):
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.test",
        "SOCIALMETRICS_LOG_FORMAT": log_format,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        "1",
        "--bind",
        f"127.0.0.1:{port}",
        "socialmetrics.wsgi",
    ]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2)
                break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_gunicorn_reads_the_config_and_logs_the_request_id_as_json(tmp_path):
    """`gunicorn socialmetrics.wsgi` in the project directory picks up gunicorn.conf.py: the access
    line is JSON with the request id, and the app's own line for the same request carries it too."""
    with _gunicorn(tmp_path, "json") as (url, log):
        response = httpx.get(
            f"{url}/api/no-such-thing?x=1",
            headers={"X-Request-ID": "trace-42", "User-Agent": 'a "quoted" agent'},
        )
        assert response.status_code == 404
        assert response.headers["X-Request-ID"] == "trace-42"
        deadline = time.monotonic() + 10
        while "no-such-thing" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("path") == "/api/no-such-thing"]
    assert access, log.read_text()
    assert access[0]["request_id"] == "trace-42"
    assert access[0]["status"] == 404
    assert access[0]["query"] == "x=1"
    assert access[0]["user_agent"] == 'a "quoted" agent'
    app = [line for line in lines if line.get("logger") == "django.request"]
    assert app, log.read_text()
    assert app[0]["request_id"] == "trace-42"
    assert "/api/no-such-thing" in app[0]["message"]


def test_the_plain_access_line_names_the_request(tmp_path):
    with _gunicorn(tmp_path, "plain") as (url, log):
        rid = httpx.get(f"{url}/health/live").headers["X-Request-ID"]
        deadline = time.monotonic() + 10
        while rid not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    line = next(line for line in log.read_text().splitlines() if rid in line)
    assert '"GET /health/live"' in line
    assert " 200 " in line
