"""Cache settings the tests switch to."""

#: The default cache on a Redis nobody listens at, its errors ignored as in production.
DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {
            "IGNORE_EXCEPTIONS": True,
            "SOCKET_CONNECT_TIMEOUT": 0.2,
            "SOCKET_TIMEOUT": 0.2,
            "CONNECTION_FACTORY": "socialmetrics.redis_policy.ConnectionFactory",
        },
    }
}
