"""Platform names and profile URLs: what people type, turned into what the app stores.

`normalize_platform` maps free-form names ("Twitter", "Facebook Español") to a `Platform` value;
`parse_profile_url` reads a profile URL (or a bare handle) into a `ProfileRef`; `profile_url_for`
builds the canonical public URL back from a handle. Every platform is one row of `_RULES`.
"""

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from accounts.models import Platform


class UnknownPlatform(ValueError):
    """The name does not match any supported platform."""


class InvalidProfileURL(ValueError):
    """The text is not a profile URL or handle of the given platform."""


@dataclass(frozen=True)
class ProfileRef:
    """One account on one platform, as read from a URL or handle."""

    handle: str
    instance_host: str = ""
    external_id: str | None = None
    profile_url: str = ""


@dataclass(frozen=True)
class _Rule:
    hosts: tuple[str, ...]  # the platform's domains; subdomains (www., m., old....) are accepted too
    paths: tuple[tuple[str, str], ...]  # (regex matched at the start of "path?query", handle template)
    urls: tuple[tuple[str, str], ...]  # (regex a whole handle must match, canonical URL template)
    example: str  # shown to the user when a handle is not valid
    reserved: frozenset[str] = frozenset()  # first path segments that are not profiles
    id_pattern: str = ""  # handles of this shape are the platform's own id (-> external_id)
    federated: bool = False  # any server; the handle is name@host (Mastodon)


_NAME = r"\w[\w.-]*"  # loose: letters, digits, "_", "." and "-"
_DOMAIN = r"\w[\w-]*(?:\.[\w-]+)+"
_SEGMENT = r"([^/?]+)"
_END = r"(?=[/?&]|$)"  # a path pattern must end where a segment or parameter ends


def _one(template: str) -> tuple[tuple[str, str], ...]:
    return ((f"({_NAME})", template),)


_RULES: dict[str, _Rule] = {
    Platform.X: _Rule(
        hosts=("x.com", "twitter.com"),
        paths=((f"/{_SEGMENT}", "{0}"),),
        urls=_one("https://x.com/{0}"),
        example="@NASA or https://x.com/NASA",
        reserved=frozenset(
            {
                "home",
                "intent",
                "i",
                "search",
                "share",
                "hashtag",
                "explore",
                "settings",
                "messages",
                "notifications",
                "login",
                "signup",
                "compose",
                "tos",
                "privacy",
            }
        ),
    ),
    Platform.FACEBOOK: _Rule(
        hosts=("facebook.com", "fb.com"),
        paths=(
            (r"/profile\.php\?(?:[^#]*&)?id=(\d+)", "{0}"),
            (r"/(?:pages|people)/[^/?]+/(\d+)", "{0}"),
            (f"/pg/{_SEGMENT}", "{0}"),
            (f"/{_SEGMENT}", "{0}"),
        ),
        urls=(
            (r"(\d+)", "https://www.facebook.com/profile.php?id={0}"),
            *_one("https://www.facebook.com/{0}"),
        ),
        example="https://www.facebook.com/NASA or https://www.facebook.com/profile.php?id=100044561550831",
        reserved=frozenset(
            {
                "profile.php",
                "pages",
                "people",
                "pg",
                "groups",
                "events",
                "watch",
                "share",
                "sharer.php",
                "photo.php",
                "permalink.php",
                "story.php",
                "hashtag",
                "login",
                "marketplace",
                "reel",
                "help",
            }
        ),
        id_pattern=r"\d+",
    ),
    Platform.INSTAGRAM: _Rule(
        hosts=("instagram.com", "instagr.am"),
        paths=((f"/{_SEGMENT}", "{0}"),),
        urls=_one("https://www.instagram.com/{0}/"),
        example="https://www.instagram.com/nasa/",
        reserved=frozenset({"p", "reel", "reels", "stories", "explore", "accounts", "tv", "direct"}),
    ),
    Platform.LINKEDIN: _Rule(
        hosts=("linkedin.com",),
        paths=(
            (f"/company/{_SEGMENT}", "{0}"),
            (f"/showcase/{_SEGMENT}", "showcase/{0}"),
            (f"/school/{_SEGMENT}", "school/{0}"),
            (f"/in/{_SEGMENT}", "in/{0}"),
        ),
        urls=(
            (f"(showcase|school|in)/({_NAME})", "https://www.linkedin.com/{0}/{1}/"),
            *_one("https://www.linkedin.com/company/{0}/"),
        ),
        example="https://www.linkedin.com/company/nasa/",
    ),
    Platform.YOUTUBE: _Rule(
        hosts=("youtube.com",),
        paths=(
            (f"/@{_SEGMENT}", "{0}"),
            (f"/(?:user|c)/{_SEGMENT}", "{0}"),
            (r"/channel/(UC[\w-]{22})", "{0}"),
            (f"/{_SEGMENT}", "{0}"),  # legacy custom URL, youtube.com/NAME
        ),
        urls=(
            (r"(UC[\w-]{22})", "https://www.youtube.com/channel/{0}"),
            *_one("https://www.youtube.com/@{0}"),
        ),
        example="https://www.youtube.com/@NASA",
        reserved=frozenset(
            {
                "watch",
                "shorts",
                "playlist",
                "results",
                "feed",
                "embed",
                "live",
                "channel",
                "user",
                "c",
                "redirect",
                "hashtag",
                "post",
                "premium",
            }
        ),
        id_pattern=r"UC[\w-]{22}",
    ),
    Platform.TIKTOK: _Rule(
        hosts=("tiktok.com",),
        paths=((f"/@{_SEGMENT}", "{0}"),),
        urls=_one("https://www.tiktok.com/@{0}"),
        example="https://www.tiktok.com/@nasa",
    ),
    Platform.THREADS: _Rule(
        hosts=("threads.net", "threads.com"),
        paths=((f"/@{_SEGMENT}", "{0}"),),
        urls=_one("https://www.threads.net/@{0}"),
        example="https://www.threads.net/@nasa",
    ),
    Platform.BLUESKY: _Rule(
        hosts=("bsky.app",),
        paths=((f"/profile/{_SEGMENT}", "{0}"),),
        urls=((rf"(did:[a-z]+:[\w.:%-]+|{_DOMAIN})", "https://bsky.app/profile/{0}"),),
        example="nasa.gov or https://bsky.app/profile/nasa.bsky.social",
        id_pattern=r"did:.+",
    ),
    Platform.MASTODON: _Rule(
        hosts=(),
        paths=(
            (r"/@([^/?@]+)@([^/?]+)", "{0}@{1}"),  # a remote account shown by another server
            (f"/@{_SEGMENT}", "{0}@{host}"),
            (f"/users/{_SEGMENT}", "{0}@{host}"),
        ),
        urls=((f"({_NAME})@({_DOMAIN})", "https://{1}/@{0}"),),
        example="@name@mastodon.social or https://mastodon.social/@name",
        federated=True,
    ),
    Platform.REDDIT: _Rule(
        hosts=("reddit.com",),
        paths=((f"/r/{_SEGMENT}", "{0}"), (f"/(?:user|u)/{_SEGMENT}", "u/{0}")),
        urls=((f"u/({_NAME})", "https://www.reddit.com/user/{0}/"), *_one("https://www.reddit.com/r/{0}/")),
        example="https://www.reddit.com/r/nasa/ or https://www.reddit.com/user/nasa/",
    ),
    Platform.TWITCH: _Rule(
        hosts=("twitch.tv",),
        paths=((f"/{_SEGMENT}", "{0}"),),
        urls=_one("https://www.twitch.tv/{0}"),
        example="https://www.twitch.tv/nasa",
        reserved=frozenset({"directory", "videos", "p", "settings", "search", "downloads", "jobs"}),
    ),
    Platform.GITHUB: _Rule(
        hosts=("github.com",),
        paths=((f"/orgs/{_SEGMENT}", "{0}"), (f"/{_SEGMENT}", "{0}")),
        urls=_one("https://github.com/{0}"),
        example="https://github.com/nasa",
        reserved=frozenset(
            {
                "orgs",
                "settings",
                "features",
                "topics",
                "explore",
                "marketplace",
                "sponsors",
                "about",
                "login",
                "pricing",
                "search",
                "trending",
                "notifications",
                "collections",
            }
        ),
    ),
    Platform.TRUTH_SOCIAL: _Rule(
        hosts=("truthsocial.com",),
        paths=((f"/@{_SEGMENT}", "{0}"),),
        urls=_one("https://truthsocial.com/@{0}"),
        example="https://truthsocial.com/@name",
    ),
    Platform.FLICKR: _Rule(
        hosts=("flickr.com",),
        paths=((f"/(?:photos|people)/{_SEGMENT}", "{0}"),),
        urls=((rf"({_NAME}(?:@N\d+)?)", "https://www.flickr.com/photos/{0}/"),),
        example="https://www.flickr.com/photos/nasahqphoto/",
        id_pattern=r"\d+@N\d+",
    ),
}

_ALIASES = {
    "twitter": Platform.X,
    "xtwitter": Platform.X,
    "twitterx": Platform.X,
    "fb": Platform.FACEBOOK,
    "ig": Platform.INSTAGRAM,
    "insta": Platform.INSTAGRAM,
    "yt": Platform.YOUTUBE,
    "bsky": Platform.BLUESKY,
}
# Words that may follow a platform name to say which language the account posts in.
_LANGUAGES = frozenset(
    {
        "en",
        "english",
        "es",
        "espanol",
        "spanish",
        "fr",
        "french",
        "francais",
        "de",
        "german",
        "deutsch",
        "pt",
        "portuguese",
        "portugues",
        "italian",
        "italiano",
        "chinese",
        "japanese",
        "korean",
        "arabic",
        "russian",
        "vietnamese",
        "tagalog",
        "hindi",
        "haitian",
        "creole",
        "kreyol",
        "polish",
    }
)


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.findall(r"[a-z0-9]+", folded)


_NAMES: dict[str, str] = {
    **{"".join(_words(host)): value for value, rule in _RULES.items() for host in rule.hosts},
    **{"".join(_words(value)): value for value in Platform.values},
    **{"".join(_words(label)): value for value, label in Platform.choices},
    **_ALIASES,
}


def normalize_platform(name: str) -> str:
    """The `Platform` value for a platform name as people write it ("Twitter", "Facebook Español")."""
    words = _words(name)
    while words and "".join(words) not in _NAMES and words[-1] in _LANGUAGES:
        words.pop()
    try:
        return Platform(_NAMES["".join(words)]).value
    except KeyError:
        expected = ", ".join(Platform.labels)
        raise UnknownPlatform(f'Unknown platform "{name}"; expected one of: {expected}') from None


def _platform_of_host(host: str) -> str | None:
    for value, rule in _RULES.items():
        if any(host == domain or host.endswith(f".{domain}") for domain in rule.hosts):
            return value
    return None


def _looks_like_url(text: str) -> bool:
    head = text.split("/", 1)[0].lower()
    return "://" in text or ("/" in text and "." in head) or _platform_of_host(head) is not None


def _handle_in_path(rule: _Rule, path: str, *, host: str) -> str | None:
    for pattern, template in rule.paths:
        if match := re.match(pattern + _END, path, re.IGNORECASE):
            return template.format(*match.groups(), host=host)
    return None


def _handle_in_url(platform: str, text: str) -> str:
    label, rule = Platform(platform).label, _RULES[platform]
    try:
        parts = urlsplit(text if "://" in text else f"https://{text}")
        host = (parts.hostname or "").rstrip(".")
    except ValueError:  # such as an unclosed "[" in the host
        parts, host = None, ""
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise InvalidProfileURL(f'"{text}" is not a web address; expected something like {rule.example}')
    owner = _platform_of_host(host)
    if owner != platform and not (rule.federated and owner is None):
        if rule.hosts:
            where = f"expected {' or '.join(rule.hosts)}"
        else:
            where = f"that address belongs to {Platform(owner).label}"
        raise InvalidProfileURL(f'"{text}" is not an address on {label}; {where}')
    path = unquote(parts.path) + (f"?{parts.query}" if parts.query else "")
    return _handle_in_path(rule, path, host=host) or ""


def _canonical_url(rule: _Rule, handle: str) -> str | None:
    if handle.lower() in rule.reserved:
        return None
    for pattern, template in rule.urls:
        if match := re.fullmatch(pattern, handle):
            return template.format(*match.groups())
    return None


def _clean_handle(rule: _Rule, handle: str, *, instance_host: str = "") -> str:
    handle = handle.strip().removeprefix("@")
    if rule.federated:
        if "@" not in handle and instance_host:
            handle = f"{handle}@{instance_host}"
        if "@" in handle:  # server names are case-insensitive; keep one spelling
            name, _, host = handle.rpartition("@")
            handle = f"{name}@{host.lower()}"
    return handle


def _bad_handle(platform: str, handle: str) -> InvalidProfileURL:
    label, rule = Platform(platform).label, _RULES[platform]
    return InvalidProfileURL(
        f'"{handle}" is not a valid {label} handle; expected something like {rule.example}'
    )


def profile_url_for(*, platform: str, handle: str, instance_host: str = "") -> str:
    """The canonical public profile URL of `handle` (Mastodon: name@host, or name plus `instance_host`)."""
    platform = normalize_platform(platform)
    rule = _RULES[platform]
    handle = _clean_handle(rule, handle, instance_host=instance_host)
    url = _canonical_url(rule, handle)
    if url is None:
        raise _bad_handle(platform, handle)
    return url


def parse_profile_url(*, platform: str, url: str) -> ProfileRef:
    """Read a profile URL, or a bare handle such as "@nasa", into a `ProfileRef`."""
    platform = normalize_platform(platform)
    rule, label = _RULES[platform], Platform(platform).label
    text = url.strip()
    if not text:
        raise InvalidProfileURL(f"No profile URL or handle given for {label}; expected e.g. {rule.example}")
    if _looks_like_url(text):
        handle = _clean_handle(rule, _handle_in_url(platform, text))
        error = InvalidProfileURL(f'No handle found in "{text}" for {label}')
    elif "/" in text:  # a path without its host, such as "showcase/nurse-corps" or "u/spez"
        handle = _clean_handle(rule, _handle_in_path(rule, "/" + text.lstrip("/"), host="") or "")
        error = _bad_handle(platform, text)
    else:
        handle = _clean_handle(rule, text)
        error = _bad_handle(platform, text)
    profile_url = _canonical_url(rule, handle)
    if profile_url is None:
        raise error
    return ProfileRef(
        handle=handle,
        instance_host=handle.rpartition("@")[2] if rule.federated else "",
        external_id=handle if rule.id_pattern and re.fullmatch(rule.id_pattern, handle) else None,
        profile_url=profile_url,
    )
