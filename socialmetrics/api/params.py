"""Reading query parameters strictly: a value that cannot be used is a 400 naming the parameter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from .errors import InvalidParameter

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def positive_int(*, params: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of at least 1 (``page=abc``, ``page=0`` and ``per_page=-1`` are refused)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not text.isdigit() or int(text) < 1:
        raise InvalidParameter(field=name, message=f"expected a whole number of at least 1, got {raw!r}.")
    return int(text)


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
