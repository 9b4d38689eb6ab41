"""GitHub: GET /users/{login} (users and organizations), with a token when GITHUB_TOKEN is set."""

import re

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

LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")


class GitHubCollector(Collector):
    platform = "github"

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if token := credential("GITHUB_TOKEN"):
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def fetch_one(self, account: AccountRef) -> Outcome:
        login = bare_handle(account.handle)
        if not LOGIN.match(login):
            raise AccountNotFound(f"{account.handle!r} is not a valid GitHub login")
        reply = self.get_json(f"{self.base_url}/users/{login}", headers=self.headers())
        data = reply.data
        if not isinstance(data, dict) or "login" not in data:
            raise PlatformError("GitHub answered without a user")
        metrics = Metrics(
            followers=api_count(data.get("followers")),
            following=api_count(data.get("following")),
            posts=api_count(data.get("public_repos")),
            external_id=str(data["id"]) if data.get("id") is not None else None,
        )
        return self.succeeded(account, metrics, reply.attempts)
