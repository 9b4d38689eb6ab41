"""Start a collection run in the background and follow it."""

from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Platform
from scraping import progress, selectors, services
from scraping.locks import LockHeld, LockUnavailable
from scraping.models import CollectionRun, RunStatus
from scraping.runner import RunOptions, collect_in_background
from socialmetrics.api.errors import ErrorSerializer, InvalidParameter, error_body
from socialmetrics.api.pagination import page_info, page_parameters, page_request
from socialmetrics.api.params import positive_int
from socialmetrics.api.permissions import ReadOrStaffWrite, StaffOnly

from .serializers import (
    AccountGapSerializer,
    GapsPageSerializer,
    JobStatusSerializer,
    LatestRunSerializer,
    RunConflictSerializer,
    RunProgressSerializer,
    RunRequestSerializer,
    RunStartedSerializer,
    ScheduleSerializer,
)


class RunScraperView(APIView):
    permission_classes = [StaffOnly]

    @extend_schema(
        tags=["collection"],
        summary="Start a collection run in the background (staff)",
        request=RunRequestSerializer,
        responses={
            202: RunStartedSerializer,
            409: OpenApiResponse(RunConflictSerializer, description="A run is in progress: run_id names it."),
            503: OpenApiResponse(ErrorSerializer, description="The collection lock cannot be taken."),
        },
    )
    def post(self, request):
        data = RunRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        options = RunOptions(
            mode=data.validated_data["mode"],
            platforms=data.validated_data["platforms"],
            account_ids=data.validated_data["accounts"],
            core_only=data.validated_data["core_only"],
        )
        try:
            run = collect_in_background(options=options)
        except LockHeld as exc:
            return Response(
                {**error_body(code="RUN_IN_PROGRESS", message=str(exc)), "run_id": exc.run_id},
                status=status.HTTP_409_CONFLICT,
            )
        except (LockUnavailable, ImproperlyConfigured) as exc:
            return Response(
                error_body(code="COLLECTION_UNAVAILABLE", message=str(exc)),
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response(
            {"job_id": run.pk, "status": run.status, "account_count": run.accounts_total},
            status=status.HTTP_202_ACCEPTED,
        )


def _is_staff(request) -> bool:
    user = request.user
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def _current(run: CollectionRun | None) -> CollectionRun | None:
    """The run as it is: one whose process is gone is ended first (shown as it ended, not "running")."""
    if run is not None and services.run_looks_stale(run=run):
        services.runs_reap_stale()
        run.refresh_from_db()
    return run


def _progress(run: CollectionRun, request) -> dict:
    context = {"estimate": progress.estimate(run=run), "staff": _is_staff(request)}
    return RunProgressSerializer(run, context=context).data


_JOB_ID = OpenApiParameter("job_id", {"type": "integer", "minimum": 0}, OpenApiParameter.PATH)


def _no_such_run(job_id) -> Response:
    return Response(
        error_body(code="NOT_FOUND", message=f"No collection run with id {job_id}."),
        status=status.HTTP_404_NOT_FOUND,
    )


class JobStatusView(APIView):
    permission_classes = [ReadOrStaffWrite]

    @extend_schema(
        tags=["collection"],
        summary="Progress and result of a collection run",
        parameters=[_JOB_ID],
        responses={
            200: JobStatusSerializer,
            401: OpenApiResponse(ErrorSerializer, description="Not signed in (when reads are not public)."),
            404: OpenApiResponse(
                ErrorSerializer, description="No such run, or a job id that is not a number."
            ),
        },
    )
    def get(self, request, job_id: int):
        run = _current(selectors.run_get(run_id=job_id))
        if run is None:
            return _no_such_run(job_id)
        context = {
            "estimate": progress.estimate(run=run),
            "staff": _is_staff(request),
            "errors": selectors.run_errors(run=run, limit=50),
            "skip_reasons": selectors.run_skip_reasons(run=run),
        }
        return Response(JobStatusSerializer(run, context=context).data)


class RunLatestView(APIView):
    """What every open overview polls: the newest run, whoever started it, with its progress."""

    permission_classes = [ReadOrStaffWrite]

    @extend_schema(
        tags=["collection"],
        summary="The latest collection run, whoever started it",
        description="One indexed query (two when the run's process is found gone and the run is ended "
        "first). Its failures and skip reasons: GET /api/job-status/{job_id}.",
        responses={
            200: LatestRunSerializer,
            401: OpenApiResponse(ErrorSerializer, description="Not signed in (when reads are not public)."),
        },
    )
    def get(self, request):
        run = _current(selectors.run_latest())
        return Response({"run": _progress(run, request) if run is not None else None})


class RunCancelView(APIView):
    """Staff: stop a run before its next batch, keeping what it collected (services.run_cancel)."""

    permission_classes = [StaffOnly]

    @extend_schema(
        tags=["collection"],
        summary="Cancel a collection run (staff)",
        description="The run starts no new batch, writes what it has collected, frees the collection "
        "lock and ends `cancelled` (within about a second in this process; a Celery run when its "
        "batches being collected have reported). Asking again changes nothing.",
        parameters=[_JOB_ID],
        request=None,
        responses={
            200: OpenApiResponse(RunProgressSerializer, description="The run has ended cancelled."),
            202: OpenApiResponse(RunProgressSerializer, description="Asked: the run stops shortly."),
            401: OpenApiResponse(ErrorSerializer, description="Not signed in."),
            403: OpenApiResponse(ErrorSerializer, description="Not staff, or the CSRF token is missing."),
            404: OpenApiResponse(ErrorSerializer, description="No such run."),
            409: OpenApiResponse(ErrorSerializer, description="The run has already ended (not cancelled)."),
        },
    )
    def post(self, request, job_id: int):
        run = services.run_cancel(run_id=int(job_id), by=request.user.get_username())
        if run is None:
            return _no_such_run(job_id)
        if run.is_active:
            return Response(_progress(run, request), status=status.HTTP_202_ACCEPTED)
        if run.status == RunStatus.CANCELLED:
            return Response(_progress(run, request))
        return Response(
            error_body(code="RUN_ENDED", message=f"Run {run.pk} has already ended ({run.status})."),
            status=status.HTTP_409_CONFLICT,
        )


class ScheduleView(APIView):
    """The daily collection's schedule (edited in the admin), its next run and the last run."""

    permission_classes = [ReadOrStaffWrite]

    @extend_schema(
        tags=["collection"],
        summary="The daily collection: schedule, next run, last run",
        responses={
            200: ScheduleSerializer,
            401: OpenApiResponse(ErrorSerializer, description="Not signed in (when reads are not public)."),
        },
    )
    def get(self, request):
        services.runs_reap_stale()
        return Response(ScheduleSerializer(selectors.daily_schedule()).data)


class GapsView(APIView):
    """Active accounts with days missing in the last N days (`manage.py find_gaps` as JSON)."""

    permission_classes = [ReadOrStaffWrite]

    @extend_schema(
        tags=["collection"],
        summary="Accounts with missing days",
        parameters=[
            OpenApiParameter(
                "days",
                {"type": "integer", "minimum": 1, "maximum": selectors.GAPS_MAX_DAYS},
                description="How many days back, today included (default 7).",
            ),
            OpenApiParameter(
                "platform",
                {
                    "anyOf": [
                        {"type": "string", "enum": list(Platform.values)},
                        {"type": "string", "maxLength": 0},
                    ]
                },
                description="Only this platform (empty: every platform).",
            ),
            *page_parameters(default_per_page=100, max_per_page=500),
        ],
        responses={
            200: GapsPageSerializer,
            400: OpenApiResponse(ErrorSerializer, description="A parameter that cannot be used."),
            401: OpenApiResponse(ErrorSerializer, description="Not signed in (when reads are not public)."),
        },
    )
    def get(self, request):
        params = request.query_params
        days = positive_int(params=params, name="days", default=7, maximum=selectors.GAPS_MAX_DAYS)
        platform = params.get("platform", "")
        if platform and platform not in Platform.values:
            raise InvalidParameter(
                field="platform", message=f"expected one of: {', '.join(Platform.values)}."
            )
        page = page_request(params=params, default_per_page=100, max_per_page=500)
        gaps = selectors.account_gaps(days=days, platform=platform)
        body = {
            "data": AccountGapSerializer(gaps[page.offset : page.offset + page.per_page], many=True).data,
            "pagination": page_info(request=page, total=len(gaps), days=days),
        }
        return Response(body)
