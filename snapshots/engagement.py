"""The engagement rate: how much of an account's audience engaged on a day.

    engagement       likes + comments + shares of the day (`Snapshot.engagement`: null only when
                     all three are unknown)
    engagement rate  that day's engagement / that day's followers, as a fraction (0.0125 is 1.25 %),
                     rounded to RATE_PLACES decimal places (half away from zero, on the exact
                     quotient); null when the followers are 0 or unknown, or the engagement unknown
    over a range     the mean of the daily rates of the days in the range that have one (null when
                     none has)

One definition, spelt for Python (`engagement_rate`: the latest rows on SQLite, the history, the
grid's named rows) and for PostgreSQL (`rate_sql`: the latest rows there), which agree to the last
bit (tests/api/test_engagement.py): both round the exact quotient in integers, then divide by
10**RATE_PLACES as 64-bit floats. Eight places keep every rate that is not 0 above 0 on any real
account, and the summary short (a float's further digits barely compress). `rate_expression`
orders by the unrounded quotient, whose order the rounding keeps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from django.db.models import Case, F, FloatField, When
from django.db.models.functions import Cast

RATE_PLACES = 8
_SCALE = 10**RATE_PLACES


def engagement_rate(engagement: int | None, followers: int | None) -> float | None:
    """A day's engagement rate (see the module's docstring)."""
    if engagement is None or followers is None or followers <= 0:
        return None
    units = (2 * abs(engagement) * _SCALE + followers) // (2 * followers)  # rounded half up
    return (units if engagement >= 0 else -units) / _SCALE


def average_rate(rates: Iterable[float | None]) -> float | None:
    """The engagement rate over a range: the mean of the daily rates known in it."""
    known = [rate for rate in rates if rate is not None]
    return math.fsum(known) / len(known) if known else None


def rate_sql(*, engagement: str, followers: str) -> str:
    """`engagement_rate` in PostgreSQL, over two column references."""
    units = f"div(2 * abs({engagement})::numeric * {_SCALE} + {followers}, 2 * {followers}::numeric)"
    sign = f"CASE WHEN {engagement} < 0 THEN -1 ELSE 1 END"
    return f"CASE WHEN {followers} > 0 THEN {sign} * {units}::float8 / {_SCALE} END"


def rate_expression(*, engagement: str = "engagement", followers: str = "followers") -> Case:
    """The unrounded quotient as an ORM expression over two fields (``latest__engagement``...), to
    order by: the rates' order, ties of the rounded rates broken by the quotient."""
    return Case(
        When(
            **{f"{followers}__gt": 0},
            then=Cast(F(engagement), FloatField()) / Cast(F(followers), FloatField()),
        ),
        default=None,
        output_field=FloatField(),
    )


def rate_json(rate: float | None) -> str:
    """A rate as JSONRenderer writes it (Python's repr of the float)."""
    return "null" if rate is None else repr(rate)


def rate_json_sql(rate: str) -> str:
    """`rate_json` in PostgreSQL, for a float8 expression `rate` (a rate below 10**15). PostgreSQL
    writes the same shortest digits as Python, but a whole number without Python's ".0"."""
    return (
        f"CASE WHEN {rate} IS NULL THEN 'null' WHEN {rate} = trunc({rate}) THEN {rate}::text || '.0' "
        f"ELSE {rate}::text END"
    )
