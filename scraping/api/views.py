"""Start a collection run in the background and follow it."""

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Platform
from scraping import selectors, services
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
    RunConflictSerializer,
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


class JobStatusView(APIView):
    permission_classes = [ReadOrStaffWrite]

    @extend_schema(
        tags=["collection"],
        summary="Progress and result of a collection run",
        parameters=[OpenApiParameter("job_id", {"type": "integer", "minimum": 0}, OpenApiParameter.PATH)],
        responses={
            200: JobStatusSerializer,
            401: OpenApiResponse(ErrorSerializer, description="Not signed in (when reads are not public)."),
            404: OpenApiResponse(
                ErrorSerializer, description="No such run, or a job id that is not a number."
            ),
        },
    )
    def get(self, request, job_id: int):
        services.runs_reap_stale()  # a run whose process died is shown as it ended, not "running"
        run = selectors.run_get(run_id=job_id)
        if run is None:
            return Response(
                error_body(code="NOT_FOUND", message=f"No collection run with id {job_id}."),
                status=status.HTTP_404_NOT_FOUND,
            )
        context = {"progress": _progress(run), "errors": selectors.run_errors(run=run, limit=50)}
        return Response(JobStatusSerializer(run, context=context).data)


def _progress(run: CollectionRun) -> dict:
    end = run.finished_at or timezone.now()
    elapsed = (end - run.started_at).total_seconds()
    rate = run.accounts_done / elapsed if elapsed > 0 else None
    remaining = run.accounts_total - run.accounts_done
    if run.status in (RunStatus.PENDING, RunStatus.RUNNING):
        eta = remaining / rate if rate else None
    else:  # nothing left, or nothing more to come
        eta = 0.0 if run.status == RunStatus.COMPLETED else None
    return {
        "rate": round(rate, 1) if rate is not None else None,
        "eta": round(eta, 1) if eta is not None else None,
    }


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
