"""Settings shared by every environment, configured from the environment (django-environ).

`dev`, `test` and `prod` override only what differs. Integrations switch on by their variable:
`DATABASE_URL` (default: SQLite file in the project folder) and `REDIS_URL` (default: local memory).
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.csp import CSP

from socialmetrics.logs import log_format

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
# Earlier keys still accepted for signed values (sessions, password resets) while rotating SECRET_KEY.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",  # sign-in attempts and lockouts (see "Security")
    "django_celery_beat",  # the daily collection schedule, editable in the admin
    "accounts",
    "snapshots",
    "scraping",
]

MIDDLEWARE = [
    # The request's id (X-Request-ID) in its response, its access log line and its app log lines.
    "socialmetrics.logs.RequestIdMiddleware",
    # Anonymous cache hits of the read API are answered here, with the headers and figures the
    # middleware below would give them, before sessions and REST framework.
    "socialmetrics.cache.ReadCacheMiddleware",
    "socialmetrics.middleware.PerformanceMiddleware",
    # A request waits DATABASE_REQUEST_TIMEOUT for a connection; an unreachable database is a 503.
    "socialmetrics.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out sign-in into the lockout page (django-axes).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "socialmetrics.urls"
WSGI_APPLICATION = "socialmetrics.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
# Embedded default: a SQLite file beside manage.py, in WAL mode with a busy timeout.
# Production: DATABASE_URL=postgres://user:pass@host:5432/name, pooled by psycopg 3, through
# socialmetrics.db (Django's backend, with a request's wait for a connection kept short).
# A request waits DATABASE_REQUEST_TIMEOUT seconds for a connection, then answers 503 (so an
# unreachable database is reported within 2 s); background work (collection runs, imports,
# management commands) waits DATABASE_POOL_TIMEOUT.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA busy_timeout=20000;"
            ),
        }
    )
elif _db["ENGINE"] in {"django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"}:
    from socialmetrics.db.pool import check_connection

    _db["ENGINE"] = "socialmetrics.db"
    _db["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not keep its own
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=20.0),
        # A failed connect is retried after 1, 2 s..., given up after 5 s and tried again by the
        # next request: PostgreSQL's return is noticed within seconds (psycopg's default: 300 s).
        "reconnect_timeout": 5.0,
        # The health check CONN_HEALTH_CHECKS asks for, without a round trip (110 us) for a
        # connection used moments ago whose server has not ended it (socialmetrics.db.pool).
        "check": check_connection,
    }
    # An unanswering host (not a refusing one) holds a pool worker this long at most.
    _db["OPTIONS"].setdefault("connect_timeout", 5)
DATABASE_REQUEST_TIMEOUT = env.float("DATABASE_REQUEST_TIMEOUT", default=1.5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis ---------------------------------------------------------------------------
# Unset REDIS_URL: per-process local memory. Set: django-redis with the hiredis parser, whose pool
# is the one Redis connection of the process (socialmetrics.redis_policy: the cache, the throttle,
# the run lock and the rate limiter all use it). A Redis failure is logged and counted, never a
# 500; after one, Redis is left alone for REDIS_BACKOFF_SECONDS.
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_BACKOFF_SECONDS = env.float("REDIS_BACKOFF_SECONDS", default=2.0)
#: Starts every key socialmetrics writes to Redis, so installations sharing one Redis never meet.
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="sm")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "TIMEOUT": 3600,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "CONNECTION_FACTORY": "socialmetrics.redis_policy.ConnectionFactory",
                "PARSER_CLASS": "redis.connection._HiredisParser",
                "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=0.5),
                "SOCKET_TIMEOUT": env.float("REDIS_SOCKET_TIMEOUT", default=0.5),
                "IGNORE_EXCEPTIONS": True,
                "CONNECTION_POOL_KWARGS": {"max_connections": 50, "health_check_interval": 30},
            },
        }
    }
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = False  # socialmetrics.redis_policy logs once per back-off
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "socialmetrics",
            "TIMEOUT": 3600,
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    }

# --- Auth, i18n, time ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
# The time zone whose calendar day a snapshot belongs to: "today" everywhere in the product.
SOCIALMETRICS_TIME_ZONE = env.str("SOCIALMETRICS_TIME_ZONE", default="UTC")

# --- Static files (whitenoise) --------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [d for d in [BASE_DIR / "static", BASE_DIR / "node_modules"] if d.is_dir()]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Product settings ---------------------------------------------------------------------------
SOCIALMETRICS_PUBLIC_READ = env.bool("SOCIALMETRICS_PUBLIC_READ", default=True)
SOCIALMETRICS_PUBLIC_PERFORMANCE = env.bool("SOCIALMETRICS_PUBLIC_PERFORMANCE", default=False)
SOCIALMETRICS_MAX_UPLOAD_MB = env.int("SOCIALMETRICS_MAX_UPLOAD_MB", default=50)
DATA_UPLOAD_MAX_MEMORY_SIZE = SOCIALMETRICS_MAX_UPLOAD_MB * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Metrics ------------------------------------------------------------------------------------
# /metrics (Prometheus text format): staff, or `Authorization: Bearer <SOCIALMETRICS_METRICS_TOKEN>`
# when set, or everyone with SOCIALMETRICS_PUBLIC_METRICS=true. Under gunicorn, workers add up
# through PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py sets it up).
SOCIALMETRICS_METRICS_TOKEN = env.str("SOCIALMETRICS_METRICS_TOKEN", default="")
SOCIALMETRICS_PUBLIC_METRICS = env.bool("SOCIALMETRICS_PUBLIC_METRICS", default=False)

# --- Collection (platform APIs) -------------------------------------------------------------------
# Credentials: a platform whose credential is missing is skipped with that reason.
YOUTUBE_API_KEY = env.str("YOUTUBE_API_KEY", default="")
X_BEARER_TOKEN = env.str("X_BEARER_TOKEN", default="")
GITHUB_TOKEN = env.str("GITHUB_TOKEN", default="")
TWITCH_CLIENT_ID = env.str("TWITCH_CLIENT_ID", default="")
TWITCH_TOKEN = env.str("TWITCH_TOKEN", default="")
META_ACCESS_TOKEN = env.str("META_ACCESS_TOKEN", default="")
INSTAGRAM_BUSINESS_ID = env.str("INSTAGRAM_BUSINESS_ID", default="")
SOCIALMETRICS_USER_AGENT = env.str("SOCIALMETRICS_USER_AGENT", default="")
# JSON objects in the environment, checked at start (scraping/checks.py):
#: Platform API base URLs, {"bluesky": "http://127.0.0.1:9000"}: a staging install or a test points
#: real collection at a local stand-in of a platform; missing keys use the real APIs.
SOCIALMETRICS_API_BASE_URLS: dict[str, str] = env.json("SOCIALMETRICS_API_BASE_URLS", default={})
#: Every Mastodon account is read from this server instead of its own instance (a stand-in).
SOCIALMETRICS_MASTODON_BASE_URL = env.str("SOCIALMETRICS_MASTODON_BASE_URL", default="")
#: Request budgets per platform, {"github": [5000, 3600]} (requests per seconds), over the defaults.
SOCIALMETRICS_RATE_LIMITS: dict[str, tuple[int, float]] = env.json("SOCIALMETRICS_RATE_LIMITS", default={})
#: Concurrent requests per platform, {"x": 2}, over the defaults.
SOCIALMETRICS_MAX_CONCURRENCY: dict[str, int] = env.json("SOCIALMETRICS_MAX_CONCURRENCY", default={})
# A running run renews its lock and its record every HEARTBEAT seconds; one silent for STALE seconds
# is ended as interrupted by whoever looks next (STALE is also how long its lock lasts unrenewed).
# A run queued for a Celery worker holds the lock for QUEUE seconds at most, then it has failed.
SOCIALMETRICS_RUN_HEARTBEAT_SECONDS = env.float("SOCIALMETRICS_RUN_HEARTBEAT_SECONDS", default=10.0)
SOCIALMETRICS_RUN_STALE_SECONDS = env.float(
    "SOCIALMETRICS_RUN_STALE_SECONDS", default=3 * SOCIALMETRICS_RUN_HEARTBEAT_SECONDS
)
SOCIALMETRICS_RUN_QUEUE_SECONDS = env.float("SOCIALMETRICS_RUN_QUEUE_SECONDS", default=600.0)

# --- Celery (optional) ----------------------------------------------------------------------------
# Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/1) to run collections started from the API
# on Celery workers (`celery -A socialmetrics worker`) instead of a thread of the web process.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# The daily collection's schedule lives in the database (django-celery-beat), editable in the admin
# under "Periodic tasks"; `celery -A socialmetrics beat` sends it. Migrating creates it once, at
# SOCIALMETRICS_COLLECT_AT (HH:MM in SOCIALMETRICS_TIME_ZONE), collecting in the mode of
# SOCIALMETRICS_SCHEDULED_MODE ("real" or "simulated"); later changes are made in the admin.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
SOCIALMETRICS_COLLECT_AT = env.str("SOCIALMETRICS_COLLECT_AT", default="06:00")
SOCIALMETRICS_SCHEDULED_MODE = env.str("SOCIALMETRICS_SCHEDULED_MODE", default="real")
# The broker's keys (queues, bindings, unacknowledged tasks) carry the installation's prefix too.
# A task not acknowledged within the visibility timeout (its worker died) goes to another worker: it
# must be longer than the longest batch of a run takes (a real-mode batch waits on rate limits).
# (seconds; the environment's CELERY_VISIBILITY_TIMEOUT, an hour by default). Workers look for such
# tasks every 10 s (sooner with a shorter timeout), not every 100 s as the transport would.
_celery_visibility = env.float("CELERY_VISIBILITY_TIMEOUT", default=3600.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": f"{CACHE_KEY_PREFIX}:celery:",
    "visibility_timeout": _celery_visibility,
    "unacked_restore_interval": max(1, min(10, int(_celery_visibility // 3))),
    "unacked_restore_throttle": 1,
}
# How `manage.py collect_metrics` and runs started from the API or the dashboard collect: "threads"
# (in the process that starts the run, or on one Celery worker when CELERY_BROKER_URL is set) or
# "celery" (in batches spread over every Celery worker; needs CELERY_BROKER_URL and REDIS_URL).
SOCIALMETRICS_COLLECT_BACKEND = env.str("SOCIALMETRICS_COLLECT_BACKEND", default="threads")

# --- Logging ------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# Every line carries the id of the request it was written in (socialmetrics.logs), as gunicorn's
# access line does; SOCIALMETRICS_LOG_FORMAT=json (the production default) writes JSON lines.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "socialmetrics.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"},
        "json": {"()": "socialmetrics.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": log_format(), "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # django-axes announces itself at every start: not on every `manage.py ... -v 0` run.
    "loggers": {"axes.apps": {"level": "WARNING"}},
}

# --- API (REST framework, caching, throttling) ---
# Reads are open unless SOCIALMETRICS_PUBLIC_READ=false; writes need staff (session with CSRF, or
# token). Anonymous traffic is throttled (SOCIALMETRICS_THROTTLE_ANON, e.g. "1000/minute"; "off"
# turns it off); behind a proxy set SOCIALMETRICS_NUM_PROXIES so clients are told apart.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous request gets 401 with WWW-Authenticate rather than 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["socialmetrics.api.permissions.ReadOrStaffWrite"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        # REST framework's, with the filter form and page links on the {"data", "pagination"} lists.
        "socialmetrics.api.browsable.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["socialmetrics.api.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": env.str("SOCIALMETRICS_THROTTLE_ANON", default="1000/minute")},
    "NUM_PROXIES": env.int("SOCIALMETRICS_NUM_PROXIES", default=None),
    "EXCEPTION_HANDLER": "socialmetrics.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "socialmetrics.api.schema.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "socialmetrics API",
    "DESCRIPTION": (
        "Audience metrics of tracked social media accounts. Compatible with the paths and shapes "
        'of the earlier Flask tracker. Errors are JSON: {"error": {"code", "message", "field"}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PlatformEnum": "accounts.models.Platform",
        "RunStatusEnum": "scraping.models.RunStatus",
        "RunModeEnum": "scraping.models.RunMode",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "socialmetrics.api.schema.text_without_nul",
    ],
}
# Lifetime (seconds) of cached API responses; writes invalidate them immediately anyway.
SOCIALMETRICS_CACHE_TIMEOUTS = {
    "summary": env.int("SOCIALMETRICS_CACHE_SUMMARY_SECONDS", default=300),
    "grid": env.int("SOCIALMETRICS_CACHE_GRID_SECONDS", default=300),
    "history": env.int("SOCIALMETRICS_CACHE_HISTORY_SECONDS", default=600),
    "accounts": env.int("SOCIALMETRICS_CACHE_ACCOUNTS_SECONDS", default=900),
}

# --- Security -------------------------------------------------------------------------------------
# Sign-in is throttled against password guessing by django-axes: the site's /login/, the admin's
# and REST framework's /api/auth/login/ all call authenticate(). SOCIALMETRICS_LOGIN_FAILURE_LIMIT
# wrong passwords from one address, or against one username, lock it out for
# SOCIALMETRICS_LOGIN_COOLOFF_MINUTES (a 429 page that says so; even the right password is refused
# until then). A success resets the count. Attempts live in the database (admin: "Axes");
# `manage.py axes_reset` (or axes_reset_username NAME) lifts a lockout at once.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out sign-in before any password check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("SOCIALMETRICS_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("SOCIALMETRICS_LOGIN_COOLOFF_MINUTES", default=15.0))
# Each item locks on its own; "a+b" locks the combination (e.g. "username+ip_address": a username is
# locked only for the address that guessed, so nobody can lock a colleague out from elsewhere).
AXES_LOCKOUT_PARAMETERS = [
    item.split("+") if "+" in item else item
    for item in env.list("SOCIALMETRICS_LOGIN_LOCKOUT_BY", default=["ip_address", "username"])
]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
# The client's address: REMOTE_ADDR, or behind SOCIALMETRICS_NUM_PROXIES proxies the address they
# put in X-Forwarded-For (as the API throttle counts it); never a header a client could forge.
if REST_FRAMEWORK["NUM_PROXIES"]:
    AXES_IPWARE_PROXY_COUNT = REST_FRAMEWORK["NUM_PROXIES"]
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# Content-Security-Policy (Django's own middleware): scripts, styles, images and requests only from
# this site; no inline <script>, no style="" attribute, no eval, no framing, forms post only here.
# The pages keep their JavaScript in static/js and their data in json_script blocks, which run nothing.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
