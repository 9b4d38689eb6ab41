"""YouTube Data API v3: channels?part=statistics, 50 channel ids per call, else by handle.

Subscriber counts are rounded by YouTube (3 significant figures), so metrics carry precision
"rounded". A hidden subscriber count is None. viewCount is a lifetime total while our `views`
is a day's figure, so it is not used.

Recent posts are the channel's newest uploads: its uploads playlist (channels?part=contentDetails,
50 channels a call), the playlist's newest video ids (playlistItems, one call a channel), then the
videos' titles and counts (videos?part=snippet,statistics, 50 videos a call). One quota unit each.
"""

import logging
import re
from typing import Any

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
    chunked,
    credential,
    keeping,
    post_row,
)
from scraping.models import OutcomeStatus
from scraping.ratelimit import WaitTooLong
from snapshots.models import Precision

CHANNEL_ID = re.compile(r"^UC[A-Za-z0-9_-]{22}$")
HANDLE = re.compile(r"^[A-Za-z0-9._-]{3,30}$")
LEGACY_USERNAME = re.compile(r"^[A-Za-z0-9]+$")
#: The most ids (channels, videos) and playlist items one call takes.
MAX_RESULTS = 50

logger = logging.getLogger(__name__)


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
        return self.get_resource("channels", part="statistics", **query)

    def get_resource(self, resource: str, **query: str):
        # The key goes in a header (Google APIs accept X-Goog-Api-Key) so it never appears in logged URLs.
        headers = {"X-Goog-Api-Key": credential("YOUTUBE_API_KEY")}
        return self.get_json(f"{self.base_url}/{resource}", params=query, headers=headers)

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

    # Posts: the channels' newest uploads, read for a batch of channels at once.

    def collect_posts(self, outcomes: list[Outcome]) -> None:
        read = [
            o
            for o in outcomes
            if o.status == OutcomeStatus.SUCCEEDED
            and o.metrics
            and CHANNEL_ID.match(o.metrics.external_id or "")
        ]
        try:
            for chunk in chunked(read, MAX_RESULTS):
                self._posts_of(chunk)
        except WaitTooLong:
            return  # the rest go without posts; the next metrics request defers the platform

    def _posts_of(self, outcomes: list[Outcome]) -> None:
        try:
            reply = self.get_resource(
                "channels",
                part="contentDetails",
                id=",".join(o.metrics.external_id for o in outcomes),
                maxResults=str(MAX_RESULTS),
            )
        except PlatformError as exc:
            logger.warning(
                "could not read the uploads playlists of %s channels: %s", len(outcomes), exc.message
            )
            return
        uploads = {}
        for item in self.items(reply.data):
            details = item.get("contentDetails")
            playlists = details.get("relatedPlaylists") if isinstance(details, dict) else None
            if isinstance(playlists, dict) and isinstance(playlists.get("uploads"), str):
                uploads[item.get("id")] = playlists["uploads"]
        video_ids: dict[int, list[str]] = {}
        for index, outcome in enumerate(outcomes):
            playlist = uploads.get(outcome.metrics.external_id)
            if playlist is None:
                continue
            try:
                video_ids[index] = self._upload_ids(playlist)
            except PlatformError as exc:
                logger.warning(
                    "could not read the uploads of YouTube @%s: %s", outcome.account.handle, exc.message
                )
        videos = self._videos([v for ids in video_ids.values() for v in ids])
        if videos is None:
            return
        for index, ids in video_ids.items():
            account = outcomes[index].account
            posts = [self._post(account, videos[v]) for v in ids if v in videos]
            outcomes[index].posts = [p for p in posts if p is not None]

    def _upload_ids(self, playlist: str) -> list[str]:
        """The newest video ids of an uploads playlist (a channel without uploads has none)."""
        try:
            reply = self.get_resource(
                "playlistItems",
                part="contentDetails",
                playlistId=playlist,
                maxResults=str(min(POSTS_PER_ACCOUNT, MAX_RESULTS)),
            )
        except AccountNotFound:
            return []  # playlistNotFound: YouTube has no uploads playlist for a channel that never uploaded
        ids = []
        for item in self.items(reply.data):
            details = item.get("contentDetails")
            video_id = details.get("videoId") if isinstance(details, dict) else None
            if isinstance(video_id, str) and video_id:
                ids.append(video_id)
        return ids

    def _videos(self, ids: list[str]) -> dict[str, dict] | None:
        """Video id -> its resource (snippet, statistics); None when they could not be read."""
        found: dict[str, dict] = {}
        for chunk in chunked(list(dict.fromkeys(ids)), MAX_RESULTS):
            try:
                reply = self.get_resource("videos", part="snippet,statistics", id=",".join(chunk))
            except PlatformError as exc:
                logger.warning(
                    "could not read the statistics of %s YouTube videos: %s", len(chunk), exc.message
                )
                return None
            found.update((item.get("id"), item) for item in self.items(reply.data))
        return found

    @staticmethod
    def _post(account: AccountRef, video: dict) -> PostRow | None:
        snippet = video.get("snippet") if isinstance(video.get("snippet"), dict) else {}
        statistics = video.get("statistics") if isinstance(video.get("statistics"), dict) else {}
        video_id = video.get("id")
        return post_row(
            account,
            post_id=video_id,
            published=snippet.get("publishedAt"),
            url=f"https://www.youtube.com/watch?v={video_id}" if isinstance(video_id, str) else "",
            post_type="video",
            text=snippet.get("title"),
            likes=statistics.get("likeCount"),  # absent when the owner hides it: None
            comments=statistics.get("commentCount"),  # absent when comments are off
            views=statistics.get("viewCount"),
        )
