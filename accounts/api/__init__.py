"""The account endpoints' input side: the write serializer and the writes it calls.

The ``/api/accounts`` viewset itself lives in ``snapshots.api.accounts``: its rows carry each
account's latest snapshot, and `accounts` knows nothing about snapshots (dependencies point from
snapshots to accounts, never back).
"""
