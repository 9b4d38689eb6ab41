"""The anomaly rule: which daily follower counts are implausible, and why.

A day's **change** is the account's follower count that day minus its count on the nearest earlier
day with a follower count, if that day is at most 3 days before (`GAP_DAYS`; a change over two or
three days is taken as it is). A day without a follower count, or without such an earlier day, has
no change and is never an anomaly. The **typical daily change** of a day is the mean absolute
change of the account's days in the 28 days before it (`TYPICAL_DAYS`).

A day is an **anomaly** when its change is at least 10 followers (`MIN_CHANGE`) and

- it is extreme: the count rose to at least 10 times the earlier count (`EXTREME_RISE`), or fell
  by 50 % or more (`EXTREME_FALL_PERCENT`); or
- the account has at least 7 changes in those 28 days (`MIN_HISTORY`), and the change is more
  than 1 % of the earlier count (`SHARE_PERCENT`) and more than 5 times the typical daily change
  (`TYPICAL_MULTIPLE`).

With fewer than 7 changes only extreme days count. The reason says what happened, e.g.
"followers fell 5,012 (-12.3 %) in a day, 41x the typical daily change of 122".

A flag marks a day; it never alters the numbers stored. The write services recompute the flags of
the days a write can change, in the write's own transaction: the days written and the
`REACH_DAYS` days after them (whose change or typical change they enter).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: The earlier count a change is measured from is at most this many days before.
GAP_DAYS = 3
#: The typical daily change is the mean absolute change over this many days before the day.
TYPICAL_DAYS = 28
#: Changes in those days needed to judge a change against the typical one.
MIN_HISTORY = 7
#: A change must be at least this many followers to be an anomaly (a tiny account's +1 is not).
MIN_CHANGE = 10
#: ... and more than this share of the earlier count, in percent ...
SHARE_PERCENT = 1
#: ... and more than this many times the typical daily change.
TYPICAL_MULTIPLE = 5
#: Extreme whatever the history: a rise to at least this many times the earlier count ...
EXTREME_RISE = 10
#: ... or a fall of at least this many percent of it.
EXTREME_FALL_PERCENT = 50
#: A written day can change the flags of the days up to this many days after it: their change (the
#: next day with a count, at most GAP_DAYS later) and the typical change of the days after those.
REACH_DAYS = GAP_DAYS + TYPICAL_DAYS
#: Rows before a day that its flag reads: the typical window and its first day's earlier count.
LOOKBACK_DAYS = TYPICAL_DAYS + GAP_DAYS


@dataclass(frozen=True)
class _Dialect:
    """The few SQL spellings the two databases do not share."""

    #: Whole days from b to a.
    days_between: str
    #: The day `n` days before a day.
    days_before: str
    #: An integer with thousands separators; a signed one; a number with one decimal, signed or not.
    grouped: str
    signed_grouped: str
    one_decimal: str
    signed_one_decimal: str


POSTGRESQL = _Dialect(
    days_between="({a} - {b})",
    days_before="({day} - {n})",
    grouped="to_char({x}, 'FM9,999,999,999,999,999,990')",
    signed_grouped="to_char({x}, 'FMS9,999,999,999,999,999,990')",
    one_decimal="to_char({x}, 'FM999,990.0')",
    signed_one_decimal="to_char({x}, 'FMS999,990.0')",
)
SQLITE = _Dialect(
    days_between="CAST(julianday({a}) - julianday({b}) AS integer)",
    days_before="date({day}, '-{n} days')",
    grouped="printf('%,d', {x})",
    signed_grouped="printf('%+,d', {x})",
    one_decimal="printf('%.1f', {x})",
    signed_one_decimal="printf('%+.1f', {x})",
)


def _days_between(dialect: _Dialect, a: str, b: str) -> str:
    return dialect.days_between.format(a=a, b=b)


def _days_before(dialect: _Dialect, day: str, n: int) -> str:
    return dialect.days_before.format(day=day, n=n)


def possible(*, change: int, earlier: int) -> bool:
    """True for every change the rule can flag: each anomaly changes by at least MIN_CHANGE and by
    more than SHARE_PERCENT of the earlier count (an extreme change too). The cheap test that spares
    every other day the typical change's 28-day read; `_possible` says it in SQL."""
    return abs(change) >= MIN_CHANGE and abs(change) * 100 > earlier * SHARE_PERCENT


def settled_by_latest(
    *, day: dt.date, followers: int | None, latest_day: dt.date | None, latest_followers: int | None
) -> bool:
    """Whether a day written alone is known not to be an anomaly from its account's latest row as it
    stood before the write (a collection's day): it comes after the latest day, so no later day's
    flag depends on it, and either it has no change (no follower count, no earlier count within
    GAP_DAYS) or its change from the latest day's count cannot be an anomaly (`possible`)."""
    if latest_day is None:  # the account's first day
        return True
    if day <= latest_day:
        return False
    if followers is None:
        return True
    within = (day - latest_day).days <= GAP_DAYS
    if latest_followers is None:  # the earlier count, if any, is before the latest day
        return (day - latest_day).days >= GAP_DAYS
    return not within or not possible(change=followers - latest_followers, earlier=latest_followers)


def _possible(change: str, earlier: str) -> str:
    return f"abs({change}) >= {MIN_CHANGE} AND abs({change}) * 100 > {earlier} * {SHARE_PERCENT}"


def reason_sql(*, dialect: _Dialect) -> str:
    """The reason of a day (columns followers, earlier, change, days, typical, history), or NULL
    when the day is not an anomaly."""

    def f(template: str, x: str) -> str:
        return template.format(x=x)

    change = "abs(change)"
    extreme = (
        f"followers >= {EXTREME_RISE} * earlier OR followers * 100 <= earlier * {100 - EXTREME_FALL_PERCENT}"
    )
    unusual = (
        f"history >= {MIN_HISTORY} AND {change} * 100 > earlier * {SHARE_PERCENT} "
        f"AND {change} > {TYPICAL_MULTIPLE} * typical"
    )
    percent = "(change * 100.0 / earlier)"
    percent_text = (
        f"CASE WHEN abs({percent}) < 1000 THEN {f(dialect.signed_one_decimal, percent)} "
        f"ELSE {f(dialect.signed_grouped, f'round({percent})')} END"
    )

    def number(x: str) -> str:  # one decimal below 10, else whole with separators
        whole = f(dialect.grouped, f"round({x})")
        return f"CASE WHEN {x} < 10 THEN {f(dialect.one_decimal, x)} ELSE {whole} END"

    ratio = f"({change} / typical)"
    return (
        f"CASE WHEN change IS NOT NULL AND {change} >= {MIN_CHANGE} AND ({extreme} OR ({unusual})) THEN "
        "'followers ' || CASE WHEN change > 0 THEN 'rose ' ELSE 'fell ' END "
        f"|| {f(dialect.grouped, change)} "
        f"|| CASE WHEN earlier > 0 THEN ' (' || {percent_text} || ' %)' ELSE ' (from 0)' END "
        f"|| CASE WHEN days = 1 THEN ' in a day' ELSE ' in ' || days || ' days' END "
        f"|| CASE WHEN history < {MIN_HISTORY} THEN ', with too little history for a typical change' "
        "WHEN typical = 0 THEN ', when the typical daily change is 0' "
        f"ELSE ', ' || {number(ratio)} || 'x the typical daily change of ' || {number('typical')} END "
        "END"
    )


_TABLE = "snapshots_snapshot"


def refresh_sql(*, vendor: str) -> str:
    """One statement that brings the flags of the given days in line with the rule, writing only the
    rows whose flag changes. Its parameter, per account: (account id, first day, last day) of the
    days to recompute; PostgreSQL takes three arrays, SQLite one JSON array of [id, day, day].

    It works in two steps. First each day's change from its earlier count (a read of the days
    themselves and the GAP_DAYS before them): only the days that pass `_possible`, and the days
    flagged now, go on. Then the typical change of each of those few days, from the rows of its
    LOOKBACK_DAYS. Days without a follower count take no part (the services clear their flag).
    On PostgreSQL the first step reads an account's days only when the spread of its counts there
    could hold such a change (an aggregate over the same index range, cheaper than the window).

    On PostgreSQL every read is a lateral index range scan in date order (the window functions
    never sort) and the rows to update go by their ids (never a join with the table that the
    planner could choose to hash)."""
    if vendor == "postgresql":
        return _postgresql_sql().replace("%", "%%").format(ids="%s", days="%s")
    return _sqlite_sql().replace("%", "%%").format(ranges="%s")


def _postgresql_sql() -> str:
    d = POSTGRESQL
    return (
        "WITH r AS (SELECT * FROM unnest({ids}::bigint[], {days}::date[], {days}::date[]) "
        "AS r(account_id, flag_from, flag_to)), "
        # Step 1: each day's change; the days that may be anomalies, or are flagged. An account whose
        # counts in the range differ by too little for any change to pass `_possible` (the span of
        # its smallest and largest count), and which has no flag there, is not read further.
        "c AS (SELECT r.account_id, t.id, t.date, t.followers, t.anomaly_reason, t.days, "
        f"CASE WHEN t.days <= {GAP_DAYS} THEN t.earlier END AS earlier FROM r CROSS JOIN LATERAL ("
        "SELECT min(followers) AS low, max(followers) AS high, count(anomaly_reason) AS flagged "
        f"FROM {_TABLE} s WHERE s.account_id = r.account_id "
        f"AND s.date BETWEEN {_days_before(d, 'r.flag_from', GAP_DAYS)} AND r.flag_to) b CROSS JOIN LATERAL ("
        "SELECT id, date, followers, anomaly_reason, lag(followers) OVER w AS earlier, "
        "date - lag(date) OVER w AS days "
        f"FROM {_TABLE} s WHERE (b.flagged > 0 OR ({_possible('b.high - b.low', 'b.low')})) "
        "AND s.account_id = r.account_id "
        f"AND s.date BETWEEN {_days_before(d, 'r.flag_from', GAP_DAYS)} AND r.flag_to "
        "AND s.followers IS NOT NULL WINDOW w AS (ORDER BY date)) t "
        "WHERE t.date >= r.flag_from AND (t.anomaly_reason IS NOT NULL "
        f"OR (t.days <= {GAP_DAYS} AND {_possible('t.followers - t.earlier', 't.earlier')}))), "
        # Step 2: their typical change.
        "k AS (SELECT c.id, c.anomaly_reason, c.followers, c.earlier, c.followers - c.earlier AS change, "
        "c.days, y.typical, y.history FROM c CROSS JOIN LATERAL ("
        "SELECT avg(abs(change)) AS typical, count(change) AS history FROM ("
        f"SELECT date, CASE WHEN date - lag(date) OVER w <= {GAP_DAYS} "
        "THEN followers - lag(followers) OVER w END AS change "
        f"FROM {_TABLE} s WHERE s.account_id = c.account_id "
        f"AND s.date BETWEEN {_days_before(d, 'c.date', LOOKBACK_DAYS)} AND {_days_before(d, 'c.date', 1)} "
        "AND s.followers IS NOT NULL WINDOW w AS (ORDER BY date)) x "
        f"WHERE x.date >= {_days_before(d, 'c.date', TYPICAL_DAYS)}) y), "
        "f AS (SELECT id, reason FROM (SELECT id, anomaly_reason, "
        f"{reason_sql(dialect=d)} AS reason FROM k) z WHERE reason IS DISTINCT FROM anomaly_reason) "
        f"UPDATE {_TABLE} AS x SET anomaly_reason = u.reason "
        "FROM unnest(ARRAY(SELECT id FROM f ORDER BY id), ARRAY(SELECT reason FROM f ORDER BY id)) "
        "AS u(id, reason) WHERE x.id = u.id"
    )


def _sqlite_sql() -> str:
    d = SQLITE
    # The statement starts with UPDATE (its WITH inside the FROM subquery): Python's sqlite3 counts
    # the rows a statement changed only when its first word says it changes rows.
    return (
        f"UPDATE {_TABLE} SET anomaly_reason = f.reason FROM ("
        "WITH r AS (SELECT json_extract(value, '$[0]') AS account_id, "
        "json_extract(value, '$[1]') AS flag_from, json_extract(value, '$[2]') AS flag_to "
        "FROM json_each({ranges})), "
        "t AS (SELECT s.id, s.account_id, s.date, s.followers, s.anomaly_reason, r.flag_from, "
        "lag(s.followers) OVER w AS earlier, "
        f"{_days_between(d, 's.date', 'lag(s.date) OVER w')} AS days "
        f"FROM r JOIN {_TABLE} s ON s.account_id = r.account_id "
        f"AND s.date BETWEEN {_days_before(d, 'r.flag_from', GAP_DAYS)} AND r.flag_to "
        "WHERE s.followers IS NOT NULL "
        "WINDOW w AS (PARTITION BY r.account_id, r.flag_from ORDER BY s.date)), "
        "c AS (SELECT id, account_id, date, followers, anomaly_reason, days, "
        f"CASE WHEN days <= {GAP_DAYS} THEN earlier END AS earlier FROM t "
        "WHERE date >= flag_from AND (anomaly_reason IS NOT NULL "
        f"OR (days <= {GAP_DAYS} AND {_possible('followers - earlier', 'earlier')}))), "
        "x AS (SELECT c.id AS day_id, c.date AS day, s.date, "
        f"CASE WHEN {_days_between(d, 's.date', 'lag(s.date) OVER w')} <= {GAP_DAYS} "
        "THEN s.followers - lag(s.followers) OVER w END AS change "
        f"FROM c JOIN {_TABLE} s ON s.account_id = c.account_id "
        f"AND s.date BETWEEN {_days_before(d, 'c.date', LOOKBACK_DAYS)} AND {_days_before(d, 'c.date', 1)} "
        "WHERE s.followers IS NOT NULL WINDOW w AS (PARTITION BY c.id ORDER BY s.date)), "
        "y AS (SELECT day_id, avg(abs(change)) AS typical, count(change) AS history FROM x "
        f"WHERE date >= {_days_before(d, 'day', TYPICAL_DAYS)} GROUP BY day_id), "
        "k AS (SELECT c.id, c.anomaly_reason, c.followers, c.earlier, c.followers - c.earlier AS change, "
        "c.days, y.typical, coalesce(y.history, 0) AS history FROM c LEFT JOIN y ON y.day_id = c.id) "
        f"SELECT id, reason FROM (SELECT id, anomaly_reason, {reason_sql(dialect=d)} AS reason FROM k) z "
        f"WHERE reason IS NOT anomaly_reason) f WHERE {_TABLE}.id = f.id"
    )
