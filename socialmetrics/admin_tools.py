"""Admin plumbing shared by the apps: counts shown with thousands separators, a paginator that
says how exact its total is without counting millions of rows, and a date hierarchy that does not
scan them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min, QuerySet
from django.utils.formats import number_format
from django.utils.functional import cached_property

# --- Numbers as people read them ------------------------------------------------------------------


def grouped(value: int | float | None) -> str | None:
    """A count with the active language's thousands separators (24,724,674); None stays None, which
    the admin shows as its empty value ("-")."""
    if value is None:
        return None
    return number_format(value, force_grouping=True)


def signed(value: int | None) -> str | None:
    """A change with its sign and separators: +1,234, 0, and a minus sign (U+2212) before a fall."""
    if value is None:
        return None
    text = grouped(abs(value))
    return f"+{text}" if value > 0 else f"\u2212{text}" if value < 0 else text


def percent(value: float | None, *, places: int = 2) -> str | None:
    """A percentage change with its sign, as `signed` writes it: +1.25 %."""
    if value is None:
        return None
    text = number_format(abs(value), decimal_pos=places, force_grouping=True)
    sign = "+" if value > 0 else "\u2212" if value < 0 else ""
    return f"{sign}{text}\u00a0%"


def seconds(value: float | None) -> str | None:
    """A duration: 0.42 s, 12.3 s, 1,234 s."""
    if value is None:
        return None
    places = 2 if value < 1 else 1 if value < 100 else 0
    return f"{number_format(value, decimal_pos=places, force_grouping=True)}\u00a0s"


def count_column(
    field: str, *, description: str | None = None, show: Callable = grouped, ordering: bool = True
) -> Callable:
    """An admin column (list_display) or read-only field (readonly_fields) showing `field` through
    `show` (separators by default). Assign it on the admin class and name it like a method:

        followers_shown = count_column("followers")
        list_display = ["account", "followers_shown"]
    """

    def column(model_admin, obj):
        shown = show(getattr(obj, field))
        # The admin's empty value ("-") for an unknown; read-only fields would print "None".
        return model_admin.get_empty_value_display() if shown is None else shown

    column.__name__ = f"{field}_shown"
    return admin.display(
        description=description or field.replace("_", " "), ordering=field if ordering else None
    )(column)


def json_summary(value) -> str | None:
    """A small JSON value of a record (options, counts by status) as one readable line:
    ``failed: 3, succeeded: 12`` (keys in order: PostgreSQL's jsonb keeps none); lists are
    comma-separated."""
    if value in (None, {}, []):
        return None
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_scalar(value[key])}" for key in sorted(value))
    if isinstance(value, list):
        return ", ".join(_scalar(item) for item in value)
    return _scalar(value)


def _scalar(value) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    if isinstance(value, int | float):
        return grouped(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(_scalar(item) for item in value) or "-"
    return json.dumps(value, separators=(", ", ": "))


# --- Totals without COUNT(*) over millions of rows --------------------------------------------------


class EstimatedCountPaginator(Paginator):
    """A changelist's total, exact when that is cheap and clearly marked when it is not.

    It counts at most COUNT_LIMIT + 1 rows: fewer than that is the exact total. Beyond it, on
    PostgreSQL the planner's estimate of the query (which follows the table's current size, even
    before ANALYZE) is shown as "about N"; elsewhere, or when the planner thinks there are fewer,
    "more than COUNT_LIMIT". An admin that knows a cheap exact total for the request passes it as
    `exact_count` (a callable returning the total, or None when it does not know).
    """

    COUNT_LIMIT = 10_000
    EXACT, ESTIMATE, AT_LEAST = "exact", "estimate", "at least"

    def __init__(self, *args, exact_count: Callable[[], int | None] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.exact_count = exact_count
        self.count_kind = self.EXACT

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        if self.exact_count is not None and (exact := self.exact_count()) is not None:
            return exact
        bounded = queryset.order_by()[: self.COUNT_LIMIT + 1].count()
        if bounded <= self.COUNT_LIMIT:
            return bounded
        estimate = planner_estimate(queryset)
        if estimate is not None and estimate > self.COUNT_LIMIT:
            self.count_kind = self.ESTIMATE
            return estimate
        self.count_kind = self.AT_LEAST
        return self.COUNT_LIMIT

    @property
    def count_display(self) -> str:
        """The total as the changelist says it: "177,834", "about 178,000", "more than 10,000"."""
        count = self.count
        if self.count_kind == self.ESTIMATE:
            return f"about {grouped(_round_significant(count))}"
        if self.count_kind == self.AT_LEAST:
            return f"more than {grouped(count)}"
        return grouped(count)


def planner_estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows `queryset` returns (from EXPLAIN, nothing is read); None on
    other databases."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    plan = queryset.order_by().values("pk").explain(format="json")
    try:
        return int(json.loads(plan)[0]["Plan"]["Plan Rows"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _round_significant(value: int, digits: int = 3) -> int:
    """177,834 -> 178,000: an estimate shown with the precision it has."""
    if value < 10**digits:
        return value
    scale = 10 ** (len(str(value)) - digits)
    return round(value / scale) * scale


# --- The date hierarchy without DISTINCT over millions of rows --------------------------------------


class RangeDatesQuerySet(QuerySet):
    """The admin's date hierarchy without scanning millions of rows.

    Django asks for DISTINCT dates (and for MIN/MAX to pick the start level), which on millions of
    rows takes seconds. Here the first and last dates come from two index-ordered LIMIT 1 look-ups,
    and every year, month or day between them is offered (a link to an empty day shows no rows).
    """

    def _bounds(self, field_name: str) -> tuple:
        ordered = self.order_by(field_name).values_list(field_name, flat=True)
        first = ordered.first()
        last = self.order_by(f"-{field_name}").values_list(field_name, flat=True).first()
        return first, last

    def aggregate(self, *args, **kwargs):
        first, last = kwargs.get("first"), kwargs.get("last")
        if (
            not args
            and set(kwargs) == {"first", "last"}
            and isinstance(first, Min)
            and isinstance(last, Max)
            and first.source_expressions[0].name == last.source_expressions[0].name
        ):
            low, high = self._bounds(first.source_expressions[0].name)
            return {"first": low, "last": high}
        return super().aggregate(*args, **kwargs)

    def dates(self, field_name, kind, order="ASC"):
        first, last = self._bounds(field_name)
        if first is None or last is None:
            return []
        if kind == "year":
            result = [dt.date(y, 1, 1) for y in range(first.year, last.year + 1)]
        elif kind == "month":
            result, day = [], dt.date(first.year, first.month, 1)
            while day <= last:
                result.append(day)
                day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
        else:
            result = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
        return result if order == "ASC" else result[::-1]


def with_range_dates(queryset: QuerySet) -> QuerySet:
    return RangeDatesQuerySet(model=queryset.model, query=queryset.query, using=queryset.db)


def hierarchy_range(params, *, field: str) -> tuple[dt.date, dt.date] | None:
    """The days a date hierarchy's parameters (``date__year``, ``__month``, ``__day``) select, or None
    when they do not make a day, month or year."""
    try:
        year = int(params.get(f"{field}__year", ""))
        month = params.get(f"{field}__month")
        day = params.get(f"{field}__day")
        if month is None:
            if day is not None:
                return None
            return dt.date(year, 1, 1), dt.date(year, 12, 31)
        first = dt.date(year, int(month), 1)
        if day is not None:
            first = dt.date(year, int(month), int(day))
            return first, first
        following = dt.date(year + first.month // 12, first.month % 12 + 1, 1)
        return first, following - dt.timedelta(days=1)
    except (ValueError, OverflowError):
        return None
