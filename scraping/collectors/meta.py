"""Instagram (business discovery) and Facebook pages through Meta's Graph API.

Both share one budget (the app's), so their limiter key is "meta". Throttling arrives as error
codes 4, 17, 32 and 613 in the JSON body, which the limiter reads.
"""

import re
from typing import Any

import httpx

from scraping.collectors.base import (
    AccountNotFound,
    AccountRef,
    Collector,
    Metrics,
    Outcome,
    PlatformError,
    api_count,
    bare_handle,
    credential,
)

INSTAGRAM_USERNAME = re.compile(r"^[A-Za-z0-9._]{1,30}$")
FACEBOOK_PAGE = re.compile(r"^[A-Za-z0-9.\-_]{1,100}$")
NOT_FOUND_CODES = {100, 110, 803}  # object does not exist / invalid user id / unknown alias
NOT_FOUND_SUBCODES = {33, 2207013}  # unsupported get request / Instagram user cannot be found
DISCOVERY_FIELDS = "id,username,followers_count,follows_count,media_count"
TOKEN_CODES = {102, 190}  # session or access token invalid or expired


class MetaCollector(Collector):
    rate_key = "meta"
    api = "meta"

    def unavailable_reason(self) -> str | None:
        return None if credential("META_ACCESS_TOKEN") else "META_ACCESS_TOKEN is not set"

    def graph(self, path: str, fields: str) -> Any:
        # The token goes in the Authorization header, never in a URL that gets logged.
        headers = {"Authorization": f"Bearer {credential('META_ACCESS_TOKEN')}"}
        return self.get_json(f"{self.base_url}/{path}", params={"fields": fields}, headers=headers)

    def classify_error(self, response: httpx.Response, data: Any) -> PlatformError:
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return super().classify_error(response, data)
        code, subcode = error.get("code"), error.get("error_subcode")
        words = error.get("error_user_msg") or error.get("message") or response.reason_phrase
        message = (
            f"{self.label} {response.status_code}: {words} (code {code}{f'/{subcode}' if subcode else ''})"
        )
        if code in TOKEN_CODES:
            return PlatformError(f"{message}; META_ACCESS_TOKEN is invalid or expired")
        if code in NOT_FOUND_CODES or subcode in NOT_FOUND_SUBCODES:
            return AccountNotFound(message)
        retryable = error.get("is_transient") is True or code in (1, 2) or response.status_code >= 500
        return PlatformError(message, retryable=retryable)


class InstagramCollector(MetaCollector):
    platform = "instagram"

    def unavailable_reason(self) -> str | None:
        return super().unavailable_reason() or (
            None if credential("INSTAGRAM_BUSINESS_ID") else "INSTAGRAM_BUSINESS_ID is not set"
        )

    def fetch_one(self, account: AccountRef) -> Outcome:
        username = bare_handle(account.handle)
        if not INSTAGRAM_USERNAME.match(username):
            raise AccountNotFound(f"{account.handle!r} is not a valid Instagram username")
        fields = f"business_discovery.username({username}){{{DISCOVERY_FIELDS}}}"
        reply = self.graph(credential("INSTAGRAM_BUSINESS_ID"), fields)
        found = reply.data.get("business_discovery") if isinstance(reply.data, dict) else None
        if not isinstance(found, dict):
            error = AccountNotFound(
                f"Instagram returned nothing for @{username} (not a business or creator account?)"
            )
            return self.failed(account, error, reply.attempts)
        metrics = Metrics(
            followers=api_count(found.get("followers_count")),
            following=api_count(found.get("follows_count")),
            posts=api_count(found.get("media_count")),
            external_id=found.get("id") or None,
        )
        return self.succeeded(account, metrics, reply.attempts)


class FacebookCollector(MetaCollector):
    platform = "facebook"

    def fetch_one(self, account: AccountRef) -> Outcome:
        page = account.external_id or bare_handle(account.handle)
        if not FACEBOOK_PAGE.match(page):
            raise AccountNotFound(f"{account.handle!r} is not a valid Facebook page name or id")
        reply = self.graph(page, "id,name,followers_count,fan_count")
        data = reply.data if isinstance(reply.data, dict) else {}
        # fan_count is the page's lifetime likes, not a day's likes: it is not stored as `likes`.
        metrics = Metrics(
            followers=api_count(data.get("followers_count")), external_id=data.get("id") or None
        )
        return self.succeeded(account, metrics, reply.attempts)
