"""Cache generations: one write invalidates a whole group, other groups stay."""

import logging

import pytest
from django.core.cache import cache

from socialmetrics import cache as generations
from tests.caches import DEAD_REDIS
from tests.factories import AccountFactory, SnapshotFactory


def test_a_bump_changes_only_the_groups_it_names():
    before = generations.generations(["summary", "grid", "history:1", "history:2"])
    generations.bump(["summary", "history:1"])
    after = generations.generations(["summary", "grid", "history:1", "history:2"])
    assert after["summary"] != before["summary"]
    assert after["history:1"] != before["history:1"]
    assert after["grid"] == before["grid"]
    assert after["history:2"] == before["history:2"]


def test_a_lost_token_never_brings_back_an_old_one():
    first = generations.generations(["grid"])["grid"]
    for key in (
        cache.keys("gen:*") if hasattr(cache, "keys") else [generations.generation_key("grid", "local")]
    ):
        cache.delete(key)
    assert generations.generations(["grid"])["grid"] != first


def test_connecting_ahead_to_a_dead_redis_is_logged_once_not_raised(settings, caplog):
    settings.CACHES = DEAD_REDIS
    with caplog.at_level(logging.WARNING, logger="socialmetrics.redis_policy"):
        generations.connect()
        generations.bump(["grid"])  # within the back-off: not tried, not logged again
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["Redis unavailable"]


@pytest.mark.django_db
def test_single_saves_invalidate_through_signals():
    account = AccountFactory()
    other = AccountFactory()
    before = generations.generations(["summary", f"history:{account.pk}", f"history:{other.pk}"])
    SnapshotFactory(account=account)
    after = generations.generations(["summary", f"history:{account.pk}", f"history:{other.pk}"])
    assert after["summary"] != before["summary"]
    assert after[f"history:{account.pk}"] != before[f"history:{account.pk}"]
    assert after[f"history:{other.pk}"] == before[f"history:{other.pk}"]
