"""Platform names, profile URL parsing and canonical profile URLs (no database)."""

import json
from pathlib import Path

import pytest

from accounts.models import Platform
from accounts.platforms import (
    InvalidProfileURL,
    ProfileRef,
    UnknownPlatform,
    normalize_platform,
    parse_profile_url,
    profile_url_for,
)

SAMPLE_ACCOUNTS = json.loads((Path(__file__).parent.parent / "data" / "sample_accounts.json").read_text())

CHANNEL_ID = "UCLA_DiR1FfKNvjuUpBHmylQ"
DID = "did:plc:z72i7hdynmk6r22z27h6tvur"
PAGE_ID = "100044561550831"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("X", "x"),
        ("x", "x"),
        ("Twitter", "x"),
        ("twitter.com", "x"),
        ("X (Twitter)", "x"),
        ("x.com", "x"),
        ("X Español", "x"),
        ("Facebook", "facebook"),
        ("Facebook Español", "facebook"),
        ("Facebook Espanol", "facebook"),
        ("facebook en español", "facebook"),
        ("FB", "facebook"),
        ("Instagram", "instagram"),
        ("IG", "instagram"),
        ("Instagram Español", "instagram"),
        ("Instagram (Spanish)", "instagram"),
        ("LinkedIn", "linkedin"),
        ("YouTube", "youtube"),
        ("Youtube Español", "youtube"),
        ("TikTok", "tiktok"),
        ("Threads", "threads"),
        ("Bluesky", "bluesky"),
        ("BlueSky", "bluesky"),
        ("bsky", "bluesky"),
        ("Mastodon", "mastodon"),
        ("Reddit", "reddit"),
        ("Twitch", "twitch"),
        ("GitHub", "github"),
        ("Truth Social", "truth_social"),
        ("TruthSocial", "truth_social"),
        ("truth_social", "truth_social"),
        ("  truth-social  ", "truth_social"),
        ("Flickr", "flickr"),
    ],
)
def test_normalize_platform(name, expected):
    assert normalize_platform(name) == expected


@pytest.mark.parametrize(("value", "label"), Platform.choices)
def test_normalize_platform_accepts_every_value_and_label(value, label):
    assert normalize_platform(value) == value
    assert normalize_platform(label) == value
    assert normalize_platform(label.upper()) == value


@pytest.mark.parametrize(
    "name", ["Myspace", "", "   ", "Español", "Facebook Marketplace", "Twitter Blue", "Vine"]
)
def test_normalize_platform_rejects_unknown_names(name):
    with pytest.raises(UnknownPlatform, match="expected one of: X, Facebook, "):
        normalize_platform(name)


def test_unknown_platform_message_lists_every_label():
    with pytest.raises(UnknownPlatform) as excinfo:
        normalize_platform("Myspace")
    assert str(excinfo.value) == (
        'Unknown platform "Myspace"; expected one of: X, Facebook, Instagram, LinkedIn, YouTube, TikTok, '
        "Threads, Bluesky, Mastodon, Reddit, Twitch, GitHub, Truth Social, Flickr"
    )


@pytest.mark.parametrize(
    ("platform", "url", "handle", "external_id"),
    [
        # X: both domains, mobile/www hosts, paths after the handle, query, fragment, no scheme, bare handles.
        ("x", "https://x.com/NASA", "NASA", None),
        ("x", "https://twitter.com/NASA", "NASA", None),
        ("x", "https://mobile.twitter.com/NASA", "NASA", None),
        ("x", "https://www.twitter.com/NASA/", "NASA", None),
        ("x", "https://x.com/NASA/status/1790000000000000000", "NASA", None),
        ("x", "http://X.COM/NASA?ref_src=twsrc%5Etfw", "NASA", None),
        ("x", "  https://x.com/NASA#top  ", "NASA", None),
        ("x", "x.com/nasa", "nasa", None),
        ("x", "@NASA", "NASA", None),
        ("x", "NASA", "NASA", None),
        # Facebook: names with dots, numeric ids in three URL shapes.
        ("facebook", "https://www.facebook.com/NASA/", "NASA", None),
        ("facebook", "https://m.facebook.com/NASA", "NASA", None),
        ("facebook", "https://fb.com/NASA", "NASA", None),
        ("facebook", "https://web.facebook.com/NASA", "NASA", None),
        ("facebook", "https://www.facebook.com/NASA/about/?ref=page_internal", "NASA", None),
        ("facebook", "https://www.facebook.com/pg/NASA/posts/", "NASA", None),
        ("facebook", "https://www.facebook.com/Healthcare.gov/", "Healthcare.gov", None),
        ("facebook", "facebook.com/MentalHealth.gov", "MentalHealth.gov", None),
        ("facebook", "MentalHealth.gov", "MentalHealth.gov", None),
        ("facebook", f"https://www.facebook.com/profile.php?id={PAGE_ID}", PAGE_ID, PAGE_ID),
        ("facebook", f"https://www.facebook.com/profile.php?sk=about&id={PAGE_ID}", PAGE_ID, PAGE_ID),
        ("facebook", "https://www.facebook.com/pages/Some-Name/123456", "123456", "123456"),
        ("facebook", f"https://www.facebook.com/people/Jane-Doe/{PAGE_ID}/", PAGE_ID, PAGE_ID),
        ("facebook", PAGE_ID, PAGE_ID, PAGE_ID),
        # Instagram.
        ("instagram", "https://www.instagram.com/nasa/", "nasa", None),
        ("instagram", "instagram.com/nasa?igshid=MzRlODBiNWFlZA==", "nasa", None),
        ("instagram", "https://instagram.com/nasa/reels/", "nasa", None),
        ("instagram", "@opre_acf", "opre_acf", None),
        # LinkedIn: /company/NAME is "NAME"; the other kinds keep their prefix.
        ("linkedin", "https://www.linkedin.com/company/nasa", "nasa", None),
        ("linkedin", "https://www.linkedin.com/company/nasa/posts/?feedView=all", "nasa", None),
        ("linkedin", "https://www.linkedin.com/showcase/nurse-corps/", "showcase/nurse-corps", None),
        ("linkedin", "https://www.linkedin.com/school/harvard/", "school/harvard", None),
        ("linkedin", "https://www.linkedin.com/in/williamhgates/", "in/williamhgates", None),
        ("linkedin", "https://uk.linkedin.com/in/someone", "in/someone", None),
        ("linkedin", "https://www.linkedin.com/Company/NASA/", "NASA", None),
        ("linkedin", "showcase/nurse-corps", "showcase/nurse-corps", None),
        ("linkedin", "nasa", "nasa", None),
        # YouTube: @handles, legacy /user/ /c/ and bare custom URLs, channel ids.
        ("youtube", "https://www.youtube.com/@NASA", "NASA", None),
        ("youtube", "https://m.youtube.com/@NASA/videos", "NASA", None),
        ("youtube", "https://www.youtube.com/user/NASAtelevision/featured", "NASAtelevision", None),
        ("youtube", "https://www.youtube.com/c/NASA/about", "NASA", None),
        ("youtube", "https://www.youtube.com/hivgov", "hivgov", None),
        ("youtube", f"https://www.youtube.com/channel/{CHANNEL_ID}", CHANNEL_ID, CHANNEL_ID),
        ("youtube", f"youtube.com/channel/{CHANNEL_ID}/videos?view=0", CHANNEL_ID, CHANNEL_ID),
        ("youtube", "@NASA", "NASA", None),
        ("youtube", CHANNEL_ID, CHANNEL_ID, CHANNEL_ID),
        # TikTok and Threads (both Threads domains).
        ("tiktok", "https://www.tiktok.com/@nasa?lang=en", "nasa", None),
        ("tiktok", "https://www.tiktok.com/@nasa/video/7300000000000000000", "nasa", None),
        ("tiktok", "@nasa", "nasa", None),
        ("threads", "https://www.threads.net/@nasa", "nasa", None),
        ("threads", "https://www.threads.com/@nasa/post/C1a2b3", "nasa", None),
        # Bluesky: domain handles and DIDs.
        ("bluesky", "https://bsky.app/profile/nasa.gov", "nasa.gov", None),
        ("bluesky", "https://bsky.app/profile/jay.bsky.team/post/3kabc", "jay.bsky.team", None),
        ("bluesky", f"https://bsky.app/profile/{DID}", DID, DID),
        ("bluesky", "@nasa.bsky.social", "nasa.bsky.social", None),
        ("bluesky", DID, DID, DID),
        # Reddit: subreddits are "NAME", users "u/NAME".
        ("reddit", "https://www.reddit.com/r/nasa/", "nasa", None),
        ("reddit", "https://old.reddit.com/r/nasa", "nasa", None),
        ("reddit", "https://new.reddit.com/r/nasa/top/?t=week", "nasa", None),
        ("reddit", "https://www.reddit.com/user/spez/", "u/spez", None),
        ("reddit", "https://www.reddit.com/u/spez", "u/spez", None),
        ("reddit", "u/spez", "u/spez", None),
        ("reddit", "r/nasa", "nasa", None),
        # Twitch, GitHub, Truth Social, Flickr.
        ("twitch", "https://www.twitch.tv/nasa", "nasa", None),
        ("twitch", "https://m.twitch.tv/nasa/videos", "nasa", None),
        ("github", "https://github.com/nasa", "nasa", None),
        ("github", "https://github.com/orgs/nasa/repositories", "nasa", None),
        ("github", "github.com/torvalds?tab=repositories", "torvalds", None),
        ("truth_social", "https://truthsocial.com/@realDonaldTrump", "realDonaldTrump", None),
        ("truth_social", "https://www.truthsocial.com/@seckennedy", "seckennedy", None),
        ("flickr", "https://www.flickr.com/photos/nasahqphoto/", "nasahqphoto", None),
        ("flickr", "https://www.flickr.com/people/nasahqphoto/", "nasahqphoto", None),
        ("flickr", "https://www.flickr.com/photos/35067687@N04/albums", "35067687@N04", "35067687@N04"),
    ],
)
def test_parse_profile_url(platform, url, handle, external_id):
    ref = parse_profile_url(platform=platform, url=url)
    assert ref == ProfileRef(
        handle=handle,
        external_id=external_id,
        profile_url=profile_url_for(platform=platform, handle=handle),
    )


@pytest.mark.parametrize(
    ("url", "handle", "host"),
    [
        ("https://mastodon.social/@Gargron", "Gargron@mastodon.social", "mastodon.social"),
        ("https://Mastodon.Social/@Gargron/", "Gargron@mastodon.social", "mastodon.social"),
        ("https://mastodon.social/@Gargron/111111111111111111", "Gargron@mastodon.social", "mastodon.social"),
        ("https://mastodon.social/users/Gargron", "Gargron@mastodon.social", "mastodon.social"),
        ("mastodon.social/@Gargron", "Gargron@mastodon.social", "mastodon.social"),
        ("https://mastodon.social/@nasa@fedi.example.org", "nasa@fedi.example.org", "fedi.example.org"),
        ("https://m.example.social/@nasa", "nasa@m.example.social", "m.example.social"),
        ("@Gargron@Mastodon.Social", "Gargron@mastodon.social", "mastodon.social"),
        ("Gargron@mastodon.social", "Gargron@mastodon.social", "mastodon.social"),
    ],
)
def test_parse_mastodon_profile(url, handle, host):
    ref = parse_profile_url(platform="mastodon", url=url)
    name = handle.split("@")[0]
    assert ref == ProfileRef(handle=handle, instance_host=host, profile_url=f"https://{host}/@{name}")


def test_parse_profile_url_accepts_platform_names():
    assert parse_profile_url(platform="Twitter", url="https://x.com/NASA").handle == "NASA"


@pytest.mark.parametrize(
    ("platform", "url", "message"),
    [
        ("x", "https://x.com/", 'No handle found in "https://x.com/" for X'),
        ("x", "x.com", 'No handle found in "x.com" for X'),
        ("x", "https://x.com/home", "No handle found"),
        ("x", "https://twitter.com/intent/tweet?text=hello", "No handle found"),
        ("x", "https://x.com/i/flow/login", "No handle found"),
        ("x", "https://x.com/search?q=nasa", "No handle found"),
        ("x", "https://x.com/hashtag/NASA", "No handle found"),
        ("x", "https://x.com/explore", "No handle found"),
        ("x", "https://twitter.com/share?url=https%3A%2F%2Fnasa.gov", "No handle found"),
        ("x", "https://x.com/na%20me", "No handle found"),
        ("x", "https://www.instagram.com/nasa/", "is not an address on X; expected x.com or twitter.com"),
        ("x", "https://example.com/nasa", "is not an address on X"),
        ("x", "ftp://x.com/nasa", "is not a web address"),
        ("x", "https://[x.com/nasa", "is not a web address"),
        (
            "x",
            "na me",
            '"na me" is not a valid X handle; expected something like @NASA or https://x.com/NASA',
        ),
        ("x", "home", "is not a valid X handle"),
        ("x", "", "No profile URL or handle given for X"),
        ("x", "   ", "No profile URL or handle given for X"),
        ("facebook", "https://www.facebook.com/profile.php", "No handle found"),
        ("facebook", "https://www.facebook.com/profile.php?id=abc", "No handle found"),
        ("facebook", "https://www.facebook.com/groups/123456789/", "No handle found"),
        ("facebook", "https://www.facebook.com/pages/Some-Name/12ab", "No handle found"),
        ("facebook", "https://x.com/NASA", "is not an address on Facebook; expected facebook.com or fb.com"),
        ("instagram", "https://www.instagram.com/p/C1a2b3c4d5e/", "No handle found"),
        ("instagram", "https://www.instagram.com/reel/C1a2b3c4d5e/", "No handle found"),
        ("linkedin", "https://www.linkedin.com/feed/", "No handle found"),
        ("linkedin", "https://www.linkedin.com/company/", "No handle found"),
        ("youtube", "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "No handle found"),
        ("youtube", "https://www.youtube.com/channel/not-a-channel-id", "No handle found"),
        ("youtube", "https://youtu.be/dQw4w9WgXcQ", "is not an address on YouTube"),
        ("tiktok", "https://www.tiktok.com/nasa", "No handle found"),
        ("threads", "https://www.threads.net/nasa", "No handle found"),
        ("bluesky", "https://bsky.app/", "No handle found"),
        ("bluesky", "https://bsky.app/search?q=nasa", "No handle found"),
        ("bluesky", "nasa", '"nasa" is not a valid Bluesky handle'),
        ("mastodon", "nasa", '"nasa" is not a valid Mastodon handle; expected something like @name@mastodon'),
        ("mastodon", "https://mastodon.social/", "No handle found"),
        ("mastodon", "https://mastodon.social/explore", "No handle found"),
        ("mastodon", "https://x.com/@nasa", "is not an address on Mastodon; that address belongs to X"),
        ("reddit", "https://www.reddit.com/", "No handle found"),
        ("reddit", "https://www.reddit.com/nasa", "No handle found"),
        ("twitch", "https://www.twitch.tv/directory", "No handle found"),
        ("github", "https://github.com/orgs/", "No handle found"),
        ("github", "https://github.com/settings/profile", "No handle found"),
        ("truth_social", "https://truthsocial.com/realDonaldTrump", "No handle found"),
        ("flickr", "https://www.flickr.com/nasahqphoto", "No handle found"),
    ],
)
def test_parse_profile_url_rejects(platform, url, message):
    with pytest.raises(InvalidProfileURL) as excinfo:
        parse_profile_url(platform=platform, url=url)
    assert message in str(excinfo.value)


def test_parse_profile_url_rejects_unknown_platform():
    with pytest.raises(UnknownPlatform, match='Unknown platform "Myspace"'):
        parse_profile_url(platform="Myspace", url="https://myspace.com/tom")


# One or more handles per platform and the canonical URL each must produce.
CANONICAL_URLS = [
    ("x", "NASA", "", "https://x.com/NASA"),
    ("facebook", "NASA", "", "https://www.facebook.com/NASA"),
    ("facebook", "OPRE.ACF", "", "https://www.facebook.com/OPRE.ACF"),
    ("facebook", "100066204115008", "", "https://www.facebook.com/profile.php?id=100066204115008"),
    ("instagram", "nasa", "", "https://www.instagram.com/nasa/"),
    ("linkedin", "nasa", "", "https://www.linkedin.com/company/nasa/"),
    ("linkedin", "showcase/nurse-corps", "", "https://www.linkedin.com/showcase/nurse-corps/"),
    ("linkedin", "school/harvard-university", "", "https://www.linkedin.com/school/harvard-university/"),
    ("linkedin", "in/williamhgates", "", "https://www.linkedin.com/in/williamhgates/"),
    ("youtube", "NASA", "", "https://www.youtube.com/@NASA"),
    ("youtube", CHANNEL_ID, "", f"https://www.youtube.com/channel/{CHANNEL_ID}"),
    ("tiktok", "nasa", "", "https://www.tiktok.com/@nasa"),
    ("threads", "nasa", "", "https://www.threads.net/@nasa"),
    ("bluesky", "nasa.gov", "", "https://bsky.app/profile/nasa.gov"),
    ("bluesky", DID, "", f"https://bsky.app/profile/{DID}"),
    ("mastodon", "Gargron@mastodon.social", "", "https://mastodon.social/@Gargron"),
    ("mastodon", "Gargron", "mastodon.social", "https://mastodon.social/@Gargron"),
    ("reddit", "nasa", "", "https://www.reddit.com/r/nasa/"),
    ("reddit", "u/spez", "", "https://www.reddit.com/user/spez/"),
    ("twitch", "nasa", "", "https://www.twitch.tv/nasa"),
    ("github", "nasa", "", "https://github.com/nasa"),
    ("truth_social", "seckennedy", "", "https://truthsocial.com/@seckennedy"),
    ("flickr", "nasahqphoto", "", "https://www.flickr.com/photos/nasahqphoto/"),
    ("flickr", "35067687@N04", "", "https://www.flickr.com/photos/35067687@N04/"),
]


def test_canonical_urls_cover_every_platform():
    assert {platform for platform, *_ in CANONICAL_URLS} == set(Platform.values)


@pytest.mark.parametrize(("platform", "handle", "instance_host", "url"), CANONICAL_URLS)
def test_profile_url_for(platform, handle, instance_host, url):
    assert profile_url_for(platform=platform, handle=handle, instance_host=instance_host) == url
    assert profile_url_for(platform=platform, handle=f"@{handle}", instance_host=instance_host) == url


@pytest.mark.parametrize(("platform", "handle", "instance_host", "url"), CANONICAL_URLS)
def test_profile_url_round_trips(platform, handle, instance_host, url):
    ref = parse_profile_url(platform=platform, url=url)
    assert ref.profile_url == url
    again = profile_url_for(platform=platform, handle=ref.handle, instance_host=ref.instance_host)
    assert parse_profile_url(platform=platform, url=again) == ref


@pytest.mark.parametrize(
    ("platform", "handle", "instance_host"),
    [
        ("x", "na me", ""),
        ("x", "home", ""),
        ("x", "", ""),
        ("linkedin", "feed/updates", ""),
        ("reddit", "r/nasa", ""),
        ("bluesky", "nasa", ""),
        ("mastodon", "Gargron", ""),
        ("youtube", "watch", ""),
    ],
)
def test_profile_url_for_rejects_invalid_handles(platform, handle, instance_host):
    with pytest.raises(InvalidProfileURL, match="is not a valid"):
        profile_url_for(platform=platform, handle=handle, instance_host=instance_host)


def test_sample_accounts_are_all_present():
    assert len(SAMPLE_ACCOUNTS) == 99


@pytest.mark.parametrize("entry", SAMPLE_ACCOUNTS, ids=lambda entry: f"{entry['platform']}:{entry['url']}")
def test_every_sample_account_parses_and_round_trips(entry):
    platform = normalize_platform(entry["platform"])
    ref = parse_profile_url(platform=platform, url=entry["url"])
    assert ref.handle
    assert "/" not in ref.handle or platform == "linkedin"
    assert parse_profile_url(platform=platform, url=ref.profile_url) == ref


@pytest.mark.parametrize(
    ("platform", "url", "handle", "external_id", "profile_url"),
    [
        ("Facebook", "https://www.facebook.com/HHS", "HHS", None, "https://www.facebook.com/HHS"),
        (
            "Facebook",
            "https://www.facebook.com/profile.php?id=100066204115008",
            "100066204115008",
            "100066204115008",
            "https://www.facebook.com/profile.php?id=100066204115008",
        ),
        (
            "Facebook Español",
            "https://www.facebook.com/USdonaciondeorganos.gov/",
            "USdonaciondeorganos.gov",
            None,
            "https://www.facebook.com/USdonaciondeorganos.gov",
        ),
        (
            "YouTube",
            "https://www.youtube.com/user/USGOVHHS",
            "USGOVHHS",
            None,
            "https://www.youtube.com/@USGOVHHS",
        ),
        ("YouTube", "https://www.youtube.com/hivgov", "hivgov", None, "https://www.youtube.com/@hivgov"),
        (
            "LinkedIn",
            "https://www.linkedin.com/showcase/secretarykennedy/",
            "showcase/secretarykennedy",
            None,
            "https://www.linkedin.com/showcase/secretarykennedy/",
        ),
        (
            "LinkedIn",
            "https://www.linkedin.com/showcase/10897894/",
            "showcase/10897894",
            None,
            "https://www.linkedin.com/showcase/10897894/",
        ),
        (
            "LinkedIn",
            "https://www.linkedin.com/company/us-department-of-health-and-human-services",
            "us-department-of-health-and-human-services",
            None,
            "https://www.linkedin.com/company/us-department-of-health-and-human-services/",
        ),
        (
            "Truth Social",
            "https://www.truthsocial.com/@seckennedy",
            "seckennedy",
            None,
            "https://truthsocial.com/@seckennedy",
        ),
        (
            "Flickr",
            "https://www.flickr.com/photos/hhsgov/",
            "hhsgov",
            None,
            "https://www.flickr.com/photos/hhsgov/",
        ),
        ("X", "https://x.com/HHS_Region_10", "HHS_Region_10", None, "https://x.com/HHS_Region_10"),
    ],
)
def test_sample_accounts_exact(platform, url, handle, external_id, profile_url):
    assert {"platform": platform, "url": url} in [
        {"platform": entry["platform"], "url": entry["url"]} for entry in SAMPLE_ACCOUNTS
    ]
    ref = parse_profile_url(platform=normalize_platform(platform), url=url)
    assert ref == ProfileRef(handle=handle, external_id=external_id, profile_url=profile_url)
