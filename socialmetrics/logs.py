"""Log lines that can be followed across processes: every line carries the request id.

A request's id comes from its `X-Request-ID` header when a proxy or load balancer set a sane one,
otherwise it is made here (`start_request`, called by `RequestIdMiddleware` and by the read cache's
answer in front of Django's handler); it is sent back in the response's `X-Request-ID`,
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


#: Key of the WSGI environ (Django's `request.META`) holding the id given to the request, so the
#: cache's answer in front of Django's handler and RequestIdMiddleware give it one id, not two.
ENVIRON_KEY = "socialmetrics.request_id"


#: The bits `uuid.uuid4()` clears and sets in 128 random ones: version 4, RFC 4122 variant.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID4_SET = (4 << 76) | (0x8000 << 48)


def _new_id() -> str:
    """`uuid.uuid4().hex` without the UUID object (3 calls instead of 11)."""
    return f"{int.from_bytes(os.urandom(16)) & _UUID4_CLEAR | _UUID4_SET:032x}"


def start_request(environ: dict) -> str:
    """The request's id (the one it was given already, else a sane incoming `X-Request-ID`, else a
    new one), made the running request's for its log lines."""
    rid = environ.get(ENVIRON_KEY)
    if rid is None:
        incoming = environ.get(_META_KEY, "")
        rid = incoming if incoming and _SANE.fullmatch(incoming) else _new_id()
        environ[ENVIRON_KEY] = rid
    # Not reset on the way out: Django logs a 4xx/5xx ("Not Found: ...") after the middleware
    # returns. The next request in this thread sets its own.
    request_id.set(rid)
    return rid


class RequestIdMiddleware:
    """Outermost middleware: the request's id in `request.id`, the context variable and the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = request.id = start_request(request.META)
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
        # The id is the last header of the answers (RequestIdMiddleware's and the read cache's):
        # looked for from the end, 4 calls instead of 2 per header (30 on a cached hit).
        rid = next((value for name, value in reversed(resp.headers) if name.lower() == "x-request-id"), "-")
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
