"""MySQL and MariaDB through pymysql. The database must exist; the tables are created in it."""

from __future__ import annotations

from typing import Any

import pymysql

from stream.alerts.errors import AlertStoreError, StoreUnavailable
from stream.alerts.schema import MYSQL
from stream.alerts.store import AlertStore, one_line

# Server answers that no retry will fix at start-up: the user must change the URL or the server.
ACCESS_DENIED = 1045
DB_ACCESS_DENIED = 1044
UNKNOWN_DATABASE = 1049


class MySQLStore(AlertStore):
    dialect = MYSQL

    def _connect(self) -> Any:
        u = self.url
        try:
            return pymysql.connect(
                host=u.host, port=u.port, user=u.user, password=u.password or "", database=u.database,
                charset="utf8mb4", autocommit=False, connect_timeout=self.timeout_s,
                read_timeout=max(self.timeout_s, 10.0), write_timeout=max(self.timeout_s, 10.0),
                init_command="SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
            )
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
            where = self.masked
            if code == ACCESS_DENIED:
                raise AlertStoreError(
                    f"{where}: access denied for user {u.user!r} (check the user and the password)"
                ) from None
            if code == DB_ACCESS_DENIED:
                raise AlertStoreError(f"{where}: user {u.user!r} may not use database {u.database!r}") from None
            if code == UNKNOWN_DATABASE:
                raise AlertStoreError(
                    f"{where}: database {u.database!r} does not exist on {u.host}:{u.port}"
                    f" (create it first: CREATE DATABASE `{u.database}`)"
                ) from None
            raise StoreUnavailable(u.scrub(f"{where}: {one_line(exc)}")) from None

    def _is_bad_record(self, exc: Exception) -> bool:
        return isinstance(exc, pymysql.err.IntegrityError | pymysql.err.DataError)
