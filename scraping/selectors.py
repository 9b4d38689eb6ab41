"""Reads for collection: which accounts a run collects, and run records."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from accounts.models import Account

from .collectors.base import AccountRef
from .models import CollectionRun, RunStatus


def collection_accounts(
    *,
    platforms: Iterable[str] = (),
    account_ids: Iterable[int] = (),
    organization: str = "",
    core_only: bool = False,
) -> list[tuple[bool, AccountRef]]:
    """Active accounts to collect as (is core, what a collector needs), core accounts first, then by
    platform and handle. Plain rows, not model instances: a run reads tens of thousands."""
    qs = Account.objects.filter(is_active=True)
    if platforms := list(platforms):
        qs = qs.filter(platform__in=platforms)
    if account_ids := list(account_ids):
        qs = qs.filter(pk__in=account_ids)
    if organization:
        qs = qs.filter(organization__name__iexact=organization)
    if core_only:
        qs = qs.filter(is_core=True)
    return [
        (is_core, AccountRef(pk, platform, handle, external_id or None, instance_host))
        for pk, platform, handle, external_id, instance_host, is_core in qs.order_by(
            "-is_core", "platform", "pk"
        ).values_list("pk", "platform", "handle", "external_id", "instance_host", "is_core")
    ]


def run_list(*, limit: int = 20) -> QuerySet[CollectionRun]:
    return CollectionRun.objects.order_by("-started_at")[:limit]


def run_get(*, run_id: int) -> CollectionRun | None:
    return CollectionRun.objects.filter(pk=run_id).first()


def run_holding_lock(*, token: str | None) -> int | None:
    """The run that holds the collection lock under `token` (None while the holder is still recording
    its run); when the holder's token cannot be read, the newest run still going."""
    if token:
        return CollectionRun.objects.filter(lock_token=token).values_list("pk", flat=True).first()
    active = CollectionRun.objects.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING])
    return active.order_by("-started_at").values_list("pk", flat=True).first()


def run_errors(*, run: CollectionRun, limit: int = 50) -> list[dict]:
    """The failed accounts of a run with their reasons (first `limit`)."""
    rows = (
        run.outcomes.filter(status="failed")
        .order_by("account__platform", "account__handle")
        .values_list("account_id", "account__platform", "account__handle", "error_message")[:limit]
    )
    return [{"account_id": a, "platform": p, "handle": h, "error": e} for a, p, h, e in rows]
