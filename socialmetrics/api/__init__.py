"""Shared plumbing of the JSON API: errors, parameters, pagination, permissions, throttling, the
response cache and the health checks. Every app's `api/` package uses this one copy."""
