"""Log lines that can be followed across processes: every line carries the request id.

A request's id comes from its `X-Request-ID` header when a proxy or load balancer set a sane one,
otherwise it is made here (`RequestIdMiddleware`); it is sent back in the response's `X-Request-ID`,
written in gunicorn's access log line (`AccessLogger`) and in every app log line written while the
request runs (`RequestIdFilter`), so one id finds the access line and the app's lines of a request.
`JsonFormatter` writes a line as one JSON object (`SOCIALMETRICS_LOG_FORMAT=json`, the production
default, see `log_format`), for log collectors that read fields rather than text.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import re
import uuid

from gunicorn.glogging import Logger as GunicornLogger

HEADER = "X-Request-ID"
_META_KEY = "HTTP_X_REQUEST_ID"
#: An incoming id is kept only when it is this plain (no spaces, quotes or control characters).
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def log_format() -> str:
    """ "json" or "plain": SOCIALMETRICS_LOG_FORMAT, else json under the production settings. Read from
    the environment, as gunicorn's master process has no Django settings."""
    chosen = os.environ.get("SOCIALMETRICS_LOG_FORMAT", "").strip().lower()
    if chosen in {"json", "plain"}:
        return chosen
    production = os.environ.get("DJANGO_SETTINGS_MODULE", "") == "socialmetrics.settings.prod"
    return "json" if production else "plain"


class RequestIdMiddleware:
    """Outermost middleware: the request's id in `request.id`, the context variable and the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get(_META_KEY, "")
        rid = incoming if incoming and _SANE.fullmatch(incoming) else uuid.uuid4().hex
        request.id = rid
        # Not reset on the way out: Django logs a 4xx/5xx ("Not Found: ...") after the middleware
        # returns. The next request in this thread sets its own.
        request_id.set(rid)
        response = self.get_response(request)
        response[HEADER] = rid
        return response


class RequestIdFilter(logging.Filter):
    """Puts the running request's id on every record as `request_id` ("-" outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class AccessLogger(GunicornLogger):
    """gunicorn's logger with an access line of named fields, as JSON when SOCIALMETRICS_LOG_FORMAT
    is json (the values are escaped properly, unlike a JSON-looking access_log_format), and as text
    with the request id otherwise."""

    def setup(self, cfg):
        super().setup(cfg)
        self.json = log_format() == "json"

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        rid = next((value for name, value in resp.headers if name.lower() == "x-request-id"), "-")
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        fields = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "request_id": rid,
            "remote": environ.get("REMOTE_ADDR", "-"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING", ""),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
            "user_agent": environ.get("HTTP_USER_AGENT", "-"),
        }
        try:
            if self.json:
                self.access_log.info(json.dumps(fields, ensure_ascii=False))
            else:
                query = f"?{fields['query']}" if fields["query"] else ""
                self.access_log.info(
                    '%s %s "%s %s%s" %s %s %.2fms "%s"',
                    fields["remote"],
                    rid,
                    fields["method"],
                    fields["path"],
                    query,
                    fields["status"],
                    "-" if fields["bytes"] is None else fields["bytes"],
                    fields["duration_ms"],
                    fields["user_agent"],
                )
        except Exception:  # as gunicorn's own access(): a log line never breaks a response
            self.exception("could not write the access log line")
