"""The JSON API over snapshots: summary, totals, history, grid, download, upload, and the account
list (whose rows carry each account's latest values)."""
