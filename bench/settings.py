"""Settings of the benchmark's processes: the production settings plus the bare baseline view.

`bench/run.py` sets what production insists on (SECRET_KEY, ALLOWED_HOSTS) for the loopback-only
processes it starts, with SECURE_SSL_REDIRECT off (there is no TLS proxy on loopback). The backends
come from DATABASE_URL and REDIS_URL exactly as in production.
"""

from socialmetrics.settings.prod import *  # noqa: F403
from socialmetrics.settings.prod import REST_FRAMEWORK

ROOT_URLCONF = "bench.urls"

# The anonymous throttle still counts every request (one cache `incr`, part of every figure) but
# never refuses the load generator, which sends thousands of requests a second from one address.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {**REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "1000000000/second"},
}
