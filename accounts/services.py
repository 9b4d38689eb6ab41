"""Writes to accounts and organizations: imports, flags, and organization look-ups."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from socialmetrics import cache as generations

from .models import Account, Organization
from .platforms import (
    InvalidProfileURL,
    UnknownPlatform,
    normalize_platform,
    parse_profile_url,
    profile_url_for,
)
from .selectors import account_exists


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not JSON, wrong columns...). Nothing was written."""


@dataclass(frozen=True)
class Rejection:
    position: int
    reason: str

    def __str__(self) -> str:
        return f"entry {self.position}: {self.reason}"


@dataclass
class AccountImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    #: Every account the list names (created, updated or unchanged).
    account_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class AccountSpec:
    """A validated account from an import entry."""

    position: int
    platform: str
    handle: str
    organization: str = ""
    profile_url: str = ""
    instance_host: str = ""
    external_id: str | None = None
    display_name: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.platform, self.handle.lower()


# --- Reading the lists teams keep ----------------------------------------------------------------


def entries_from_json(text: str) -> list[dict]:
    """A JSON list of {"organization", "platform", "url"} objects (handle may replace url)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"Not valid JSON: {exc.msg} at line {exc.lineno}.") from exc
    if not isinstance(data, list):
        raise ImportFileError('Expected a JSON list of accounts, e.g. [{"platform": ..., "url": ...}].')
    return data


def entries_from_csv(text: str) -> list[dict]:
    """A CSV with columns Platform, Handle, Organization and optionally URL (any case/order)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = {(name or "").strip().lower() for name in (reader.fieldnames or [])}
    if "platform" not in header or not ({"handle", "url"} & header):
        raise ImportFileError(
            "The CSV header must have the columns Platform, Handle, Organization (and optionally URL); "
            f"found: {', '.join(reader.fieldnames or []) or 'nothing'}."
        )
    return [
        {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        for row in reader
    ]


def entries_from_file(*, name: str, text: str) -> list[dict]:
    """Read a JSON or CSV account list, told apart by its name or, failing that, its first character."""
    lowered = name.lower()
    if lowered.endswith(".json") or (
        not lowered.endswith(".csv") and text.lstrip("\ufeff \n\r\t")[:1] == "["
    ):
        return entries_from_json(text)
    return entries_from_csv(text)


# --- Validation and the import itself -------------------------------------------------------------


def account_spec_from_entry(*, entry: Mapping, position: int) -> AccountSpec:
    """Validate one entry; raises ValueError with the reason it cannot be imported."""
    if not isinstance(entry, Mapping):
        raise ValueError("expected an object with platform and url (or handle)")
    get = {str(k).strip().lower(): v for k, v in entry.items()}
    raw_platform = str(get.get("platform") or "").strip()
    if not raw_platform:
        raise ValueError("platform is missing")
    platform = normalize_platform(raw_platform)
    url = str(get.get("url") or "").strip()
    handle = str(get.get("handle") or "").strip()
    if not (url or handle):
        raise ValueError("neither url nor handle is given")
    ref = parse_profile_url(platform=platform, url=url or handle)
    return AccountSpec(
        position=position,
        platform=platform,
        handle=ref.handle,
        organization=str(get.get("organization") or "").strip(),
        profile_url=ref.profile_url
        or profile_url_for(platform=platform, handle=ref.handle, instance_host=ref.instance_host),
        instance_host=ref.instance_host,
        external_id=ref.external_id,
        display_name=str(get.get("display_name") or get.get("name") or "").strip(),
    )


def organizations_get_or_create(*, names: Iterable[str]) -> dict[str, Organization]:
    """Organizations by lower-cased name, creating the missing ones (names match case-insensitively).

    Matched on the database's LOWER() and on the exact name, keyed by Python's lower(): the two
    disagree outside ASCII (SQLite folds A-Z only; PostgreSQL reads 'İ' as 'i'), and an organization
    just created must be found by its own name whatever the database's folding.
    """
    wanted = {n.strip().lower(): n.strip() for n in names if n and n.strip()}
    if not wanted:
        return {}

    def fetch(keys: list[str], exact: list[str]) -> dict[str, Organization]:
        found = Organization.objects.annotate(lname=Lower("name")).filter(
            Q(lname__in=keys) | Q(name__in=exact)
        )
        return {o.name.lower(): o for o in found if o.name.lower() in wanted}

    found = fetch(list(wanted), list(wanted.values()))
    missing = [Organization(name=wanted[k]) for k in wanted if k not in found]
    if missing:
        Organization.objects.bulk_create(missing, ignore_conflicts=True)
        found.update(fetch([o.name.lower() for o in missing], [o.name for o in missing]))
        generations.invalidate(generations.DATA_GROUPS)
    return found


#: PostgreSQL advisory lock key of account imports ("sm-acct" in ASCII).
_IMPORT_LOCK_KEY = 0x736D2D61636374


def _one_import_at_a_time() -> None:
    """PostgreSQL: two imports naming the same new accounts at the same moment would both find them
    missing and one would fail on the unique handle. Within the transaction, the second waits for the
    first to commit and then finds them (SQLite already lets one writer at a time)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK_KEY])


def accounts_import(*, entries: Iterable[Mapping]) -> AccountImportReport:
    """Create or update accounts from import entries; re-running the same list creates nothing.

    Each bad entry is rejected with its position (1-based) and reason; the rest are imported.
    An existing account gets the organization the list names, and a profile URL, platform id or
    instance it lacked; otherwise it is counted unchanged.
    """
    report = AccountImportReport()
    specs: dict[tuple[str, str], AccountSpec] = {}
    for position, entry in enumerate(entries, start=1):
        try:
            spec = account_spec_from_entry(entry=entry, position=position)
        except (UnknownPlatform, InvalidProfileURL, ValueError) as exc:
            report.rejected.append(Rejection(position=position, reason=str(exc)))
            continue
        if spec.key in specs:
            report.unchanged += 1  # the same account twice in one list
            continue
        specs[spec.key] = spec
    if not specs:
        return report

    with transaction.atomic():
        _one_import_at_a_time()
        orgs = organizations_get_or_create(names=[s.organization for s in specs.values()])
        existing = {
            (a.platform, a.handle.lower()): a
            for a in Account.objects.annotate(lhandle=Lower("handle")).filter(
                platform__in={p for p, _ in specs}, lhandle__in={h for _, h in specs}
            )
        }
        to_create: list[Account] = []
        to_update: list[Account] = []
        for key, spec in specs.items():
            org = orgs.get(spec.organization.lower()) if spec.organization else None
            account = existing.get(key)
            if account is None:
                to_create.append(
                    Account(
                        platform=spec.platform,
                        handle=spec.handle,
                        display_name=spec.display_name,
                        profile_url=spec.profile_url,
                        organization=org,
                        instance_host=spec.instance_host,
                        external_id=spec.external_id,
                    )
                )
                continue
            changed = False
            if org is not None and account.organization_id != org.pk:
                account.organization = org
                changed = True
            for name in ("profile_url", "instance_host", "external_id", "display_name"):
                value = getattr(spec, name)
                if value and not getattr(account, name):
                    setattr(account, name, value)
                    changed = True
            if changed:
                account.updated_at = timezone.now()
                to_update.append(account)
            else:
                report.unchanged += 1
        if to_create:
            Account.objects.bulk_create(to_create)
        if to_update:
            Account.objects.bulk_update(
                to_update,
                ["organization", "profile_url", "instance_host", "external_id", "display_name", "updated_at"],
            )
        report.created = len(to_create)
        report.updated = len(to_update)
        report.account_ids = [
            pk
            for pk, platform, lhandle in Account.objects.annotate(lhandle=Lower("handle"))
            .filter(platform__in={p for p, _ in specs}, lhandle__in={h for _, h in specs})
            .order_by("pk")
            .values_list("pk", "platform", "lhandle")
            if (platform, lhandle) in specs
        ]
        existing_ids = {a.pk for a in existing.values()}
        ids = [a.pk for a in to_update] + [pk for pk in report.account_ids if pk not in existing_ids]
        if ids:
            generations.invalidate_data(ids)
    return report


def accounts_set_flags(
    *, account_ids: Iterable[int], is_core: bool | None = None, is_active: bool | None = None
) -> int:
    """Mark accounts core / not core, active / inactive in one update; returns rows changed."""
    ids = list(account_ids)
    changes = {k: v for k, v in {"is_core": is_core, "is_active": is_active}.items() if v is not None}
    if not ids or not changes:
        return 0
    with transaction.atomic():
        count = Account.objects.filter(pk__in=ids).update(**changes)
        generations.invalidate_data(ids)
    return count


# --- One account at a time (the API) ---------------------------------------------------------------

_UNSET = object()


class AccountConflict(ValueError):
    """Another account already has this platform and handle."""


def _organization(name: str | None):
    if not name or not name.strip():
        return None
    return organizations_get_or_create(names=[name])[name.strip().lower()]


def account_create(
    *,
    platform: str,
    handle: str = "",
    url: str = "",
    organization: str | None = None,
    display_name: str = "",
    is_core: bool = False,
    is_active: bool = True,
) -> Account:
    """Create one account from a handle or profile URL (`platform` is a `Platform` value)."""
    ref = parse_profile_url(platform=platform, url=url or handle)
    if account_exists(platform=platform, handle=ref.handle):
        raise AccountConflict(f"{platform} already has an account with the handle {ref.handle!r}.")
    with transaction.atomic():
        return Account.objects.create(
            platform=platform,
            handle=ref.handle,
            profile_url=ref.profile_url
            or profile_url_for(platform=platform, handle=ref.handle, instance_host=ref.instance_host),
            instance_host=ref.instance_host,
            external_id=ref.external_id,
            organization=_organization(organization),
            display_name=display_name,
            is_core=is_core,
            is_active=is_active,
        )


def account_update(
    *,
    account: Account,
    platform: str | None = None,
    handle: str | None = None,
    url: str | None = None,
    organization=_UNSET,
    display_name: str | None = None,
    is_core: bool | None = None,
    is_active: bool | None = None,
) -> Account:
    """Change the given fields of one account (None / unset: keep). A new handle or URL is checked
    like a new account's; `organization` is a name ("" or None removes it)."""
    changed: list[str] = []
    if platform is not None or handle is not None or url is not None:
        new_platform = platform or account.platform
        ref = parse_profile_url(platform=new_platform, url=url or handle or account.handle)
        if account_exists(platform=new_platform, handle=ref.handle, exclude_id=account.pk):
            raise AccountConflict(f"{new_platform} already has an account with the handle {ref.handle!r}.")
        new_values = {
            "platform": new_platform,
            "handle": ref.handle,
            "profile_url": ref.profile_url or account.profile_url,
            "instance_host": ref.instance_host,
            "external_id": ref.external_id or account.external_id,
        }
        for name, value in new_values.items():
            if getattr(account, name) != value:
                setattr(account, name, value)
                changed.append(name)
    if organization is not _UNSET:
        org = _organization(organization)
        if account.organization_id != (org.pk if org else None):
            account.organization = org
            changed.append("organization")
    for name, value in (("display_name", display_name), ("is_core", is_core), ("is_active", is_active)):
        if value is not None and getattr(account, name) != value:
            setattr(account, name, value)
            changed.append(name)
    if changed:
        account.save(update_fields=[*changed, "updated_at"])
    return account


def account_deactivate(*, account: Account) -> Account:
    """Stop collecting an account; its data stays."""
    accounts_set_flags(account_ids=[account.pk], is_active=False)
    account.is_active = False
    return account
