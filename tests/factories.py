"""factory-boy factories for the models tests need."""

import datetime as dt

import factory

from accounts.models import Account, Organization, Platform
from snapshots.models import Snapshot, Source


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    platform = Platform.X
    handle = factory.Sequence(lambda n: f"account{n}")
    display_name = factory.LazyAttribute(lambda o: o.handle.title())
    profile_url = factory.LazyAttribute(lambda o: f"https://x.com/{o.handle}")
    organization = factory.SubFactory(OrganizationFactory)


class SnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Snapshot

    account = factory.SubFactory(AccountFactory)
    date = factory.Sequence(lambda n: dt.date(2026, 1, 1) + dt.timedelta(days=n))
    followers = 1000
    following = 10
    posts = 100
    likes = 50
    comments = 5
    shares = 3
    views = 900
    source = Source.MANUAL

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """Through the write service, as the admin saves one: the latest row is kept right."""
        from snapshots.services import snapshot_save

        return snapshot_save(snapshot=model_class(*args, **kwargs))
