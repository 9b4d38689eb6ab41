"""One error format for the whole API: ``{"error": {"code", "message", "field"?}}``.

`exception_handler` is REST framework's EXCEPTION_HANDLER; `not_found` answers unknown /api/ paths,
and `handler404` / `handler500` (wired in the root URLconf) keep errors under /api/ in JSON even
when they happen outside a REST framework view.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.views import exception_handler as drf_exception_handler


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="INVALID_PARAMETER, NOT_FOUND, PERMISSION_DENIED, ...")
    message = serializers.CharField()
    field = serializers.CharField(required=False, help_text="The parameter or field at fault.")


class ErrorSerializer(serializers.Serializer):
    """The schema of every error answer."""

    error = ErrorDetailSerializer()


class InvalidParameter(exceptions.APIException):
    """A query parameter that cannot be used: 400 naming the parameter."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_parameter"

    def __init__(self, *, field: str, message: str) -> None:
        self.field = field
        super().__init__(detail=f"{field}: {message}")


_CODES: list[tuple[type[Exception], str]] = [
    (InvalidParameter, "INVALID_PARAMETER"),
    (exceptions.NotAuthenticated, "NOT_AUTHENTICATED"),
    (exceptions.AuthenticationFailed, "AUTHENTICATION_FAILED"),
    (exceptions.PermissionDenied, "PERMISSION_DENIED"),
    (exceptions.NotFound, "NOT_FOUND"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (exceptions.NotAcceptable, "NOT_ACCEPTABLE"),
    (exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (exceptions.ParseError, "PARSE_ERROR"),
    (exceptions.Throttled, "THROTTLED"),
]
_BY_STATUS = {403: "PERMISSION_DENIED", 404: "NOT_FOUND", 413: "PAYLOAD_TOO_LARGE"}


def _first_message(detail: Any) -> tuple[str | None, str]:
    """The first (field, message) of a ValidationError's detail, however nested."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field, message = _first_message(value)
            return (key if key != "non_field_errors" else field), message
        return None, "Invalid input."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else (None, "Invalid input.")
    return None, str(detail)


def error_body(*, code: str, message: str, field: str | None = None, **extra: Any) -> dict:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    body.update(extra)
    return {"error": body}


def exception_handler(exc: Exception, context: dict) -> HttpResponse | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: Django's handler500 answers (in JSON under /api/)
    request = context.get("request")
    extra: dict[str, Any] = {}
    field = None
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_message(exc.detail)
        reading = request is not None and request.method in ("GET", "HEAD")
        code = "INVALID_PARAMETER" if reading else "VALIDATION_ERROR"
        if field:
            message = f"{field}: {message}"
        if isinstance(exc.detail, dict):
            extra["fields"] = exc.detail
    else:
        code = next((c for cls, c in _CODES if isinstance(exc, cls)), None)
        code = code or _BY_STATUS.get(response.status_code) or "ERROR"
        detail = getattr(exc, "detail", None)
        message = str(detail) if detail is not None else str(exc) or code.replace("_", " ").capitalize()
        field = getattr(exc, "field", None)
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            extra["retry_after"] = max(1, int(exc.wait + 0.999))
    response.data = error_body(code=code, message=message, field=field, **extra)
    return response


_COMPACT = {"separators": (",", ":")}


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


@csrf_exempt  # it writes nothing: a POST to a wrong path learns of the 404, not of a CSRF refusal
def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Unknown paths under /api/: a JSON 404 whatever the method, never an HTML page."""
    return JsonResponse(
        error_body(code="NOT_FOUND", message=f"No API endpoint at {request.path}."),
        status=404,
        json_dumps_params=_COMPACT,
    )


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        return JsonResponse(
            error_body(code="SERVER_ERROR", message="The server failed to answer; the error was logged."),
            status=500,
            json_dumps_params=_COMPACT,
        )
    return defaults.server_error(request)
