"""Cache invalidation for single-object writes to snapshots. Nothing else: the write services keep
the latest rows right (`snapshots.services.snapshot_save`), and bulk writes, which send no signals,
invalidate themselves."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from socialmetrics import cache as generations

from .models import Post, Snapshot


@receiver([post_save, post_delete], sender=Snapshot, dispatch_uid="snapshot_invalidate")
def snapshot_invalidate(sender, instance: Snapshot, **kwargs) -> None:
    generations.invalidate_data([instance.account_id])


@receiver([post_save, post_delete], sender=Post, dispatch_uid="post_invalidate")
def post_invalidate(sender, instance: Post, **kwargs) -> None:
    generations.invalidate([generations.POSTS])
