"""Cache invalidation for single-object writes to accounts and organizations. Nothing else."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from socialmetrics import cache as generations

from .models import Account, Organization


@receiver([post_save, post_delete], sender=Account, dispatch_uid="account_invalidate")
def account_invalidate(sender, instance: Account, **kwargs) -> None:
    generations.invalidate_data([instance.pk])


@receiver([post_save, post_delete], sender=Organization, dispatch_uid="organization_invalidate")
def organization_invalidate(sender, instance: Organization, **kwargs) -> None:
    generations.invalidate(generations.DATA_GROUPS)
