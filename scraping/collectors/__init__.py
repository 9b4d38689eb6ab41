"""Collectors read audience metrics from the platforms' public APIs; see base.py."""

from scraping.collectors.base import (
    AccountNotFound,
    AccountRef,
    Collector,
    Metrics,
    NoCollector,
    Outcome,
    PlatformError,
    RateLimited,
    get_collector,
)
from scraping.ratelimit import WaitTooLong

__all__ = [
    "AccountNotFound",
    "AccountRef",
    "Collector",
    "Metrics",
    "NoCollector",
    "Outcome",
    "PlatformError",
    "RateLimited",
    "WaitTooLong",
    "get_collector",
]
