"""Reddit: /r/{name}/about.json, subscribers of a subreddit. Needs a descriptive User-Agent.

A subreddit's recent posts come from /r/{name}/new.json: score as likes and the comment count
(Reddit shows no share or view counts)."""

import re
from typing import Any

import httpx

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
    error_words,
    post_row,
)

SUBREDDIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$")
PREFIX = re.compile(r"^/?r/", re.IGNORECASE)
USER_PREFIX = re.compile(r"^/?(u|user)/", re.IGNORECASE)

# Reddit's `reason` for a subreddit it will not show, in words for the person reading the run.
REASONS = {
    "private": "is private",
    "banned": "is banned",
    "quarantined": "is quarantined (needs an opted-in login)",
    "gold_only": "is for Reddit Premium members only",
}


def subreddit(account: AccountRef) -> str:
    handle = bare_handle(account.handle)
    if USER_PREFIX.match(handle):
        raise PlatformError("Reddit user profiles are not collected; track a subreddit (r/name)")
    name = PREFIX.sub("", handle).strip("/")
    if not SUBREDDIT.match(name):
        raise AccountNotFound(f"{account.handle!r} is not a valid subreddit name")
    return name


class RedditCollector(Collector):
    platform = "reddit"

    def fetch_one(self, account: AccountRef) -> Outcome:
        name = subreddit(account)
        reply = self.get_json(f"{self.base_url}/r/{name}/about.json", params={"raw_json": "1"})
        data = reply.data
        about = data.get("data") if isinstance(data, dict) and data.get("kind") == "t5" else None
        if not isinstance(about, dict):
            # For a name that does not exist Reddit may answer with search results (a Listing).
            return self.failed(account, AccountNotFound(f"Reddit has no subreddit r/{name}"), reply.attempts)
        metrics = Metrics(
            followers=api_count(about.get("subscribers")), external_id=about.get("name") or None
        )
        return self.succeeded(account, metrics, reply.attempts)

    def fetch_posts(self, account: AccountRef, metrics: Metrics) -> list[PostRow]:
        """The subreddit's newest posts."""
        name = subreddit(account)
        reply = self.get_json(
            f"{self.base_url}/r/{name}/new.json", params={"limit": str(POSTS_PER_ACCOUNT), "raw_json": "1"}
        )
        listing = reply.data.get("data") if isinstance(reply.data, dict) else None
        children = listing.get("children") if isinstance(listing, dict) else None
        if not isinstance(children, list):
            raise PlatformError(f"Reddit answered r/{name}/new without a listing")
        posts = []
        for child in children:
            post = child.get("data") if isinstance(child, dict) and child.get("kind") == "t3" else None
            if not isinstance(post, dict):
                continue
            permalink = post.get("permalink")
            row = post_row(
                account,
                post_id=post.get("id"),
                published=post.get("created_utc"),
                url=f"https://www.reddit.com{permalink}" if str(permalink).startswith("/") else "",
                post_type="post" if post.get("is_self") else "link",
                text=post.get("title"),
                likes=post.get("score"),  # a negative score is not a count of likes: None
                comments=post.get("num_comments"),
            )
            if row is not None:
                posts.append(row)
        return posts

    def classify_error(self, response: httpx.Response, data: Any) -> PlatformError:
        reason = data.get("reason") if isinstance(data, dict) else None
        if reason:
            words = REASONS.get(reason, f"is unavailable ({reason})")
            detail = error_words(data.get("quarantine_message") or data.get("message") or "")
            return AccountNotFound(
                f"Reddit {response.status_code}: the subreddit {words}: {detail}".rstrip(": ")
            )
        if response.is_redirect:
            return AccountNotFound(
                f"Reddit {response.status_code}: no such subreddit "
                f"(redirected to {response.headers.get('location', 'search')})"
            )
        return super().classify_error(response, data)
