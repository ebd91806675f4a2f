"""The embedded default back end: one SQLite file in WAL mode, so `dfd alerts` can read while watch writes."""

from __future__ import annotations

import sqlite3
from typing import Any

from stream.alerts.errors import AlertStoreError, NothingRecorded, StoreUnavailable
from stream.alerts.schema import SQLITE
from stream.alerts.store import AlertStore, one_line
from stream.alerts.url import StoreURL


class SQLiteStore(AlertStore):
    dialect = SQLITE

    def __init__(self, url: StoreURL, timeout_s: float = 5.0, *, must_exist: bool = False) -> None:
        super().__init__(url, timeout_s, must_exist=must_exist)
        assert url.path is not None
        self.path = url.path

    def _connect(self) -> Any:
        if self.path.is_dir():
            raise AlertStoreError(f"{self.masked}: {self.path} is a directory, not a SQLite file")
        if not self.path.exists():
            if self.must_exist:
                raise NothingRecorded(f"{self.masked}: no alerts recorded yet ({self.path} does not exist)")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise AlertStoreError(f"{self.masked}: cannot create {self.path.parent}: {exc.strerror}") from None
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.masked}: {one_line(exc)}") from None
        try:
            # WAL lets readers in while the recorder writes; FULL syncs every committed batch.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.OperationalError as exc:
            conn.close()
            raise StoreUnavailable(f"{self.masked}: {one_line(exc)}") from None
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise AlertStoreError(f"{self.masked}: {self.path} is not usable: {one_line(exc)}") from None
        return conn

    def _is_bad_record(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError | sqlite3.InterfaceError)
