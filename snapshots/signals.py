"""Cache invalidation for single-object writes to snapshots (a save in the admin or a shell).

The maintained latest row of the account is part of what is invalidated: it is a cache of the
snapshots, rebuilt here for the one account a save or delete touched, so summary and growth are
right the moment the save returns. Bulk writes go through `snapshots.services`, which refresh and
invalidate once per batch themselves; inside them these handlers stand aside (`service_write`).
"""

import threading
from contextlib import contextmanager

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import Account
from socialmetrics import cache as generations

from .models import Snapshot

_state = threading.local()


@contextmanager
def service_write():
    """Within a write service: it keeps the latest rows and the caches right itself."""
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


@receiver([post_save, post_delete], sender=Snapshot, dispatch_uid="snapshot_invalidate")
def snapshot_invalidate(sender, instance: Snapshot, origin=None, **kwargs) -> None:
    if getattr(_state, "depth", 0):
        return
    deleting_account = isinstance(origin, Account) or getattr(origin, "model", None) is Account
    if not deleting_account:
        from .services import latest_refresh

        latest_refresh(account_ids=[instance.account_id])
    generations.invalidate_data([instance.account_id])
