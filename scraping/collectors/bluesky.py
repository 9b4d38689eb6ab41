"""Bluesky: app.bsky.actor.getProfiles on the public AppView, 25 actors per call, no credentials."""

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
)

HANDLE = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
DID = re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]+$")


class BlueskyCollector(Collector):
    platform = "bluesky"
    batch_size = 25

    def fetch(self, batch: list[AccountRef]) -> list[Outcome]:
        return self.fetch_batched(batch, key=self.actor, request=self.profiles, metrics=self.metrics)

    def actor(self, account: AccountRef) -> str:
        """The account's DID when we know it (it survives handle changes), else its handle."""
        if account.external_id and DID.match(account.external_id):
            return account.external_id
        handle = bare_handle(account.handle).lower()
        if not HANDLE.match(handle):
            raise AccountNotFound(f"{account.handle!r} is not a valid Bluesky handle (like name.bsky.social)")
        return handle

    def profiles(self, actors: list[str]) -> tuple[dict[str, Any], int]:
        reply = self.get_json(
            f"{self.base_url}/xrpc/app.bsky.actor.getProfiles", params=[("actors", a) for a in actors]
        )
        profiles = reply.data.get("profiles") if isinstance(reply.data, dict) else None
        if not isinstance(profiles, list):
            raise PlatformError("Bluesky answered getProfiles without a list of profiles")
        found = {}
        for profile in profiles:
            if isinstance(profile, dict):
                found[str(profile.get("did", ""))] = profile
                found[str(profile.get("handle", "")).lower()] = profile
        return found, reply.attempts

    def metrics(self, profile: dict) -> Metrics:
        return Metrics(
            followers=api_count(profile.get("followersCount")),
            following=api_count(profile.get("followsCount")),
            posts=api_count(profile.get("postsCount")),
            external_id=profile.get("did") or None,
        )

    def not_found(self, name: str) -> PlatformError:
        return AccountNotFound(
            f"Bluesky returned no profile for {name} (not found: deleted, deactivated, "
            "taken down, or the handle changed)"
        )
