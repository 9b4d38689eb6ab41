"""X API v2: users/by?usernames=... (100 per call) with the app's bearer token."""

import re
from typing import Any

from scraping.collectors.base import (
    AccountNotFound,
    AccountRef,
    Collector,
    Metrics,
    Outcome,
    PlatformError,
    api_count,
    bare_handle,
    credential,
)

USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")


class XCollector(Collector):
    platform = "x"
    batch_size = 100

    def unavailable_reason(self) -> str | None:
        return None if credential("X_BEARER_TOKEN") else "X_BEARER_TOKEN is not set"

    def fetch(self, batch: list[AccountRef]) -> list[Outcome]:
        return self.fetch_batched(batch, key=self.username, request=self.users, metrics=self.metrics)

    def username(self, account: AccountRef) -> str:
        name = bare_handle(account.handle)
        if not USERNAME.match(name):
            # One invalid name would make X reject the whole request with a 400.
            raise AccountNotFound(f"{account.handle!r} is not a valid X username")
        return name.lower()

    def users(self, names: list[str]) -> tuple[dict[str, Any], int]:
        reply = self.get_json(
            f"{self.base_url}/users/by",
            params={"usernames": ",".join(names), "user.fields": "public_metrics"},
            headers={"Authorization": f"Bearer {credential('X_BEARER_TOKEN')}"},
        )
        data = reply.data if isinstance(reply.data, dict) else {}
        found: dict[str, Any] = {}
        for user in data.get("data") or []:
            found[str(user.get("username", "")).lower()] = user
        # Missing and suspended users come back in `errors`, one entry per username.
        for error in data.get("errors") or []:
            name = str(error.get("value") or error.get("resource_id") or "").lower()
            if name and name not in found:
                found[name] = AccountNotFound(
                    f"X: {error.get('detail') or error.get('title') or 'not found'}"
                )
        return found, reply.attempts

    def metrics(self, user: dict) -> Metrics:
        public = user.get("public_metrics") or {}
        return Metrics(
            followers=api_count(public.get("followers_count")),
            following=api_count(public.get("following_count")),
            posts=api_count(public.get("tweet_count")),
            external_id=str(user["id"]) if user.get("id") else None,
        )

    def not_found(self, name: str) -> PlatformError:
        return AccountNotFound(f"X returned nothing for @{name} (not found)")
