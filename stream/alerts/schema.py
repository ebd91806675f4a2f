"""The alert tables, their migrations, and the few SQL differences between SQLite and MySQL.

Both back ends get the same tables with the same meaning: times are epoch
seconds (double), ids are UUID strings, JSON fields are text in SQLite and
JSON in MySQL. Every statement here takes its values as parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

SCHEMA_TABLE = "schema_version"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # a key of Dialect.types
    nullable: bool = True
    merge: str = "latest"  # alerts upsert: latest | keep (latest non-null) | min


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    columns: tuple[Column, ...]
    indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


# The alert as it stands after its latest event; `updated_at` (that event's time) orders upserts.
# end_reason: null while open or ended by the alert policy; "interrupted" when its worker or the
# supervisor died first (ended by the supervisor, or by the next start).
END_REASON = Column("end_reason", "kind")
_ALERTS_V1 = Table(
    "alerts",
    key="id",
    columns=(
        Column("id", "uuid", nullable=False),
        Column("stream", "name", nullable=False),
        Column("track", "int", nullable=False),
        Column("started_at", "real", nullable=False, merge="min"),
        Column("ended_at", "real"),
        Column("peak_score", "real"),
        Column("mean_score", "real"),
        Column("threshold", "real"),
        Column("model_id", "name", nullable=False),
        Column("face_path", "path", merge="keep"),
        Column("frame_path", "path", merge="keep"),
        Column("clip_path", "path", merge="keep"),
        Column("details", "json", merge="keep"),
        Column("last_kind", "kind", nullable=False),
        Column("updated_at", "real", nullable=False),
    ),
    indexes=(("alerts_started", ("started_at",)), ("alerts_stream_started", ("stream", "started_at"))),
)
ALERTS = Table(_ALERTS_V1.name, _ALERTS_V1.key, (*_ALERTS_V1.columns, END_REASON), _ALERTS_V1.indexes)

# One row per lifecycle event; `event_id` is derived from (alert id, kind, ts) so a replay adds nothing.
EVENTS = Table(
    "alert_events",
    key="event_id",
    columns=(
        Column("event_id", "uuid", nullable=False),
        Column("alert_id", "uuid", nullable=False),
        Column("kind", "kind", nullable=False),
        Column("ts", "real", nullable=False),
        Column("frame_ts", "real"),
        Column("score", "real"),
        Column("peak_score", "real"),
        Column("mean_score", "real"),
        Column("ended_at", "real"),
        Column("evidence", "json"),
        Column("details", "json"),
    ),
    indexes=(("alert_events_alert", ("alert_id", "ts")),),
)


@dataclass(frozen=True)
class Dialect:
    """What differs between the back ends: parameter marks, types, and upsert syntax."""

    name: str
    param: str
    types: dict[str, str]
    table_options: str
    new_value: str  # how an upsert names the incoming value of column {c}
    least: str

    def marks(self, n: int) -> str:
        return ", ".join([self.param] * n)

    def create_table(self, table: Table) -> list[str]:
        cols = [
            f"{c.name} {self.types[c.kind]}{'' if c.nullable else ' NOT NULL'}"
            + (" PRIMARY KEY" if c.name == table.key else "")
            for c in table.columns
        ]
        if self.name == "mysql":
            cols += [f"INDEX {name} ({', '.join(on)})" for name, on in table.indexes]
            return [f"CREATE TABLE IF NOT EXISTS {table.name} ({', '.join(cols)}){self.table_options}"]
        return [f"CREATE TABLE IF NOT EXISTS {table.name} ({', '.join(cols)})"] + [
            f"CREATE INDEX IF NOT EXISTS {name} ON {table.name} ({', '.join(on)})"
            for name, on in table.indexes
        ]

    def add_column(self, table: Table, column: Column) -> list[str]:
        """ALTER TABLE for a column added by a later schema version (same SQL in both back ends)."""
        null = "" if column.nullable else " NOT NULL"
        return [f"ALTER TABLE {table.name} ADD COLUMN {column.name} {self.types[column.kind]}{null}"]

    def insert_once(self, table: Table) -> str:
        """Insert a row unless its key exists (and only then: other errors still raise)."""
        head = f"INSERT INTO {table.name} ({', '.join(table.names)}) VALUES ({self.marks(len(table.columns))})"
        if self.name == "mysql":
            return f"{head} ON DUPLICATE KEY UPDATE {table.key} = {table.key}"
        return f"{head} ON CONFLICT({table.key}) DO NOTHING"

    def upsert_latest(self, table: Table, order: str = "updated_at") -> str:
        """Insert, or merge into the existing row when this row's `order` is not older than it."""
        head = f"INSERT INTO {table.name} ({', '.join(table.names)}) VALUES ({self.marks(len(table.columns))})"
        merged = {c.name: self._merge(c, table.name) for c in table.columns if c.name not in (table.key, order)}
        if self.name == "mysql":
            newer = f"VALUES({order}) >= {order}"
            sets = [f"{name} = IF({newer}, {expr}, {name})" for name, expr in merged.items()]
            # MySQL applies assignments left to right, so the ordering column goes last.
            sets.append(f"{order} = GREATEST({order}, VALUES({order}))")
            return f"{head} ON DUPLICATE KEY UPDATE {', '.join(sets)}"
        sets = [f"{name} = {expr}" for name, expr in merged.items()] + [f"{order} = excluded.{order}"]
        return (
            f"{head} ON CONFLICT({table.key}) DO UPDATE SET {', '.join(sets)}"
            f" WHERE excluded.{order} >= {table.name}.{order}"
        )

    def _merge(self, c: Column, table: str) -> str:
        new = self.new_value.format(c=c.name)
        old = c.name if self.name == "mysql" else f"{table}.{c.name}"
        if c.merge == "keep":
            return f"COALESCE({new}, {old})"
        if c.merge == "min":
            return f"{self.least}({old}, {new})"
        return new


SQLITE = Dialect(
    name="sqlite",
    param="?",
    types={"uuid": "TEXT", "name": "TEXT", "kind": "TEXT", "int": "INTEGER", "real": "REAL",
           "path": "TEXT", "json": "TEXT", "text": "TEXT"},
    table_options="",
    new_value="excluded.{c}",
    least="MIN",
)

MYSQL = Dialect(
    name="mysql",
    param="%s",
    types={"uuid": "CHAR(36)", "name": "VARCHAR(255)", "kind": "VARCHAR(16)", "int": "BIGINT",
           "real": "DOUBLE", "path": "TEXT", "json": "JSON", "text": "TEXT"},
    table_options=" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    new_value="VALUES({c})",
    least="LEAST",
)

SCHEMA_VERSION = Table(
    SCHEMA_TABLE,
    key="version",
    columns=(
        Column("version", "int", nullable=False),
        Column("description", "text", nullable=False),
        Column("applied_at", "real", nullable=False),
    ),
)


@dataclass(frozen=True)
class Migration:
    """One step of the schema; steps run in order and each is recorded in schema_version."""

    version: int
    description: str
    statements: Callable[[Dialect], list[str]]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "alerts and their lifecycle events",
              lambda d: d.create_table(_ALERTS_V1) + d.create_table(EVENTS)),
    Migration(2, "alerts.end_reason: why an alert ended (interrupted: its process died)",
              lambda d: d.add_column(ALERTS, END_REASON)),
)
LATEST_VERSION = MIGRATIONS[-1].version
