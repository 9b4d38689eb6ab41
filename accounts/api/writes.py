"""Account writes for the API: create, update, deactivate.

These belong in `accounts.services`; they live here only because that module was not open to the
API work. Move them there as they are (the API imports them by name from this one place).
Single-object saves invalidate the caches through `accounts.signals`; deactivation goes through
`accounts_set_flags`, which invalidates after its commit.
"""

from __future__ import annotations

from django.db import transaction

from accounts.models import Account
from accounts.platforms import parse_profile_url, profile_url_for
from accounts.selectors import account_exists
from accounts.services import accounts_set_flags, organizations_get_or_create

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
