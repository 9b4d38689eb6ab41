"""Bluesky: app.bsky.actor.getProfiles on the public AppView, 25 actors per call, no credentials;
recent posts from app.bsky.feed.getAuthorFeed, one call per account."""

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
    add_counts,
    api_count,
    bare_handle,
    post_row,
)

HANDLE = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
DID = re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]+$")
#: A feed item that is another account's post reposted by this one (not the account's own post).
REPOST_REASON = "app.bsky.feed.defs#reasonRepost"


class BlueskyCollector(Collector):
    platform = "bluesky"
    batch_size = 25

    def fetch(self, batch: list[AccountRef]) -> list[Outcome]:
        return self.fetch_batched(batch, key=self.actor, request=self.profiles, metrics=self.metrics)

    def actor(self, account: AccountRef) -> str:
        """The account's DID when we know it (it survives handle changes), else its handle."""
        if account.external_id and DID.match(account.external_id):
            return account.external_id
        handle = bare_handle(account.handle).lower()
        if not HANDLE.match(handle):
            raise AccountNotFound(f"{account.handle!r} is not a valid Bluesky handle (like name.bsky.social)")
        return handle

    def profiles(self, actors: list[str]) -> tuple[dict[str, Any], int]:
        reply = self.get_json(
            f"{self.base_url}/xrpc/app.bsky.actor.getProfiles", params=[("actors", a) for a in actors]
        )
        profiles = reply.data.get("profiles") if isinstance(reply.data, dict) else None
        if not isinstance(profiles, list):
            raise PlatformError("Bluesky answered getProfiles without a list of profiles")
        found = {}
        for profile in profiles:
            if isinstance(profile, dict):
                found[str(profile.get("did", ""))] = profile
                found[str(profile.get("handle", "")).lower()] = profile
        return found, reply.attempts

    def metrics(self, profile: dict) -> Metrics:
        return Metrics(
            followers=api_count(profile.get("followersCount")),
            following=api_count(profile.get("followsCount")),
            posts=api_count(profile.get("postsCount")),
            external_id=profile.get("did") or None,
        )

    def not_found(self, name: str) -> PlatformError:
        return AccountNotFound(
            f"Bluesky returned no profile for {name} (not found: deleted, deactivated, "
            "taken down, or the handle changed)"
        )

    def fetch_posts(self, account: AccountRef, metrics: Metrics) -> list[PostRow]:
        """The account's newest posts without replies; its reposts of others' posts left out."""
        actor = metrics.external_id if metrics.external_id and DID.match(metrics.external_id) else None
        reply = self.get_json(
            f"{self.base_url}/xrpc/app.bsky.feed.getAuthorFeed",
            params={
                "actor": actor or self.actor(account),
                "limit": str(POSTS_PER_ACCOUNT),
                "filter": "posts_no_replies",
            },
        )
        feed = reply.data.get("feed") if isinstance(reply.data, dict) else None
        if not isinstance(feed, list):
            raise PlatformError("Bluesky answered getAuthorFeed without a feed")
        posts = []
        for item in feed:
            post = item.get("post") if isinstance(item, dict) else None
            reason = item.get("reason") if isinstance(item, dict) else None
            if not isinstance(post, dict) or (
                isinstance(reason, dict) and reason.get("$type") == REPOST_REASON
            ):
                continue
            record = post.get("record") if isinstance(post.get("record"), dict) else {}
            author = post.get("author") if isinstance(post.get("author"), dict) else {}
            uri = str(post.get("uri") or "")
            try:
                shares = add_counts(post.get("repostCount"), post.get("quoteCount"))
            except PlatformError:
                continue  # an unreadable count: this post is left out, not the others
            profile = author.get("did") or actor or bare_handle(account.handle)
            row = post_row(
                account,
                post_id=uri,
                published=record.get("createdAt") or post.get("indexedAt"),
                url=f"https://bsky.app/profile/{profile}/post/{uri.rsplit('/', 1)[-1]}" if uri else "",
                text=record.get("text"),
                likes=post.get("likeCount"),
                comments=post.get("replyCount"),
                shares=shares,
            )
            if row is not None:
                posts.append(row)
        return posts
