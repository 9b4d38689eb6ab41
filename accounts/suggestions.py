"""Existing accounts a person may have meant when a list names an account that does not exist
("did you mean"): an import shows them beside the accounts it is about to create.

An existing account is suggested for a new (platform, handle) when, on the same platform, its handle
is one typo away (a character added, missing or changed, or two neighbours swapped), or the same but
for its separators ("city_news" for "citynews"); or when another platform has exactly that handle
(the platform may be the mistake). Handles are compared in lower case.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator

from django.db.models import Q
from django.db.models.functions import Lower

from .models import Account

#: Suggestions per new account, the closest first.
MAX_SUGGESTIONS = 3
#: Shorter handles get no typo suggestions: most handles that short are a typo away from another.
_SHORTEST_FOR_TYPOS = 4
_SEPARATORS = re.compile(r"[._-]")

# How close a suggestion is: the lower, the closer.
_SEPARATORS_ONLY, _ONE_TYPO, _OTHER_PLATFORM = 0, 1, 2


def _deletions(text: str) -> Iterator[str]:
    """`text` and every text one character shorter."""
    yield text
    for i in range(len(text)):
        yield text[:i] + text[i + 1 :]


def _one_typo(a: str, b: str) -> bool:
    """Whether `a` and `b` differ by one added, missing or changed character, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):  # one character added
        return a[i:] == b[i + 1 :]
    if a[i + 1 :] == b[i + 1 :]:  # one changed
        return True
    return a[i : i + 2] == b[i : i + 2][::-1] and a[i + 2 :] == b[i + 2 :]  # two neighbours swapped


def similar_accounts(
    *, keys: Iterable[tuple[str, str]], exclude: Iterable[tuple[str, str]] = (), limit: int = MAX_SUGGESTIONS
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(platform, lower-case handle) -> up to `limit` existing accounts as (platform, handle), the
    closest first, for each key that has any. Accounts named in `exclude` (the new accounts
    themselves) are never suggested.

    One query reads the handles of the keys' platforms and the accounts with one of the keys'
    handles; each existing handle is then matched against an index of the new handles' one-shorter
    forms (not the other way round), so the work grows with the accounts stored, once."""
    wanted = {(platform, handle.lower()) for platform, handle in keys}
    if not wanted:
        return {}
    excluded = {(platform, handle.lower()) for platform, handle in exclude} | wanted
    by_deletion: dict[tuple[str, str], set[str]] = defaultdict(set)
    by_bare: dict[tuple[str, str], set[str]] = defaultdict(set)
    by_handle: dict[str, set[str]] = defaultdict(set)
    for platform, handle in wanted:
        if len(handle) >= _SHORTEST_FOR_TYPOS:
            for shorter in _deletions(handle):
                by_deletion[(platform, shorter)].add(handle)
        by_bare[(platform, _SEPARATORS.sub("", handle))].add(handle)
        by_handle[handle].add(platform)

    found: dict[tuple[str, str], dict[tuple[str, str], int]] = defaultdict(dict)

    def note(key: tuple[str, str], account: tuple[str, str], closeness: int) -> None:
        if closeness < found[key].get(account, _OTHER_PLATFORM + 1):
            found[key][account] = closeness

    platforms = {platform for platform, _ in wanted}
    existing = (
        Account.objects.annotate(lhandle=Lower("handle"))
        .filter(Q(platform__in=platforms) | Q(lhandle__in=by_handle))
        .values_list("platform", "handle", "lhandle")
    )
    for platform, handle, lower in existing.iterator(chunk_size=5000):
        if (platform, lower) in excluded:
            continue
        account = (platform, handle)
        for other in by_handle.get(lower, ()):
            if other != platform:
                note((other, lower), account, _OTHER_PLATFORM)
        if platform not in platforms:
            continue
        for new in by_bare.get((platform, _SEPARATORS.sub("", lower)), ()):
            note((platform, new), account, _SEPARATORS_ONLY)
        for shorter in _deletions(lower):
            for new in by_deletion.get((platform, shorter), ()):
                if _one_typo(new, lower):
                    note((platform, new), account, _ONE_TYPO)
    return {
        key: [account for account, _ in sorted(accounts.items(), key=lambda item: (item[1], item[0]))][:limit]
        for key, accounts in found.items()
    }
