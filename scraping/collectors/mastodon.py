"""Mastodon and compatible servers: /api/v1/accounts/lookup on the account's own instance.

Handles are stored as "name@host" with instance_host = host. Each instance has its own budget
(300 requests per 5 minutes per IP), so the limiter key is "mastodon:<host>".
"""

import re

from django.conf import settings

from scraping.collectors.base import (
    AccountNotFound,
    AccountRef,
    Collector,
    Metrics,
    Outcome,
    PlatformError,
    api_count,
    bare_handle,
)

USERNAME = re.compile(r"^[A-Za-z0-9_]+([.-]+[A-Za-z0-9_]+)*$")
HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[0-9]{1,5})?$")


def split_address(account: AccountRef) -> tuple[str, str]:
    """("name", "host") from "name@host" (or "@name@host") and the account's instance_host."""
    name, _, host = bare_handle(account.handle).partition("@")
    host = (account.instance_host or host).strip().lower()
    if not USERNAME.match(name) or not HOST.match(host):
        raise AccountNotFound(f"{account.handle!r} is not a Mastodon address like name@mastodon.social")
    return name, host


class MastodonCollector(Collector):
    platform = "mastodon"

    def fetch_one(self, account: AccountRef) -> Outcome:
        name, host = split_address(account)
        base = getattr(settings, "SOCIALMETRICS_MASTODON_BASE_URL", "") or f"https://{host}"
        reply = self.get_json(
            f"{base.rstrip('/')}/api/v1/accounts/lookup", params={"acct": name}, rate_key=f"mastodon:{host}"
        )
        data = reply.data
        if not isinstance(data, dict) or "id" not in data:
            raise PlatformError(f"{host} answered the account lookup without an account")
        if data.get("suspended"):
            return self.failed(
                account, AccountNotFound(f"{name}@{host} is suspended on {host}"), reply.attempts
            )
        metrics = Metrics(
            followers=api_count(data.get("followers_count")),  # -1 when the owner hides it: None
            following=api_count(data.get("following_count")),
            posts=api_count(data.get("statuses_count")),
            external_id=str(data["id"]),
        )
        return self.succeeded(account, metrics, reply.attempts)
