import pytest
from django.db import IntegrityError, transaction

from accounts.models import Account, Organization, Platform
from tests.factories import AccountFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def test_handle_is_unique_per_platform_whatever_its_case():
    AccountFactory(platform=Platform.X, handle="NASA")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(platform=Platform.X, handle="nasa")


def test_same_handle_on_another_platform_is_another_account():
    AccountFactory(platform=Platform.X, handle="nasa")
    AccountFactory(platform=Platform.INSTAGRAM, handle="NASA")
    assert Account.objects.filter(handle__iexact="nasa").count() == 2


def test_organization_name_is_unique_whatever_its_case():
    OrganizationFactory(name="Department of Health")
    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.objects.create(name="department of HEALTH")


def test_deleting_an_organization_keeps_its_accounts():
    account = AccountFactory()
    account.organization.delete()
    account.refresh_from_db()
    assert account.organization is None


def test_platform_choices_cover_the_tracked_platforms():
    expected = {
        "x", "facebook", "instagram", "linkedin", "youtube", "tiktok", "threads", "bluesky",
        "mastodon", "reddit", "twitch", "github", "truth_social", "flickr",
    }  # fmt: skip
    assert expected <= set(Platform.values)
    assert Platform.X.label == "X"


def test_account_key_is_stable_across_databases():
    account = AccountFactory(platform=Platform.X, handle="NASA")
    assert account.key == "x:nasa"
