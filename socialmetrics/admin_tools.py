"""Admin plumbing shared by the apps: a paginator that does not count millions of rows."""

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """On PostgreSQL, an unfiltered list uses the planner's row estimate instead of COUNT(*).

    A filtered list (or any other database) counts exactly. The admin shows the estimate as the
    total, which is what a person needs to page through millions of snapshots.
    """

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
                if row and row[0] and row[0] > 10000:
                    return int(row[0])
        return super().count
