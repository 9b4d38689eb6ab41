"""Two imports of the same new accounts at the same moment: each account is created once, neither
import fails (PostgreSQL: the second waits for the first, then finds its accounts)."""

import contextlib
import threading

import pytest
from django.db import connection

from accounts import services
from accounts.models import Account
from accounts.services import accounts_import


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_imports_of_the_same_new_accounts_at_once(monkeypatch):
    entries = [{"platform": "x", "url": f"https://x.com/same{n}"} for n in range(200)]
    start = threading.Barrier(2)
    both_looking = threading.Barrier(2)
    organizations = services.organizations_get_or_create

    def in_step(**kwargs):
        """Both imports look for their accounts at the same moment, unless one waits for the other."""
        with contextlib.suppress(threading.BrokenBarrierError):
            both_looking.wait(timeout=2)
        return organizations(**kwargs)

    monkeypatch.setattr(services, "organizations_get_or_create", in_step)
    reports, errors = [], []

    def run():
        try:
            start.wait()
            reports.append(accounts_import(entries=entries))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert Account.objects.count() == 200
    assert sorted((r.created, r.unchanged) for r in reports) == [(0, 200), (200, 0)]
