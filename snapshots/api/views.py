"""Read endpoints over snapshots: summary, totals, history, grid and the CSV download.

Views parse the request, call one selector and shape its tuples; each JSON read is served through
the read cache (`socialmetrics.cache`) under the generation groups it reads.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import json
import threading

from django.db import connections
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Platform
from accounts.platforms import UnknownPlatform, normalize_platform
from accounts.selectors import account_id_by_handle
from snapshots.engagement import engagement_rate
from snapshots.filters import GridFilter, SummaryFilter
from snapshots.models import AccountLatest, Snapshot
from snapshots.selectors import (
    AccountChanged,
    GridCursor,
    grid_export_csv_copy,
    grid_export_rows,
    grid_page,
    grid_queryset,
    grid_rows_after,
    history_series,
    summary_body,
    summary_queryset,
    summary_rows,
    summary_totals,
)
from socialmetrics import cache as generations
from socialmetrics.api.errors import ErrorSerializer, InvalidParameter
from socialmetrics.api.pagination import page_info, page_parameters, page_request
from socialmetrics.api.params import optional_date, positive_int
from socialmetrics.api.rendering import PrerenderedJSON
from socialmetrics.cache import CachedReadMixin, CacheSpec, renders_plain_json

from .serializers import (
    GRID_ARRAY_COLUMNS,
    GRID_OBJECT_COLUMNS,
    GridCursorPageSerializer,
    GridObjectsCursorPageSerializer,
    GridObjectsPageSerializer,
    GridPageSerializer,
    HistorySerializer,
    SummaryRowSerializer,
    TotalsSerializer,
)

BAD_REQUEST = OpenApiResponse(ErrorSerializer, description="A parameter cannot be used (names it).")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such account.")

# --- Summary ----------------------------------------------------------------------------------------


SUMMARY_KEYS = (
    "platform",
    "handle",
    "org_name",
    "followers",
    "engagement",
    "engagement_rate",
    "posts",
    "date",
)


def _summary_row(row: tuple) -> dict:
    """A `summary_rows` tuple as the summary's object: its values, then the latest day's flag."""
    *values, reason = row
    return {
        **dict(zip(SUMMARY_KEYS, values, strict=True)),
        "anomaly": reason is not None,
        "anomaly_reason": reason,
    }


class SummaryView(CachedReadMixin, GenericAPIView):
    """The latest snapshot of every active account, each on its own most recent day."""

    cache_name = "summary"
    cache_groups = (generations.SUMMARY,)
    filterset_class = SummaryFilter
    queryset = AccountLatest.objects.none()  # the real one comes from the selector
    pagination_class = None

    def get_queryset(self):
        return summary_queryset()

    @extend_schema(
        tags=["summary"],
        summary="Latest values of every active account",
        responses={200: SummaryRowSerializer(many=True), 400: BAD_REQUEST},
    )
    def get(self, request):
        return self.cached(request, build=self._build)

    def _build(self) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        if renders_plain_json(self.request):  # 10,000 rows: straight to bytes
            return PrerenderedJSON(summary_body(queryset=queryset))
        rows = summary_rows(queryset=queryset)
        return Response([_summary_row(row) for row in rows])


class SummaryTotalsView(CachedReadMixin, GenericAPIView):
    """Followers and engagement per platform and organization, with 1/7/30-day growth."""

    cache_name = "totals"
    cache_timeout = "summary"
    cache_groups = (generations.SUMMARY,)
    filterset_class = SummaryFilter
    queryset = AccountLatest.objects.none()
    pagination_class = None

    def get_queryset(self):
        return summary_queryset()

    @extend_schema(
        tags=["summary"],
        summary="Totals per platform and per organization, with growth",
        filters=True,
        responses={200: TotalsSerializer, 400: BAD_REQUEST},
    )
    def get(self, request):
        return self.cached(request, build=self._build)

    def _build(self) -> Response:
        return Response(summary_totals(queryset=self.filter_queryset(self.get_queryset())))


# --- History --------------------------------------------------------------------------------------

_ACCOUNT_IDS_MAX = 50_000


class _AccountIds:
    """(platform, lower-case handle) -> account id, remembered by this process so a cache hit
    needs no query and can be answered early (0.48 ms in-process instead of about 0.9 ms and a
    query, benchmark data). An id can go stale (the account renamed or deleted); the build verifies
    it, and a stale id is forgotten and looked up again, never used to build or stamp a response."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> int | None:
        return self._ids.get(key)

    def remember(self, key: tuple[str, str], account_id: int) -> None:
        with self._lock:
            if len(self._ids) >= _ACCOUNT_IDS_MAX:
                self._ids.clear()
            self._ids[key] = account_id

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._ids.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._ids.clear()


account_ids = _AccountIds()


class _StaleAccountId(Exception):
    pass


class HistoryView(CachedReadMixin, APIView):
    """One account's daily series, cached under that account's own generation group."""

    cache_name = "history"

    @extend_schema(
        tags=["history"],
        summary="One account's daily series",
        description=(
            "Platform (value or display name, e.g. x or X) and handle are matched case-insensitively. "
            "Every day between the first and last snapshot in the range is listed; days without a "
            "snapshot have null. engagement_rate is each day's engagement divided by its followers, "
            "engagement_rate_avg the mean of those rates over the range."
        ),
        parameters=[
            OpenApiParameter(
                "platform",
                {"type": "string", "enum": list(Platform.values)},
                OpenApiParameter.PATH,
                description="The platform's value; its display name (X) and other names (twitter) also do.",
            ),
            OpenApiParameter("handle", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (inclusive)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (inclusive)."),
        ],
        responses={200: HistorySerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
    )
    def get(self, request, platform: str, handle: str):
        try:
            key = history_key(platform, handle)
        except UnknownPlatform as exc:
            raise InvalidParameter(field="platform", message=str(exc)) from None
        date_from = optional_date(params=request.query_params, name="from")
        date_to = optional_date(params=request.query_params, name="to")
        if date_from and date_to and date_from > date_to:
            raise InvalidParameter(field="from", message="must not be after to.")
        remembered = account_ids.get(key)
        if remembered is not None:
            try:
                return self._serve(request, key, remembered, date_from, date_to, verify=True)
            except _StaleAccountId:
                account_ids.forget(key)
        account_id = account_id_by_handle(platform=key[0], handle=key[1])
        if account_id is None:
            raise NotFound(f"No {key[0]} account with the handle {key[1]!r}.")
        account_ids.remember(key, account_id)
        return self._serve(request, key, account_id, date_from, date_to, verify=False)

    @classmethod
    def cache_spec(cls, request, kwargs: dict, account_id: int | None = None) -> CacheSpec | None:
        """Under the account's own history group, keyed by its normalised platform and handle (every
        spelling of the account shares an entry). Before the view runs, only a remembered id will do."""
        try:
            key = history_key(kwargs["platform"], kwargs["handle"])
        except UnknownPlatform:
            return None
        account_id = account_id if account_id is not None else account_ids.get(key)
        if account_id is None:
            return None
        return CacheSpec(
            name=cls.cache_name,
            timeout=cls.cache_name,
            groups=(generations.history_group(account_id),),
            path=f"/api/history/{key[0]}/{key[1]}",
        )

    def _serve(self, request, key, account_id: int, date_from, date_to, *, verify: bool):
        def build() -> Response:
            try:
                series = history_series(
                    account_id=account_id,
                    date_from=date_from,
                    date_to=date_to,
                    expect=key if verify else None,
                )
            except AccountChanged:
                raise _StaleAccountId from None
            return Response(series)

        return self.cached(request, build=build, spec=self.cache_spec(request, self.kwargs, account_id))


def history_key(platform: str, handle: str) -> tuple[str, str]:
    """(platform value, lower-case handle) of a history URL; UnknownPlatform for no platform."""
    return normalize_platform(platform), handle.strip("/").strip().removeprefix("@").lower()


# --- Grid -------------------------------------------------------------------------------------------

GRID_DEFAULT_PER_PAGE = 50
GRID_MAX_PER_PAGE = 1000


#: ?rows= : how the grid's rows are written.
ROWS_ARRAYS, ROWS_OBJECTS = "arrays", "objects"
_VALUE_NAMES = GRID_ARRAY_COLUMNS[:-2]
_FOLLOWERS, _ENGAGEMENT = _VALUE_NAMES.index("followers"), _VALUE_NAMES.index("engagement")


def _grid_data(rows: list[tuple]) -> list[list]:
    """Rows as the grid's arrays: the values, then whether the day is flagged, and why."""
    return [[r[0], r[1], r[2], r[3].isoformat(), *r[4:-1], r[-1] is not None, r[-1]] for r in rows]


def _grid_objects(rows: list[tuple]) -> list[dict]:
    """Rows as named fields (GRID_OBJECT_COLUMNS): the values, the day's engagement rate, the flag."""
    data = []
    for r in rows:
        row = dict(zip(_VALUE_NAMES, r[:-1], strict=True))
        row["date"] = row["date"].isoformat()
        row["engagement_rate"] = engagement_rate(r[_ENGAGEMENT], r[_FOLLOWERS])
        row["anomaly"] = r[-1] is not None
        row["anomaly_reason"] = r[-1]
        data.append(row)
    return data


def _grid_rows(params) -> str:
    rows = params.get("rows", ROWS_ARRAYS)
    if rows not in (ROWS_ARRAYS, ROWS_OBJECTS):
        raise InvalidParameter(
            field="rows", message=f"expected {ROWS_ARRAYS} or {ROWS_OBJECTS}, got {rows[:40]!r}."
        )
    return rows


def _grid_body(rows: list[tuple], *, form: str, pagination: dict) -> dict:
    if form == ROWS_OBJECTS:
        columns, data = GRID_OBJECT_COLUMNS, _grid_objects(rows)
    else:
        columns, data = GRID_ARRAY_COLUMNS, _grid_data(rows)
    return {"rows": form, "columns": columns, "data": data, "pagination": pagination}


def encode_cursor(row: tuple) -> str:
    raw = json.dumps([row[3].isoformat(), row[0], row[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> GridCursor | None:
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        date, platform, handle = json.loads(raw)
        return GridCursor(date=dt.date.fromisoformat(date), platform=str(platform), handle=str(handle))
    except (binascii.Error, ValueError, TypeError):
        raise InvalidParameter(
            field="cursor", message="not a cursor this API gave out (use next_cursor as it is)."
        ) from None


_GRID_PARAMETERS = [
    *page_parameters(default_per_page=GRID_DEFAULT_PER_PAGE, max_per_page=GRID_MAX_PER_PAGE),
    OpenApiParameter(
        "cursor",
        OpenApiTypes.STR,
        description=(
            "Cursor pagination: give it empty for the first page, then the next_cursor of the previous "
            "page (nothing else is a cursor). Stays fast at any depth; only in the default order, and "
            "not with page."
        ),
    ),
    OpenApiParameter(
        "rows",
        {"type": "string", "enum": [ROWS_ARRAYS, ROWS_OBJECTS]},
        description=(
            "arrays (default): each row an array of values in the order `columns` names (the original "
            "form). objects: each row an object of named fields, with the day's engagement rate."
        ),
    ),
]


class GridView(CachedReadMixin, GenericAPIView):
    """Every snapshot, newest date first, then platform, then handle."""

    cache_name = "grid"
    cache_groups = (generations.GRID,)
    filterset_class = GridFilter
    queryset = Snapshot.objects.none()
    pagination_class = None

    def get_queryset(self):
        return grid_queryset()

    @extend_schema(
        tags=["grid"],
        summary="The full data table, paginated",
        filters=True,
        parameters=_GRID_PARAMETERS,
        responses={
            200: PolymorphicProxySerializer(
                component_name="GridResponse",
                serializers=[
                    GridPageSerializer,
                    GridCursorPageSerializer,
                    GridObjectsPageSerializer,
                    GridObjectsCursorPageSerializer,
                ],
                resource_type_field_name=None,
            ),
            400: BAD_REQUEST,
        },
    )
    def get(self, request):
        return self.cached(request, build=self._build)

    def _build(self) -> Response:
        params = self.request.query_params
        form = _grid_rows(params)
        queryset = self.filter_queryset(self.get_queryset())
        if "cursor" in params:
            return self._cursor_page(queryset, params, form)
        page = page_request(
            params=params, default_per_page=GRID_DEFAULT_PER_PAGE, max_per_page=GRID_MAX_PER_PAGE
        )
        result = grid_page(queryset=queryset, offset=page.offset, limit=page.per_page)
        pagination = page_info(request=page, total=result.total.count, total_estimated=result.total.estimated)
        return Response(_grid_body(result.rows, form=form, pagination=pagination))

    def _cursor_page(self, queryset, params, form: str) -> Response:
        if params.get("ordering", "").strip():
            raise InvalidParameter(
                field="cursor", message="cursor pagination keeps the default order; drop ordering."
            )
        if "page" in params:
            raise InvalidParameter(field="page", message="page and cursor cannot be combined; drop page.")
        after = decode_cursor(params.get("cursor", "").strip())
        per_page = min(
            positive_int(params=params, name="per_page", default=GRID_DEFAULT_PER_PAGE), GRID_MAX_PER_PAGE
        )
        rows = grid_rows_after(queryset=queryset, after=after, limit=per_page + 1)
        more = len(rows) > per_page
        rows = rows[:per_page]
        pagination = {"per_page": per_page, "next_cursor": encode_cursor(rows[-1]) if more else None}
        return Response(_grid_body(rows, form=form, pagination=pagination))


# --- CSV download -------------------------------------------------------------------------------------

#: `snapshots.selectors.EXPORT_COLUMNS` as the file names them: the seed's ten columns first (older
#: readers find them where they were), then the rest of what is stored per day. The upload reads
#: every one of them back (Engagement Total is computed, and ignored there).
CSV_HEADER = (
    "Platform",
    "Handle",
    "Organization",
    "Date",
    "Followers",
    "Engagement Total",
    "Posts",
    "Likes",
    "Comments",
    "Shares",
    "Following",
    "Views",
    "Source",
    "Precision",
    "Collected At",
)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_header_line() -> str:
    return ",".join(CSV_HEADER) + "\r\n"


def csv_lines(rows) -> object:
    """The CSV text, one line at a time: constant memory whatever the number of rows."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    for platform, handle, org_name, date, *numbers in rows:
        yield writer.writerow([platform, handle, org_name or "", date.isoformat(), *numbers])


def _with_header(copied):
    """The header line, then the database's CSV; a generator, so that closing the response (a
    client gone mid-download) closes the export's query and its transaction at once."""
    yield csv_header_line().encode()
    yield from copied


class _JSONErrorsNegotiation(BaseContentNegotiation):
    """The download answers CSV whatever the client asks; errors are rendered as JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class DownloadView(GenericAPIView):
    filterset_class = GridFilter
    queryset = Snapshot.objects.none()
    pagination_class = None
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _JSONErrorsNegotiation

    def get_queryset(self):
        return grid_queryset()

    @extend_schema(
        tags=["grid"],
        summary="The grid as a CSV file (streamed)",
        description=(
            "Every value stored per day: Platform, Handle, Organization, Date, Followers, Engagement Total, "
            "Posts, Likes, Comments, Shares, Following, Views, Source, Precision, Collected At (with its UTC "
            "offset). Uploaded back (POST /upload, POST /api/upload-bulk) into an empty install, it restores "
            "every row value for value. Names a spreadsheet would run as formulas start with an apostrophe, "
            "which the upload takes away again."
        ),
        filters=True,
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="socialmetrics.csv"),
            400: BAD_REQUEST,
        },
    )
    def get(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        # Connected before the first byte is sent (the pool checks the connection as it hands it
        # out): a database that cannot be reached is a 503 (socialmetrics.middleware), never a 200
        # cut short after the header line. The query itself runs as the stream is read.
        connections[queryset.db].ensure_connection()
        copied = grid_export_csv_copy(queryset=queryset)  # PostgreSQL writes the CSV itself
        if copied is not None:
            content = _with_header(copied)
        else:
            content = csv_lines(grid_export_rows(queryset=queryset))
        response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="socialmetrics.csv"'
        return response
