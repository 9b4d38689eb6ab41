"""Cache invalidation for single-object writes to snapshots. Nothing else.

Bulk writes (`bulk_create`, `update`) send no signals: the services that use them invalidate
explicitly, once per batch.
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from socialmetrics import cache as generations

from .models import Snapshot


@receiver([post_save, post_delete], sender=Snapshot, dispatch_uid="snapshot_invalidate")
def snapshot_invalidate(sender, instance: Snapshot, **kwargs) -> None:
    generations.bump_data([instance.account_id])
