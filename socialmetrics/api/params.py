"""Reading query parameters strictly: a value that cannot be used is a 400 naming the parameter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from .errors import InvalidParameter

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


#: More digits than this is beyond every bound a parameter has; such a number is never converted
#: (Python refuses to convert one of over 4,300 digits, and the database one over 2**63 - 1).
_MAX_DIGITS = 18
_HUGE = 10**_MAX_DIGITS


def positive_int(*, params: Mapping[str, str], name: str, default: int, maximum: int | None = None) -> int:
    """A whole number of at least 1 (``page=abc``, ``page=0``, ``per_page=-1`` and an empty ``page=``
    are refused; leave the parameter out for its default) and at most `maximum` (refused above it).
    Without a maximum, a number too long to be any count is read as 10**18, so a caller that caps
    the value (``per_page``) caps it."""
    raw = params.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or not text.strip("0"):
        raise InvalidParameter(
            field=name, message=f"expected a whole number of at least 1, got {raw[:40]!r}."
        )
    value = _HUGE if len(text.lstrip("0")) > _MAX_DIGITS else int(text)
    if maximum is not None and value > maximum:
        raise InvalidParameter(field=name, message=f"must be at most {maximum:,}, got {raw[:40]!r}.")
    return value


def parse_bool(*, value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidParameter(field=name, message=f"expected true or false, got {value!r}.")


def parse_iso_date(*, value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidParameter(field=name, message=f"expected a date as YYYY-MM-DD, got {value!r}.") from None


def optional_date(*, params: Mapping[str, str], name: str) -> dt.date | None:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return None
    return parse_iso_date(value=raw, name=name)
