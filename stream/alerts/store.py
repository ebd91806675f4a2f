"""One alert store over DB-API: the schema, batched idempotent writes, and the reads `dfd alerts` needs.

A back end supplies the connection, its SQL dialect and which of its errors
mean "the record itself is bad"; everything else counts as an outage that the
recorder rides out with its spool.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from stream.alerts.errors import AlertStoreError, NothingRecorded, RecordRejected, StoreUnavailable
from stream.alerts.records import AlertRecord, alert_from_row, alert_row, event_from_row, event_row
from stream.alerts.schema import (
    ALERTS,
    EVENTS,
    LATEST_VERSION,
    MIGRATIONS,
    SCHEMA_VERSION,
    Dialect,
)
from stream.alerts.url import StoreURL
from stream.wire import AlertEvent

_ID_PREFIX = re.compile(r"^[0-9a-fA-F-]{1,36}$")


class AlertStore(ABC):
    dialect: Dialect

    def __init__(self, url: StoreURL, timeout_s: float = 5.0, *, must_exist: bool = False) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.must_exist = must_exist  # for `dfd alerts`: the alerts must exist; create nothing
        self._conn: Any = None
        p, d = self.dialect.param, self.dialect
        self._upsert_alert = d.upsert_latest(ALERTS)
        self._insert_event = d.insert_once(EVENTS)
        self._select_version = f"SELECT MAX(version) FROM {SCHEMA_VERSION.name}"
        self._record_version = d.insert_once(SCHEMA_VERSION)
        self._alert_by_prefix = f"SELECT * FROM {ALERTS.name} WHERE id LIKE {p} ORDER BY id LIMIT 2"
        self._events_of = (
            f"SELECT * FROM {EVENTS.name} WHERE alert_id = {p}"
            " ORDER BY ts, CASE kind WHEN 'new' THEN 0 WHEN 'update' THEN 1 ELSE 2 END"
        )

    @property
    def masked(self) -> str:
        return self.url.masked

    def scrub(self, text: str) -> str:
        return self.url.scrub(text)

    # --- what a back end provides -------------------------------------------------------

    @abstractmethod
    def _connect(self) -> Any:
        """A new DB-API connection. Raises AlertStoreError (permanent) or StoreUnavailable (outage)."""

    @abstractmethod
    def _is_bad_record(self, exc: Exception) -> bool:
        """Whether a write error is about the data (retrying cannot help) rather than the database."""

    # --- connection and schema -----------------------------------------------------------

    def connect(self) -> None:
        """Connect if needed, and bring the schema up to date (or, read-only, check it)."""
        if self._conn is not None:
            return
        conn = self._connect()
        try:
            if self.must_exist:
                self._check_version(conn)
            else:
                self._migrate(conn)
        except AlertStoreError:
            conn.close()
            raise
        except Exception as exc:
            self._close_quietly(conn)
            raise StoreUnavailable(self.url.scrub(f"{self.masked}: {one_line(exc)}")) from None
        self._conn = conn

    def _version(self, cur: Any) -> int:
        cur.execute(self._select_version)
        current = cur.fetchone()[0] or 0
        if current > LATEST_VERSION:
            raise AlertStoreError(
                f"{self.masked}: schema version {current} is newer than this dfd knows ({LATEST_VERSION});"
                " upgrade dfd"
            )
        return current

    def _check_version(self, conn: Any) -> None:
        cur = conn.cursor()
        try:
            current = self._version(cur)
        except AlertStoreError:
            raise
        except Exception as exc:
            raise NothingRecorded(
                f"{self.masked}: no dfd alert tables here (nothing recorded yet?): {one_line(exc)}"
            ) from None
        if current < LATEST_VERSION:
            raise AlertStoreError(
                f"{self.masked}: schema version {current} is older than {LATEST_VERSION};"
                " start `dfd watch` once to upgrade it"
            )

    def _migrate(self, conn: Any) -> None:
        cur = conn.cursor()
        for sql in self.dialect.create_table(SCHEMA_VERSION):
            cur.execute(sql)
        current = self._version(cur)
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            for sql in migration.statements(self.dialect):
                cur.execute(sql)
            cur.execute(self._record_version, (migration.version, migration.description, time.time()))
        conn.commit()

    def close(self) -> None:
        if self._conn is not None:
            self._close_quietly(self._conn)
            self._conn = None

    @staticmethod
    def _close_quietly(conn: Any) -> None:
        try:
            conn.close()
        except Exception:  # a broken connection may fail to close; it is dropped anyway
            pass

    # --- writes --------------------------------------------------------------------------

    def write(self, events: Sequence[AlertEvent]) -> None:
        """Write events in order, in one transaction. Idempotent: a replay changes nothing."""
        if not events:
            return
        try:
            alerts = [tuple(r[c] for c in ALERTS.names) for r in map(alert_row, events)]
            rows = [tuple(r[c] for c in EVENTS.names) for r in map(event_row, events)]
        except (TypeError, ValueError, AttributeError) as exc:
            raise RecordRejected(f"malformed alert event: {exc}") from None
        self.connect()
        try:
            cur = self._conn.cursor()
            cur.executemany(self._upsert_alert, alerts)
            cur.executemany(self._insert_event, rows)
            self._conn.commit()
        except Exception as exc:
            reason = self.url.scrub(one_line(exc))
            if self._is_bad_record(exc) or isinstance(exc, OverflowError):
                self._rollback()
                raise RecordRejected(reason) from None
            self.close()
            raise StoreUnavailable(f"{self.masked}: {reason}") from None

    def _rollback(self) -> None:
        try:
            self._conn.rollback()
        except Exception:  # the connection is dropped if it cannot even roll back
            self.close()

    # --- reads ---------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        try:
            self.connect()
        except StoreUnavailable as exc:
            raise AlertStoreError(f"cannot read alerts: {exc}") from None
        try:
            cur = self._conn.cursor()
            cur.execute(sql, tuple(params))
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            self._conn.commit()  # end the read transaction, so the next read sees new rows
            return rows
        except Exception as exc:
            self.close()
            raise AlertStoreError(self.url.scrub(f"{self.masked}: {one_line(exc)}")) from None

    def list_alerts(
        self, stream: str | None = None, since: float | None = None, until: float | None = None,
        limit: int = 50,
    ) -> list[AlertRecord]:
        """Alerts active at some time in [since, until], newest first."""
        p = self.dialect.param
        where, params = [], []
        if stream is not None:
            where.append(f"stream = {p}")
            params.append(stream)
        if since is not None:
            where.append(f"(ended_at IS NULL OR ended_at >= {p})")
            params.append(since)
        if until is not None:
            where.append(f"started_at <= {p}")
            params.append(until)
        sql = f"SELECT * FROM {ALERTS.name}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY started_at DESC, id LIMIT {p}"
        return [alert_from_row(r) for r in self._query(sql, [*params, int(limit)])]

    def left_open(self, streams: Sequence[str], before: float) -> list[AlertRecord]:
        """Alerts of these streams still open with no event since `before`: left by a run that died."""
        if not streams:
            return []
        p = self.dialect.param
        sql = (f"SELECT * FROM {ALERTS.name} WHERE last_kind <> 'end' AND updated_at < {p}"
               f" AND stream IN ({self.dialect.marks(len(streams))}) ORDER BY updated_at")
        return [alert_from_row(r) for r in self._query(sql, [before, *streams])]

    def get_alert(self, alert_id: str) -> AlertRecord:
        """One alert by its id or a unique prefix of it, with its events in order."""
        if not _ID_PREFIX.match(alert_id):
            raise AlertStoreError(f"{alert_id!r} is not an alert id (a UUID or the start of one)")
        rows = self._query(self._alert_by_prefix, [alert_id.lower() + "%"])
        if not rows:
            raise AlertStoreError(f"no alert with id {alert_id} in {self.masked}")
        if len(rows) > 1:
            raise AlertStoreError(f"more than one alert id starts with {alert_id}; give more of it")
        alert = alert_from_row(rows[0])
        alert.events = [event_from_row(r) for r in self._query(self._events_of, [alert.id])]
        return alert


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
