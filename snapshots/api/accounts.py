"""``/api/accounts``: tracked accounts with their latest values; staff create, update, deactivate.

It lives beside the snapshot endpoints because each row carries the account's latest snapshot
values (`accounts` knows nothing about snapshots). The writes themselves are account writes.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from accounts.api.serializers import AccountWriteSerializer
from accounts.models import Account
from accounts.platforms import InvalidProfileURL
from accounts.selectors import account_queryset
from accounts.services import AccountConflict, account_create, account_deactivate, account_update
from snapshots.filters import AccountListFilter
from snapshots.selectors import AccountRow, account_detail, account_list_page, account_page
from socialmetrics import cache as generations
from socialmetrics.api.errors import ErrorSerializer
from socialmetrics.api.pagination import page_info, page_parameters, page_request
from socialmetrics.cache import CachedReadMixin

from .serializers import AccountPageSerializer, AccountSerializer

ACCOUNTS_DEFAULT_PER_PAGE = 100
ACCOUNTS_MAX_PER_PAGE = 500

_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="A parameter or field cannot be used (names it)."),
    401: OpenApiResponse(ErrorSerializer, description="Not signed in."),
    403: OpenApiResponse(ErrorSerializer, description="Not staff."),
    404: OpenApiResponse(ErrorSerializer, description="No such account."),
}


def account_json(row: AccountRow) -> dict:
    latest = row.latest
    if latest is not None:
        latest = {**latest, "date": latest["date"].isoformat()}
    return {
        "id": row.id,
        "account_key": f"{row.platform}:{row.handle.lower()}",
        "platform": row.platform,
        "handle": row.handle,
        "org_name": row.org_name,
        "account_display_name": row.display_name,
        "is_core_account": row.is_core,
        "is_active": row.is_active,
        "url": row.url,
        "latest": latest,
    }


@extend_schema_view(
    list=extend_schema(
        summary="Tracked accounts with their latest values",
        description=(
            "By platform, then handle; `ordering` ranks them by their latest followers, growth or "
            "engagement rate instead (`?ordering=-growth_7d`: the biggest gainers of the week first). "
            "`latest.engagement_rate` is the latest day's engagement (likes + comments + shares) divided "
            "by its followers, as a fraction; null when the followers are 0 or unknown."
        ),
        parameters=page_parameters(
            default_per_page=ACCOUNTS_DEFAULT_PER_PAGE, max_per_page=ACCOUNTS_MAX_PER_PAGE
        ),
        responses={200: AccountPageSerializer, 400: _ERRORS[400], 401: _ERRORS[401]},
    ),
    retrieve=extend_schema(summary="One account", responses={200: AccountSerializer, 404: _ERRORS[404]}),
    create=extend_schema(
        summary="Create an account (staff)",
        request=AccountWriteSerializer,
        responses={201: AccountSerializer, **{k: v for k, v in _ERRORS.items() if k != 404}},
    ),
    update=extend_schema(
        summary="Replace an account's fields (staff)",
        request=AccountWriteSerializer,
        responses={200: AccountSerializer, **_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change some of an account's fields (staff)",
        request=AccountWriteSerializer,
        responses={200: AccountSerializer, **_ERRORS},
    ),
    destroy=extend_schema(
        summary="Deactivate an account (staff); its data stays",
        responses={200: AccountSerializer, **{k: v for k, v in _ERRORS.items() if k != 400}},
    ),
)
@extend_schema(tags=["accounts"])
class AccountViewSet(CachedReadMixin, GenericViewSet):
    """Tracked accounts, each with its latest values (null before its first snapshot)."""

    cache_name = "accounts"
    cache_groups = (generations.ACCOUNTS,)
    filterset_class = AccountListFilter
    queryset = Account.objects.none()
    serializer_class = AccountWriteSerializer
    pagination_class = None
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return account_queryset()

    def _unfiltered(self) -> bool:
        return self.request.query_params.keys().isdisjoint(self.filterset_class.base_filters)

    def filter_queryset(self, queryset):
        # No filter named in the query: django-filter would only build and validate an empty form
        # (0.6 ms CPU of a 3.6 ms page build, benchmark data).
        if self._unfiltered():
            return queryset
        return super().filter_queryset(queryset)

    # --- reads

    def list(self, request):
        return self.cached(request, build=self._list)

    def _list(self) -> Response:
        page = page_request(
            params=self.request.query_params,
            default_per_page=ACCOUNTS_DEFAULT_PER_PAGE,
            max_per_page=ACCOUNTS_MAX_PER_PAGE,
        )
        if self._unfiltered():
            total, rows = account_list_page(offset=page.offset, limit=page.per_page)
        else:
            queryset = self.filter_queryset(self.get_queryset())
            total = queryset.count()
            rows = account_page(queryset=queryset, offset=page.offset, limit=page.per_page) if total else []
        return Response(
            {"data": [account_json(r) for r in rows], "pagination": page_info(request=page, total=total)}
        )

    def retrieve(self, request, pk: str):
        return self.cached(request, build=lambda: Response(self._one(int(pk))))

    def _one(self, account_id: int) -> dict:
        row = account_detail(account_id=account_id)
        if row is None:
            raise NotFound(f"No account with id {account_id}.")
        return account_json(row)

    # --- writes (staff; see socialmetrics.api.permissions)

    def _instance(self, pk: str) -> Account:
        account = Account.objects.filter(pk=int(pk)).first()
        if account is None:
            raise NotFound(f"No account with id {pk}.")
        return account

    def create(self, request):
        serializer = AccountWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with _as_validation_errors():
            account = account_create(**serializer.write_arguments())
        return Response(self._one(account.pk), status=status.HTTP_201_CREATED)

    def update(self, request, pk: str, partial: bool = False):
        account = self._instance(pk)
        serializer = AccountWriteSerializer(account, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        with _as_validation_errors():
            account_update(account=account, **serializer.write_arguments())
        return Response(self._one(account.pk))

    def partial_update(self, request, pk: str):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk: str):
        account = account_deactivate(account=self._instance(pk))
        return Response(self._one(account.pk))


class _as_validation_errors:
    """Turn a write's refusal into a 400 naming the field at fault."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, AccountConflict | InvalidProfileURL):
            raise serializers.ValidationError({"handle": [str(exc)]}) from exc
        return False
