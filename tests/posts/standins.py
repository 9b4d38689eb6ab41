"""The platforms' answers listing an account's recent posts, shaped as their public APIs document them
(PLATFORMS.md), for the local stand-ins (pytest-httpserver on 127.0.0.1) the collectors are tested on."""

from __future__ import annotations

import json

from werkzeug import Response

REPOST = "app.bsky.feed.defs#reasonRepost"


def bluesky_post(
    did: str, rkey: str, *, text: str, likes: int, replies: int, reposts: int, quotes: int
) -> dict:
    """A feedViewPost of app.bsky.feed.getAuthorFeed."""
    return {
        "post": {
            "uri": f"at://{did}/app.bsky.feed.post/{rkey}",
            "cid": f"bafyrei{rkey}",
            "author": {"did": did, "handle": "city.bsky.social"},
            "record": {
                "$type": "app.bsky.feed.post",
                "text": text,
                "createdAt": "2026-11-30T09:15:00.000Z",
                "langs": ["en"],
            },
            "replyCount": replies,
            "repostCount": reposts,
            "likeCount": likes,
            "quoteCount": quotes,
            "indexedAt": "2026-11-30T09:15:01.000Z",
            "labels": [],
        }
    }


def bluesky_feed(did: str) -> dict:
    """Two posts of the account and one of another account that it reposted (left out)."""
    repost = bluesky_post(
        "did:plc:someoneelse", "3other", text="Not ours", likes=9, replies=0, reposts=0, quotes=0
    )
    repost["reason"] = {"$type": REPOST, "by": {"did": did}, "indexedAt": "2026-11-30T10:00:00.000Z"}
    return {
        "feed": [
            bluesky_post(
                did, "3kfirst", text="Bridge\u0000 reopens\ntoday", likes=120, replies=7, reposts=11, quotes=2
            ),
            repost,
            bluesky_post(did, "3ksecond", text="Weekly report", likes=40, replies=1, reposts=3, quotes=0),
        ],
        "cursor": "2026-11-29T00:00:00.000Z",
    }


#: The DID of the stand-in's account, whatever actor the feed is asked for (a DID never changes).
STANDIN_DID = "did:plc:cityaaaaaaaaaaaaaaaaaaaa"


def answer_bluesky_feed(request) -> Response:
    return Response(json.dumps(bluesky_feed(STANDIN_DID)), content_type="application/json")


def mastodon_status(status_id: str, **overrides) -> dict:
    """A Status entity of /api/v1/accounts/:id/statuses."""
    return {
        "id": status_id,
        "created_at": "2026-11-29T18:00:00.000Z",
        "in_reply_to_id": None,
        "visibility": "public",
        "url": f"https://social.example/@city/{status_id}",
        "uri": f"https://social.example/users/city/statuses/{status_id}",
        "content": '<p>Road works on <a href="https://example.org">Main St</a> &amp; Elm</p><p>Detours</p>',
        "spoiler_text": "",
        "reblog": None,
        "replies_count": 4,
        "reblogs_count": 12,
        "favourites_count": 55,
        **overrides,
    }


def mastodon_statuses() -> list[dict]:
    boost = mastodon_status("113000000000000003", reblog=mastodon_status("1"), content="")
    return [
        mastodon_status("113000000000000001"),
        mastodon_status("113000000000000002", content="<p>Short one</p>", favourites_count=3),
        boost,  # a boost of another account's status: left out
    ]


def answer_mastodon_statuses(request) -> Response:
    return Response(json.dumps(mastodon_statuses()), content_type="application/json")


def youtube_channels_content(channel_id: str) -> dict:
    return {
        "kind": "youtube#channelListResponse",
        "items": [
            {
                "kind": "youtube#channel",
                "id": channel_id,
                "contentDetails": {"relatedPlaylists": {"likes": "", "uploads": "UU" + channel_id[2:]}},
            }
        ],
    }


def youtube_playlist(video_ids: list[str]) -> dict:
    return {
        "kind": "youtube#playlistItemListResponse",
        "items": [{"kind": "youtube#playlistItem", "contentDetails": {"videoId": v}} for v in video_ids],
    }


def youtube_videos(video_ids: list[str]) -> dict:
    items = []
    for index, video_id in enumerate(video_ids):
        statistics = {"viewCount": str(10_000 * (index + 1)), "likeCount": str(300 * (index + 1))}
        if index == 0:
            statistics["commentCount"] = "25"
        items.append(
            {
                "kind": "youtube#video",
                "id": video_id,
                "snippet": {"publishedAt": "2026-11-28T16:00:00Z", "title": f"Video {index + 1}"},
                "statistics": statistics,
            }
        )
    return {"kind": "youtube#videoListResponse", "items": items}
