"""Mastodon and compatible servers: /api/v1/accounts/lookup on the account's own instance.

Handles are stored as "name@host" with instance_host = host. Each instance has its own budget
(300 requests per 5 minutes per IP), so the limiter key is "mastodon:<host>". Recent posts come
from /api/v1/accounts/<id>/statuses on the same instance (the id from the lookup).
"""

import re

from django.conf import settings

from scraping.collectors.base import (
    POSTS_PER_ACCOUNT,
    AccountNotFound,
    AccountRef,
    Collector,
    Metrics,
    Outcome,
    PlatformError,
    PostRow,
    api_count,
    bare_handle,
    plain_text,
    post_row,
)

USERNAME = re.compile(r"^[A-Za-z0-9_]+([.-]+[A-Za-z0-9_]+)*$")
HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[0-9]{1,5})?$")
ACCOUNT_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
#: Mastodon's API gives at most this many statuses a page.
MAX_STATUSES = 40


def split_address(account: AccountRef) -> tuple[str, str]:
    """("name", "host") from "name@host" (or "@name@host") and the account's instance_host."""
    name, _, host = bare_handle(account.handle).partition("@")
    host = (account.instance_host or host).strip().lower()
    if not USERNAME.match(name) or not HOST.match(host):
        raise AccountNotFound(f"{account.handle!r} is not a Mastodon address like name@mastodon.social")
    return name, host


def instance_url(host: str) -> str:
    base = getattr(settings, "SOCIALMETRICS_MASTODON_BASE_URL", "") or f"https://{host}"
    return base.rstrip("/")


class MastodonCollector(Collector):
    platform = "mastodon"

    def fetch_one(self, account: AccountRef) -> Outcome:
        name, host = split_address(account)
        reply = self.get_json(
            f"{instance_url(host)}/api/v1/accounts/lookup", params={"acct": name}, rate_key=f"mastodon:{host}"
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

    def fetch_posts(self, account: AccountRef, metrics: Metrics) -> list[PostRow]:
        """The account's newest statuses, without replies and boosts of others' statuses."""
        _, host = split_address(account)
        account_id = metrics.external_id or ""
        if not ACCOUNT_ID.match(account_id):
            raise PlatformError(f"{host} gave no usable account id to read the statuses of")
        reply = self.get_json(
            f"{instance_url(host)}/api/v1/accounts/{account_id}/statuses",
            params={
                "limit": str(min(POSTS_PER_ACCOUNT, MAX_STATUSES)),
                "exclude_replies": "true",
                "exclude_reblogs": "true",
            },
            rate_key=f"mastodon:{host}",
        )
        if not isinstance(reply.data, list):
            raise PlatformError(f"{host} answered the statuses request without a list of statuses")
        posts = []
        for status in reply.data:
            if not isinstance(status, dict) or status.get("reblog"):
                continue
            text = plain_text(status.get("content")) or str(status.get("spoiler_text") or "")
            row = post_row(
                account,
                post_id=status.get("id"),
                published=status.get("created_at"),
                url=status.get("url") or status.get("uri"),
                text=text,
                likes=status.get("favourites_count"),
                comments=status.get("replies_count"),
                shares=status.get("reblogs_count"),
            )
            if row is not None:
                posts.append(row)
        return posts
