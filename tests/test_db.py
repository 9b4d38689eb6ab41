"""The PostgreSQL backend's pools across os.fork(): a forked child (Celery's prefork children and
embedded beat) makes its own pool and never touches its parent's connections."""

from __future__ import annotations

import os

import pytest
from django.db import connection


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_forked_child_queries_on_its_own_connection_and_the_parent_carries_on():
    parent_before = _backend_pid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: one query on a connection of its own, then report its backend
        code = 1
        try:
            os.write(write, str(_backend_pid()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    child_backend = int(os.read(read, 64) or b"0")
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_backend not in {0, parent_before}
    # The parent's pool was closed before the fork and made again: it still answers.
    assert _backend_pid() > 0
