"""Twitch Helix: users?login=a&login=b (100 per call) for ids, then channels/followers for the total."""

import re
from typing import Any

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
    keeping,
)

LOGIN = re.compile(r"^[A-Za-z0-9_]{1,25}$")


class TwitchCollector(Collector):
    platform = "twitch"
    batch_size = 100

    def unavailable_reason(self) -> str | None:
        missing = [name for name in ("TWITCH_CLIENT_ID", "TWITCH_TOKEN") if not credential(name)]
        return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set" if missing else None

    def headers(self) -> dict[str, str]:
        return {
            "Client-Id": credential("TWITCH_CLIENT_ID"),
            "Authorization": f"Bearer {credential('TWITCH_TOKEN')}",
        }

    def fetch(self, batch: list[AccountRef]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        found = self.lookup(batch, key=self.user_key, request=self.users)
        with keeping(outcomes):
            for account, (user, attempts) in zip(batch, found, strict=True):
                outcomes.append(self.follower_total(account, user, attempts))
        return outcomes

    def follower_total(self, account: AccountRef, user: Any, attempts: int) -> Outcome:
        if isinstance(user, PlatformError):
            return self.failed(account, user, attempts)
        try:
            reply = self.get_json(
                f"{self.base_url}/channels/followers",
                params={"broadcaster_id": user["id"], "first": "1"},
                headers=self.headers(),
            )
            total = reply.data.get("total") if isinstance(reply.data, dict) else None
            metrics = Metrics(followers=api_count(total), external_id=str(user["id"]))
        except PlatformError as exc:
            return self.failed(account, exc, attempts + exc.attempts)
        return self.succeeded(account, metrics, attempts + reply.attempts)

    def user_key(self, account: AccountRef) -> str:
        if account.external_id and account.external_id.isdigit():
            return f"id:{account.external_id}"
        login = bare_handle(account.handle)
        if not LOGIN.match(login):
            raise AccountNotFound(f"{account.handle!r} is not a valid Twitch login")
        return f"login:{login.lower()}"

    def users(self, keys: list[str]) -> tuple[dict[str, Any], int]:
        params = [tuple(key.split(":", 1)) for key in keys]
        reply = self.get_json(f"{self.base_url}/users", params=params, headers=self.headers())
        found: dict[str, Any] = {}
        for user in (reply.data.get("data") if isinstance(reply.data, dict) else None) or []:
            if isinstance(user, dict) and user.get("id"):
                found[f"id:{user['id']}"] = found[f"login:{str(user.get('login', '')).lower()}"] = user
        return found, reply.attempts

    def not_found(self, name: str) -> PlatformError:
        kind, _, value = name.partition(":")
        return AccountNotFound(f"Twitch has no user with {kind} {value!r} (renamed, suspended or deleted)")
