"""CSV uploads (staff): ``POST /upload`` (multipart field ``file``) and ``POST /api/upload-bulk``
(JSON ``{"csv_data": "..."}``). Both answer the earlier tracker's shapes: a report, or
``{"error": "..."}`` with 400 (nothing written) or 413 (larger than SOCIALMETRICS_MAX_UPLOAD_MB).
A file is read as `csv_text` reads it (UTF-8, or UTF-16 with a byte order mark), as
``manage.py import_snapshots`` does.

``dry_run=true`` (a query parameter, or a field of the body) previews the upload: the same report,
from the import run in full and rolled back (`csv_import(dry_run=True)`, which
``import_snapshots --dry-run`` runs too), with nothing written. Every report lists the accounts the
import creates with the existing ones a person may have meant, and the refused lines as a CSV file.
"""

from __future__ import annotations

import io

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from snapshots.csv_import import CsvFileError, CsvImportReport, csv_import, csv_text
from socialmetrics.api.errors import ErrorSerializer, InvalidParameter
from socialmetrics.api.params import parse_bool
from socialmetrics.api.permissions import StaffOnly

from .serializers import (
    BulkUploadSerializer,
    FileUploadSerializer,
    UploadErrorSerializer,
    UploadResultSerializer,
)

#: Room for the multipart envelope around a file of the maximum size.
_MULTIPART_OVERHEAD = 64 * 1024


def max_upload_bytes() -> int:
    return settings.SOCIALMETRICS_MAX_UPLOAD_MB * 1024 * 1024


def _refuse(message: str, status: int = 400) -> Response:
    return Response({"error": message}, status=status)


def _too_large() -> Response:
    return _refuse(f"The file is larger than {settings.SOCIALMETRICS_MAX_UPLOAD_MB} MB.", status=413)


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class _BadFlag(ValueError):
    pass


def _flag(value: object, *, where: str) -> bool:
    """A true/false value of the query string, a form or JSON (read as every API parameter is);
    _BadFlag says what is wrong, for the upload's own error shape."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return parse_bool(value=value, name="dry_run")
        except InvalidParameter:
            pass
    raise _BadFlag(f"dry_run ({where}) must be true or false, got {str(value)[:40]!r}.")


def _dry_run(request, body_value: object) -> bool:
    """Whether the query string or the body asks for a dry run; _BadFlag for a value that is neither."""
    from_query = _flag(request.query_params.get("dry_run"), where="query parameter")
    return _flag(body_value, where="body") or from_query


_DRY_RUN_PARAMETER = OpenApiParameter(
    "dry_run",
    OpenApiTypes.BOOL,
    description=(
        "true: a preview; check and count everything, write nothing (also accepted as a field of the body)."
    ),
)


def _result(report: CsvImportReport) -> Response:
    return Response(
        {
            "message": report.message,
            "kind": report.kind,
            "dry_run": report.dry_run,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "skipped": report.skipped,
            "count": report.created,
            "accounts_created": report.accounts_created,
            "errors": [{"line": e.line, "column": e.column, "message": e.message} for e in report.errors],
            "new_accounts": [
                {
                    "line": a.line,
                    "platform": a.platform,
                    "handle": a.handle,
                    "organization": a.organization,
                    "suggestions": [{"platform": p, "handle": h} for p, h in a.suggestions],
                }
                for a in report.new_accounts
            ],
            "new_account_count": report.new_account_count,
            "refused_csv": report.refused_csv,
        }
    )


_RESPONSES = {
    200: UploadResultSerializer,
    400: OpenApiResponse(UploadErrorSerializer, description="Nothing was imported; error says why."),
    401: OpenApiResponse(ErrorSerializer, description="Not signed in."),
    403: OpenApiResponse(ErrorSerializer, description="Not staff."),
    413: OpenApiResponse(UploadErrorSerializer, description="Larger than SOCIALMETRICS_MAX_UPLOAD_MB."),
}


class UploadView(APIView):
    permission_classes = [StaffOnly]
    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=["upload"],
        summary="Import a CSV file of accounts or snapshots (staff)",
        description=(
            "Accounts: Platform,Handle,Organization[,URL]. Snapshots: Platform,Handle,Date,Followers"
            "[,Following,Posts,Likes,Comments,Shares,Views,Source,Precision,Collected At] (the download's "
            "columns: a download uploads back as it was). Wrong rows are skipped and listed. "
            "dry_run=true previews the upload and writes nothing."
        ),
        parameters=[_DRY_RUN_PARAMETER],
        request={"multipart/form-data": FileUploadSerializer},
        responses=_RESPONSES,
    )
    def post(self, request):
        if _content_length(request) > max_upload_bytes() + _MULTIPART_OVERHEAD:
            return _too_large()
        try:
            upload = request.FILES.get("file")
            dry_run = _dry_run(request, request.data.get("dry_run"))
        except ParseError as exc:
            return _refuse(f"The upload could not be read: {exc.detail}")
        except _BadFlag as exc:
            return _refuse(str(exc))
        if upload is None:
            return _refuse("No file was uploaded: send it as the multipart field 'file'.")
        name = (upload.name or "").strip()
        if not name:
            return _refuse("The file has no name.")
        if not name.lower().endswith(".csv"):
            return _refuse(f"{name!r} is not a .csv file.")
        if upload.size > max_upload_bytes():
            return _too_large()
        try:
            with csv_text(file=upload.file) as text:
                report = csv_import(lines=text, dry_run=dry_run)
        except CsvFileError as exc:
            return _refuse(str(exc))
        return _result(report)


class BulkUploadView(APIView):
    permission_classes = [StaffOnly]
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["upload"],
        summary="Import CSV text sent as JSON (staff)",
        description="The formats of POST /upload. dry_run=true previews the import and writes nothing.",
        parameters=[_DRY_RUN_PARAMETER],
        request=BulkUploadSerializer,
        responses=_RESPONSES,
    )
    def post(self, request):
        if _content_length(request) > max_upload_bytes() + _MULTIPART_OVERHEAD:
            return _too_large()
        try:
            data = request.data
        except ParseError as exc:
            return _refuse(f"The body is not valid JSON: {exc.detail}")
        csv_data = data.get("csv_data") if isinstance(data, dict) else None
        if not isinstance(csv_data, str):
            return _refuse('Expected a JSON object {"csv_data": "..."} with the CSV as text.')
        if not csv_data.strip():
            return _refuse("csv_data is empty.")
        try:
            dry_run = _dry_run(request, data.get("dry_run"))
        except _BadFlag as exc:
            return _refuse(str(exc))
        try:  # JSON can carry what no text file can: a lone surrogate (\ud800), refused before any write
            size = len(csv_data.encode())
        except UnicodeEncodeError as exc:
            return _refuse(
                f"csv_data is not valid Unicode text: character {exc.start + 1} is a lone surrogate "
                f"({csv_data[exc.start]!a}); nothing was imported."
            )
        if size > max_upload_bytes():
            return _too_large()
        try:
            report = csv_import(
                lines=io.StringIO(csv_data.removeprefix("\ufeff"), newline=""), dry_run=dry_run
            )
        except CsvFileError as exc:
            return _refuse(str(exc))
        return _result(report)
