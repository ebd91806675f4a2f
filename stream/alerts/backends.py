"""Choose the back end for an alerts URL."""

from __future__ import annotations

from stream.alerts.store import AlertStore
from stream.alerts.url import parse_url


def open_store(url: str, password: str | None = None, *, timeout_s: float = 5.0,
               must_exist: bool = False) -> AlertStore:
    """A store for the URL, not connected yet. `must_exist`: read what exists; create no file and no table."""
    parsed = parse_url(url, password)
    if parsed.scheme == "sqlite":
        from stream.alerts.sqlite_store import SQLiteStore

        return SQLiteStore(parsed, timeout_s, must_exist=must_exist)
    from stream.alerts.mysql_store import MySQLStore

    return MySQLStore(parsed, timeout_s, must_exist=must_exist)
