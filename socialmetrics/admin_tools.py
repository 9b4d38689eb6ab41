"""Admin plumbing shared by the apps: a paginator that does not count millions of rows, and a date
hierarchy that does not scan them."""

import datetime as dt

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min, QuerySet
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """No unbounded COUNT(*) over millions of rows.

    On PostgreSQL an unfiltered list uses the planner's row estimate. A filtered list counts at
    most COUNT_LIMIT rows (a person narrows further with the filters and the date hierarchy
    rather than paging past 100 pages).
    """

    COUNT_LIMIT = 10_000

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        model = getattr(self.object_list, "model", None)
        if query is not None and model is not None and not query.where:
            connection = connections[self.object_list.db]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                        [model._meta.db_table],
                    )
                    row = cursor.fetchone()
                if row and row[0] and row[0] > self.COUNT_LIMIT:
                    return int(row[0])
        if query is not None and model is not None:
            return self.object_list.order_by()[: self.COUNT_LIMIT].count()
        return super().count


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
