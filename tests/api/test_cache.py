"""The response cache: one round trip per hit, exact and immediate invalidation after every kind of
write (in this process and across processes, on real Redis), and correct answers with Redis down."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Platform
from scraping.runner import RunOptions, collect
from snapshots.models import Snapshot
from snapshots.services import SnapshotRow, snapshot_upsert_many
from socialmetrics import cache as generations
from socialmetrics.cache import CacheSpec, cached_response
from tests.api.conftest import account, history
from tests.caches import DEAD_REDIS

ROOT = Path(__file__).resolve().parents[2]
READS = [
    "/api/summary",
    "/api/summary/totals",
    "/api/grid",
    "/api/grid?cursor=",
    "/api/accounts",
    "/api/history/x/nasa",
    "/api/movers",
]


@pytest.fixture
def cache_calls(monkeypatch):
    """Every call to the cache backend, by method name (the throttle's and the response cache's)."""
    calls: list[str] = []
    depth = [0]  # local memory's get_many calls get once per key: count the outer call only
    backend = caches["default"]
    for name in ("get", "get_many", "set", "set_many", "add", "incr", "delete", "delete_many", "has_key"):
        original = getattr(backend, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            if not depth[0]:
                calls.append(_name)
            depth[0] += 1
            try:
                return _original(*args, **kwargs)
            finally:
                depth[0] -= 1

        monkeypatch.setattr(backend, name, counted)
    return calls


@pytest.mark.django_db
class TestResponses:
    def test_a_signed_in_hit_is_one_cache_round_trip_and_no_query_but_the_token(
        self, user, today, cache_calls, django_assert_num_queries
    ):
        from rest_framework.authtoken.models import Token

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        history(account("nasa"), days=3, end=today)
        for path in READS:
            assert client.get(path)["X-Cache"] == "MISS", path
        for path in READS:
            cache_calls.clear()
            with django_assert_num_queries(1):  # the token's look-up
                response = client.get(path)
            assert response["X-Cache"] == "HIT", path
            # On Redis one pipeline, under the cache API (test_held_entries counts its round trips).
            assert cache_calls == ([] if settings.REDIS_URL else ["get_many"]), path

    def test_an_anonymous_hit_is_one_cache_round_trip_and_no_query(
        self, api, today, cache_calls, django_assert_num_queries
    ):
        history(account("nasa"), days=3, end=today)
        for path in READS:
            assert api.get(path)["X-Cache"] == "MISS", path
        for path in READS:
            cache_calls.clear()
            with django_assert_num_queries(0):
                response = api.get(path)
            assert response["X-Cache"] == "HIT", path
            # On Redis both travel in one pipeline, under the cache API (test_early_cache counts it).
            assert cache_calls == ([] if settings.REDIS_URL else ["incr", "get_many"]), path

    def test_a_hit_is_the_same_bytes_gzipped_or_not(self, api, today):
        for i in range(10):
            history(account(f"a{i}"), days=2, end=today)
        miss = api.get("/api/grid")
        plain = api.get("/api/grid")
        zipped = api.get("/api/grid", HTTP_ACCEPT_ENCODING="gzip, br")
        assert plain["X-Cache"] == zipped["X-Cache"] == "HIT"
        assert zipped["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in zipped["Vary"]
        import gzip

        assert gzip.decompress(zipped.content) == plain.content == miss.content
        assert json.loads(plain.content)["pagination"]["total"] == 20

    def test_spellings_of_one_query_share_an_entry_and_roles_do_not(self, api, staff_api, today):
        history(account("nasa"), days=1, end=today)
        assert api.get("/api/grid?platform=x&per_page=5")["X-Cache"] == "MISS"
        assert api.get("/api/grid/?per_page=5&platform=x")["X-Cache"] == "HIT"
        assert staff_api.get("/api/grid?platform=x&per_page=5")["X-Cache"] == "MISS"
        assert api.get("/api/grid?platform=x&per_page=6")["X-Cache"] == "MISS"

    def test_errors_and_the_browsable_api_are_not_cached(self, api, today):
        history(account("nasa"), days=1, end=today)
        assert api.get("/api/grid?page=0").status_code == 400
        assert api.get("/api/grid?page=0").status_code == 400
        assert api.get("/api/history/x/nobody").status_code == 404
        html = api.get("/api/summary", HTTP_ACCEPT="text/html")
        assert html["Content-Type"].startswith("text/html")
        assert "X-Cache" not in html
        indented = api.get("/api/summary", HTTP_ACCEPT="application/json; indent=4")
        assert "X-Cache" not in indented
        assert b"\n    {" in indented.content

    def test_an_entry_built_while_a_write_happened_is_never_served(self, rf, today):
        """Tokens are read before the data: a write during the build leaves the entry stale."""
        from rest_framework.response import Response
        from rest_framework.views import APIView

        def request():
            view = APIView()
            drf_request = view.initialize_request(rf.get("/api/x"))
            view.request, view.format_kwarg = drf_request, None
            drf_request.accepted_renderer, drf_request.accepted_media_type = view.perform_content_negotiation(
                drf_request
            )
            return drf_request

        def build_racing_a_write():
            generations.bump([generations.SUMMARY])  # another process writes meanwhile
            return Response({"n": 1})

        spec = CacheSpec(name="t", timeout="summary", groups=(generations.SUMMARY,))
        first = cached_response(request=request(), spec=spec, build=build_racing_a_write)
        assert first["X-Cache"] == "MISS"
        second = cached_response(request=request(), spec=spec, build=lambda: Response({"n": 2}))
        assert second["X-Cache"] == "MISS"
        assert json.loads(second.content) == {"n": 2}


# --- invalidation in this process, for each kind of write -------------------------------------------


def followers_in_summary(client, handle="nasa"):
    return {row["handle"]: row["followers"] for row in client.get("/api/summary").json()}.get(handle)


@pytest.fixture
def primed(api, today):
    """nasa (yesterday and the day before) and esa; every read cached."""
    nasa = account("nasa", organization="NASA")
    esa = account("esa", organization="ESA")
    history(nasa, days=2, end=today - dt.timedelta(days=1), followers=100)
    history(esa, days=2, end=today, followers=500)
    for path in [*READS, "/api/history/x/esa"]:
        api.get(path)
        assert api.get(path)["X-Cache"] == "HIT"
    return {"nasa": nasa, "esa": esa}


@pytest.mark.django_db(transaction=True)
class TestInvalidation:
    def assert_everything_shows(self, api, *, followers: int, today):
        assert followers_in_summary(api) == followers
        assert api.get("/api/history/x/nasa").json()["followers"][-1] == followers
        assert api.get("/api/history/x/nasa").json()["dates"][-1] == today.isoformat()
        assert api.get("/api/grid?platform=x&handle=nasa").json()["data"][0][:2] == ["x", "nasa"]
        assert api.get("/api/grid?handle=nasa").json()["data"][0][4] == followers
        latest = {a["handle"]: a["latest"] for a in api.get("/api/accounts").json()["data"]}
        assert latest["nasa"]["followers"] == followers
        # esa's history was not thrown away
        assert api.get("/api/history/x/esa")["X-Cache"] == "HIT"

    def test_an_admin_edit(self, api, primed, staff, today):
        admin = Client()
        staff.is_superuser = True
        staff.save()
        admin.force_login(staff)
        nasa = primed["nasa"]
        response = admin.post(
            "/admin/snapshots/snapshot/add/",
            {
                "account": nasa.pk,
                "date": today.isoformat(),
                "followers": 777,
                "source": "manual",
                "precision": "exact",
                "_save": "Save",
            },
        )
        assert response.status_code == 302, response.content[:2000]
        self.assert_everything_shows(api, followers=777, today=today)

    def test_an_admin_account_edit(self, api, primed, staff):
        admin = Client()
        staff.is_superuser = True
        staff.save()
        admin.force_login(staff)
        esa = primed["esa"]
        response = admin.post(
            f"/admin/accounts/account/{esa.pk}/change/",
            {
                "platform": "x",
                "handle": "esa",
                "display_name": "",
                "profile_url": "https://x.com/esa",
                "organization": esa.organization_id,
                "is_active": "",  # unticked: deactivated
                "external_id": "",
                "instance_host": "",
                "notes": "",
                "_save": "Save",
                **_empty_inlines(),
            },
        )
        assert response.status_code == 302, response.content[:3000]
        assert "esa" not in {row["handle"] for row in api.get("/api/summary").json()}
        assert api.get("/api/summary/totals").json()["total"]["accounts"] == 1

    def test_an_api_change(self, api, primed, staff_token_api):
        assert api.get("/api/summary").json()[0]["org_name"] == "ESA"
        response = staff_token_api.patch(
            f"/api/accounts/{primed['esa'].pk}", {"org_name": "European Space Agency"}, format="json"
        )
        assert response.status_code == 200
        assert api.get("/api/summary").json()[0]["org_name"] == "European Space Agency"
        assert api.get("/api/grid?handle=esa").json()["data"][0][2] == "European Space Agency"
        assert api.get("/api/accounts").json()["data"][0]["org_name"] == "European Space Agency"

    def test_an_upload(self, api, primed, staff_token_api, today):
        text = f"Platform,Handle,Date,Followers\nX,nasa,{today},1.5K\n"
        assert (
            staff_token_api.post("/api/upload-bulk", {"csv_data": text}, format="json").json()["created"] == 1
        )
        self.assert_everything_shows(api, followers=1500, today=today)

    def test_a_collection_run(self, api, primed, today):
        run = collect(options=RunOptions(account_ids=[primed["nasa"].pk], workers=1))
        stored = Snapshot.objects.get(account=primed["nasa"], date=today).followers
        assert run.status == "completed", run.status
        self.assert_everything_shows(api, followers=stored, today=today)

    def test_a_bulk_write(self, api, primed, today):
        snapshot_upsert_many(rows=[SnapshotRow(account_id=primed["nasa"].pk, date=today, followers=4242)])
        self.assert_everything_shows(api, followers=4242, today=today)

    def test_a_snapshot_saved_in_a_shell(self, api, primed, today):
        Snapshot.objects.create(account=primed["nasa"], date=today, followers=999)
        # A bare save skips the latest-row service, so only the snapshot reads can change; they do.
        assert api.get("/api/history/x/nasa").json()["followers"][-1] == 999
        assert api.get("/api/grid?handle=nasa").json()["data"][0][4] == 999
        assert api.get("/api/history/x/esa")["X-Cache"] == "HIT"

    def test_deleting_an_account(self, api, primed):
        primed["nasa"].delete()
        assert api.get("/api/history/x/nasa").status_code == 404
        assert "nasa" not in {row["handle"] for row in api.get("/api/summary").json()}

    def test_clearing_the_cache(self, api, user_api, primed, staff_api):
        assert api.delete("/api/cache").status_code == 401
        assert user_api.delete("/api/cache").status_code == 403
        assert api.get("/api/summary")["X-Cache"] == "HIT"
        response = staff_api.delete("/api/cache/")
        assert response.status_code == 200
        assert "message" in response.json()
        for path in [*READS, "/api/history/x/esa"]:
            assert api.get(path)["X-Cache"] == "MISS", path

    def test_clearing_the_cache_recounts_data_changed_behind_the_services_back(self, api, primed, staff_api):
        assert api.get("/api/grid").json()["pagination"]["total"] == 4
        Snapshot.objects.filter(account=primed["esa"]).update(followers=1)  # no signal, no bump
        Snapshot.objects.bulk_create([Snapshot(account=primed["esa"], date=dt.date(2020, 1, 1), followers=1)])
        assert api.get("/api/grid").json()["pagination"]["total"] == 4  # still the cached page
        staff_api.delete("/api/cache")
        body = api.get("/api/grid?per_page=10").json()
        assert body["pagination"]["total"] == 5
        assert body["data"][-1][3] == "2020-01-01"


def _empty_inlines() -> dict:
    """Management forms of the account admin's inlines (latest values, recent snapshots)."""
    return {
        f"{prefix}-{name}": value
        for prefix in ("latest", "snapshots")
        for name, value in (
            ("TOTAL_FORMS", "0"),
            ("INITIAL_FORMS", "0"),
            ("MIN_NUM_FORMS", "0"),
            ("MAX_NUM_FORMS", "0"),
        )
    }


# --- Redis down ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_with_redis_down_every_endpoint_answers_from_the_database(api, staff_token_api, settings, today):
    from socialmetrics import redis_policy

    nasa = account("nasa")
    history(nasa, days=3, end=today, followers=10)
    expected = {path: api.get(path).json() for path in READS}
    settings.DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    settings.CACHES = DEAD_REDIS
    before = redis_policy.failures()
    for _ in range(2):
        for path in READS:
            response = api.get(path)
            assert response.status_code == 200, path
            assert response.json() == expected[path], path
            assert response["X-Cache"] == "MISS"
    assert api.get("/api/download").status_code == 200
    response = staff_token_api.post(
        "/api/upload-bulk",
        {"csv_data": f"Platform,Handle,Date,Followers\nx,nasa,{today},11\n"},
        format="json",
    )
    assert response.status_code == 200
    assert api.get("/api/history/x/nasa").json()["followers"][-1] == 11
    assert redis_policy.failures() > before


# --- across processes, on real Redis and PostgreSQL ---------------------------------------------------


def other_process(code: str) -> str:
    """Run `code` in a new Python process with the same settings, database and Redis."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.test",
        "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict),
    }
    script = "import django\ndjango.setup()\n" + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


WRITES = {
    "a snapshot saved in a shell": """
        import datetime as dt
        from snapshots.models import Snapshot
        from snapshots.services import snapshot_save
        from socialmetrics.dates import local_today
        snapshot_save(snapshot=Snapshot(account_id={nasa}, date=local_today(), followers=31337))
    """,
    "a collection run (bulk service)": """
        from snapshots.models import Source
        from snapshots.services import SnapshotRow, snapshot_upsert_many
        from socialmetrics.dates import local_today
        snapshot_upsert_many(rows=[SnapshotRow(account_id={nasa}, date=local_today(), followers=31337,
                                               source=Source.API)])
    """,
    "an upload": """
        from rest_framework.test import APIClient
        from django.contrib.auth import get_user_model
        from socialmetrics.dates import local_today
        client = APIClient()
        client.force_authenticate(get_user_model().objects.get(username="editor"))
        text = "Platform,Handle,Date,Followers\\nx,nasa,%s,31337\\n" % local_today()
        response = client.post("/api/upload-bulk", {{"csv_data": text}}, format="json")
        assert response.status_code == 200, response.content
    """,
    "an admin edit": """
        from django.contrib.auth import get_user_model
        from django.test import Client
        from socialmetrics.dates import local_today
        client = Client()
        client.force_login(get_user_model().objects.get(username="editor"))
        response = client.post("/admin/snapshots/snapshot/add/", {{
            "account": {nasa}, "date": local_today().isoformat(), "followers": 31337,
            "source": "manual", "precision": "exact", "_save": "Save"}})
        assert response.status_code == 302, response.content[:2000]
    """,
}


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("write", list(WRITES))
def test_a_write_in_another_process_is_read_at_once_here(api, django_user_model, today, write):
    django_user_model.objects.create_superuser("editor", "e@example.org", "pw")
    nasa, esa = account("nasa"), account("esa")
    history(nasa, days=2, end=today - dt.timedelta(days=1), followers=100)
    history(esa, days=2, end=today)
    for path in [*READS, "/api/history/x/esa"]:
        api.get(path)
    assert api.get("/api/summary")["X-Cache"] == "HIT"

    other_process(WRITES[write].format(nasa=nasa.pk))

    assert followers_in_summary(api) == 31337
    assert api.get("/api/history/x/nasa").json()["followers"][-1] == 31337
    assert api.get("/api/grid?handle=nasa").json()["data"][0][4] == 31337
    assert {a["handle"]: a["latest"]["followers"] for a in api.get("/api/accounts").json()["data"]}[
        "nasa"
    ] == 31337
    assert api.get("/api/history/x/esa")["X-Cache"] == "HIT"  # another account's history stays cached


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_api_change_in_another_process_is_read_at_once_here(api, django_user_model):
    django_user_model.objects.create_superuser("editor", "e@example.org", "pw")
    esa = account("esa", organization="ESA")
    history(esa, days=1, end=dt.date.today() - dt.timedelta(days=1))
    assert api.get("/api/accounts").json()["data"][0]["org_name"] == "ESA"
    other_process(
        f"""
        from django.contrib.auth import get_user_model
        from rest_framework.test import APIClient
        client = APIClient()
        client.force_authenticate(get_user_model().objects.get(username="editor"))
        response = client.patch("/api/accounts/{esa.pk}", {{"org_name": "Agency"}}, format="json")
        assert response.status_code == 200, response.content
        """
    )
    assert api.get("/api/accounts").json()["data"][0]["org_name"] == "Agency"
    assert api.get("/api/summary").json()[0]["org_name"] == "Agency"


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_write_here_is_read_at_once_by_another_process(api, today):
    nasa = account("nasa")
    history(nasa, days=2, end=today - dt.timedelta(days=1), followers=100)
    read = """
        import json
        from django.test import Client
        client = Client()
        response = client.get("/api/history/x/nasa")
        print(json.dumps({"cache": response["X-Cache"], "followers": response.json()["followers"]}))
    """
    first = json.loads(other_process(read))
    assert first == {"cache": "MISS", "followers": [100, 110]}
    assert json.loads(other_process(read))["cache"] == "HIT"  # stored in Redis by the other process

    snapshot_upsert_many(rows=[SnapshotRow(account_id=nasa.pk, date=today, followers=555)])

    after = json.loads(other_process(read))
    assert after == {"cache": "MISS", "followers": [100, 110, 555]}


@pytest.mark.redis
@pytest.mark.django_db
def test_entries_live_in_redis_with_their_timeouts(api, today, redis_client, settings):
    history(account("nasa"), days=1, end=today)
    api.get("/api/history/X/NASA")
    # Each entry with its stamp (socialmetrics.cache.stamp_key), stored for the same time.
    keys = sorted(k.decode() for k in redis_client.keys("*resp:history:*"))
    assert [k.endswith(":stamp") for k in keys] == [False, True]
    for key in keys:
        assert 0 < redis_client.ttl(key) <= settings.SOCIALMETRICS_CACHE_TIMEOUTS["history"]
    api.get("/api/summary")
    summary_keys = redis_client.keys("*resp:summary:*")
    assert len(summary_keys) == 2
    for key in summary_keys:
        assert 0 < redis_client.ttl(key) <= settings.SOCIALMETRICS_CACHE_TIMEOUTS["summary"]
    assert Platform.X  # the account is on X
