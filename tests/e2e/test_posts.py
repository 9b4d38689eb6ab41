"""The account page's "Top posts": the account's most engaging posts of the page's range, with their
counts in the reader's locale and a link where the post has one; it follows the range."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Account
from snapshots.services import PostRow, post_upsert_many
from socialmetrics.dates import product_zone

from .browser import PHONE, api, number, screenshot

pytestmark = pytest.mark.e2e

ROWS = "#top-posts-table tbody tr"


def shown(page) -> list[dict]:
    return page.locator(ROWS).evaluate_all(
        """rows => rows.map(row => ({
          id: row.dataset.postId,
          cells: [...row.querySelectorAll('td')].map(cell => cell.textContent.trim()),
          link: row.querySelector('a') ? row.querySelector('a').href : null,
        }))"""
    )


def test_the_account_page_shows_the_top_posts_of_its_range(pages):
    account = Account.objects.get(platform="x", handle="healthdept")
    latest = account.latest.date
    # A linked post with the most engagement of all, ten days before the latest snapshot.
    moment = dt.datetime.combine(latest - dt.timedelta(days=10), dt.time(9), tzinfo=product_zone())
    flu = PostRow(
        account.pk, "1999", moment, "https://x.com/healthdept/status/1999", "post", "Flu shots are free"
    )
    flu.likes, flu.comments, flu.shares, flu.views = 1_234_567, 8_901, 23_456, 9_876_543
    post_upsert_many(rows=[flu])

    page = pages.new()
    page.goto("/accounts/x/healthdept/")
    page.wait_for_selector(ROWS)
    since = (latest - dt.timedelta(days=89)).isoformat()
    expected = api(
        page,
        f"/api/posts?platform=x&handle=healthdept&since={since}&until={latest}&ordering=-engagement&per_page=5",
    )
    rows = shown(page)
    assert [r["id"] for r in rows] == [p["post_id"] for p in expected["data"]]
    assert 1 < len(rows) <= 5
    top = rows[0]
    assert top["id"] == "1999"
    assert top["link"] == "https://x.com/healthdept/status/1999"
    assert top["cells"][0] == "Flu shots are free"
    # Likes, comments, shares, views, engagement in the reader's locale.
    assert top["cells"][2:] == [number(page, v) for v in (1_234_567, 8_901, 23_456, 9_876_543, 1_266_924)]
    note = page.locator("#top-posts-note").text_content()
    assert number(page, expected["pagination"]["total"]) in note
    assert page.locator("#top-posts-panel").get_attribute("data-since") == since
    screenshot(page, "account-top-posts-1366x768")

    # The 30-day range: the linked post is in it, the list is the range's own.
    page.get_by_role("button", name="30 d").click()
    since_30 = (latest - dt.timedelta(days=29)).isoformat()
    page.wait_for_function(f"() => document.getElementById('top-posts-panel').dataset.since === '{since_30}'")
    expected = api(
        page,
        f"/api/posts?platform=x&handle=healthdept&since={since_30}&until={latest}&ordering=-engagement&per_page=5",
    )
    assert [r["id"] for r in shown(page)] == [p["post_id"] for p in expected["data"]]

    # A range given in the address, shared as a link: here one without any post.
    empty = pages.new(viewport=PHONE)
    empty.goto("/accounts/x/healthdept/?from=2005-01-01&to=2005-01-31")
    empty.wait_for_selector("#top-posts-empty")
    assert empty.locator("#top-posts-panel").get_attribute("data-since") == "2005-01-01"
    assert "No post of this account was collected in this range" in empty.locator("#top-posts").text_content()
    screenshot(empty, "account-top-posts-empty-390x844")
