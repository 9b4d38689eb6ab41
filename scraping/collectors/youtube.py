"""YouTube Data API v3: channels?part=statistics, 50 channel ids per call, else by handle.

Subscriber counts are rounded by YouTube (3 significant figures), so metrics carry precision
"rounded". A hidden subscriber count is None. viewCount is a lifetime total while our `views`
is a day's figure, so it is not used.
"""

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
    keeping,
)
from snapshots.models import Precision

CHANNEL_ID = re.compile(r"^UC[A-Za-z0-9_-]{22}$")
HANDLE = re.compile(r"^[A-Za-z0-9._-]{3,30}$")
LEGACY_USERNAME = re.compile(r"^[A-Za-z0-9]+$")


def channel_id(account: AccountRef) -> str | None:
    for candidate in (account.external_id or "", bare_handle(account.handle)):
        if CHANNEL_ID.match(candidate):
            return candidate
    return None


class YouTubeCollector(Collector):
    platform = "youtube"
    batch_size = 50

    def unavailable_reason(self) -> str | None:
        return None if credential("YOUTUBE_API_KEY") else "YOUTUBE_API_KEY is not set"

    def fetch(self, batch: list[AccountRef]) -> list[Outcome]:
        by_id = [i for i, account in enumerate(batch) if channel_id(account)]
        by_handle = [i for i in range(len(batch)) if i not in set(by_id)]
        outcomes: list[Outcome | None] = [None] * len(batch)
        found = self.fetch_batched(
            [batch[i] for i in by_id], key=channel_id, request=self.channels, metrics=self.metrics
        )
        with keeping(found):
            searched = super().fetch([batch[i] for i in by_handle])  # forHandle, then forUsername
        for index, outcome in zip(by_id + by_handle, found + searched, strict=True):
            outcomes[index] = outcome
        return outcomes

    def channels(self, ids: list[str]) -> tuple[dict[str, Any], int]:
        reply = self.list_channels(id=",".join(ids), maxResults="50")
        return {item.get("id"): item for item in self.items(reply.data)}, reply.attempts

    def fetch_one(self, account: AccountRef) -> Outcome:
        handle = bare_handle(account.handle)
        if not HANDLE.match(handle):
            raise AccountNotFound(f"{account.handle!r} is not a valid YouTube handle or channel id")
        reply = self.list_channels(forHandle=f"@{handle}")
        items, attempts = self.items(reply.data), reply.attempts
        if not items and LEGACY_USERNAME.match(handle):
            reply = self.list_channels(forUsername=handle)
            items, attempts = self.items(reply.data), attempts + reply.attempts
        if not items:
            return self.failed(account, AccountNotFound(f"YouTube has no channel @{handle}"), attempts)
        return self.succeeded(account, self.metrics(items[0]), attempts)

    def list_channels(self, **query: str):
        # The key goes in a header (Google APIs accept X-Goog-Api-Key) so it never appears in logged URLs.
        headers = {"X-Goog-Api-Key": credential("YOUTUBE_API_KEY")}
        return self.get_json(
            f"{self.base_url}/channels", params={"part": "statistics", **query}, headers=headers
        )

    @staticmethod
    def items(data: Any) -> list[dict]:
        # `items` is absent, not empty, when nothing matched.
        items = data.get("items") if isinstance(data, dict) else None
        return [item for item in items or [] if isinstance(item, dict)]

    def metrics(self, channel: dict) -> Metrics:
        statistics = channel.get("statistics") or {}
        hidden = statistics.get("hiddenSubscriberCount") is True
        followers = None if hidden else api_count(statistics.get("subscriberCount"))
        return Metrics(
            followers=followers,
            posts=api_count(statistics.get("videoCount")),
            precision=Precision.ROUNDED if followers is not None else Precision.EXACT,
            external_id=channel.get("id") or None,
        )

    def not_found(self, name: str) -> PlatformError:
        return AccountNotFound(f"YouTube has no channel {name} (deleted, terminated or wrong id)")
