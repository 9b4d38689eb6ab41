"""One parser for counts written by people, pages and APIs: "1,234", "15.5k", "2.2M", "12 345".

`parse_count` returns the integer and whether the text was rounded (any K/M/B suffix). It never
guesses: text it cannot read unambiguously raises ValueError, so a collector reports a failure
instead of storing a wrong number or a zero.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

# Suffix (lower case) -> power of ten. Words are accepted because some APIs and exports spell them out.
_SUFFIXES = {
    "k": 3,
    "thousand": 3,
    "m": 6,
    "mn": 6,
    "million": 6,
    "b": 9,
    "bn": 9,
    "billion": 9,
}

# Thousands separators: comma, apostrophe (Swiss), and the spaces people and pages use
# (space, no-break space, thin space, narrow no-break space). One separator throughout a number.
_SEPARATORS = ",' \u00a0\u2009\u202f"

_COUNT = re.compile(
    rf"""
    (?P<integer>
        [0-9]{{1,3}}(?P<sep>[{_SEPARATORS}])[0-9]{{3}}(?:(?P=sep)[0-9]{{3}})*   # 1,234,567
        | [0-9]+                                                            # 1234567
    )
    (?:\.(?P<fraction>[0-9]+))?
    [ \u00a0\u2009\u202f]*
    (?P<suffix>[a-z]+)?
    """,
    re.VERBOSE | re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ParsedCount:
    value: int
    rounded: bool


def parse_count(text: str | int | None) -> ParsedCount:
    """Read a count: "1,234" -> 1234 exact; "15.5k" -> 15500 rounded; 1234 -> 1234 exact.

    A K/M/B suffix means the platform rounded the number, so `rounded` is true. Raises ValueError
    for empty text, negatives, decimals without a suffix and anything that is not a count.
    """
    if type(text) is str and text.isascii() and text.isdigit():  # the common case, fast
        return ParsedCount(int(text), rounded=False)
    if text is None:
        raise ValueError("no count: the value is empty (None)")
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise ValueError(f"not a count: {text!r} is a {type(text).__name__}, expected text or an integer")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"not a count: {text} is negative")
        return ParsedCount(text, rounded=False)

    stripped = text.strip(" \t\r\n\u00a0\u2009\u202f")
    if not stripped:
        raise ValueError("no count: the text is empty")
    if stripped[0] in "-\u2212":
        raise ValueError(f"not a count: {text!r} is negative")
    match = _COUNT.fullmatch(stripped)
    if match is None:
        raise ValueError(
            f"not a count: {text!r} (expected digits with optional thousands separators "
            "and an optional K, M or B suffix, such as '1,234' or '15.5K')"
        )

    integer = re.sub(f"[{_SEPARATORS}]", "", match["integer"])
    fraction = match["fraction"] or ""
    suffix = (match["suffix"] or "").lower()
    if not suffix:
        if fraction:
            raise ValueError(f"not a count: {text!r} has a decimal part but no K, M or B suffix")
        return ParsedCount(int(integer), rounded=False)

    if suffix not in _SUFFIXES:
        raise ValueError(
            f"not a count: {text!r} has an unknown suffix {match['suffix']!r} (expected K, M or B)"
        )
    exponent = _SUFFIXES[suffix]
    if len(fraction) > exponent:
        raise ValueError(f"not a count: {text!r} has more decimals than the {match['suffix']} suffix allows")
    value = Decimal(f"{integer}.{fraction or 0}").scaleb(exponent)
    return ParsedCount(int(value), rounded=True)
