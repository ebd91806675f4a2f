"""MariaDB for the alert tests: scratch databases on the shared server, and a private server to stop.

The shared server at 127.0.0.1:3306 is never stopped or reconfigured: each
test gets its own database there and drops it. The outage tests run their own
`mariadbd` (bench.mariadb), skipped where it is not installed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymysql
import pytest

import bench.mariadb
from bench.mariadb import root_connection
from bench.net import free_port

SHARED_HOST, SHARED_PORT = "127.0.0.1", 3306
__all__ = ["SHARED_PORT", "PrivateMariaDB", "free_port", "private_server", "query", "scratch_database"]


@contextmanager
def scratch_database(port: int = SHARED_PORT) -> Iterator[str]:
    """A new empty database on the server, dropped afterwards. Skips if no server answers."""
    try:
        conn = root_connection(port)
    except pymysql.err.OperationalError as exc:
        pytest.skip(f"needs MariaDB/MySQL at 127.0.0.1:{port} as root without a password ({exc.args[-1]})")
    name = f"dfd_test_{uuid.uuid4().hex[:12]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    try:
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def query(port: int, database: str, sql: str, params: tuple = ()) -> list[tuple]:
    conn = root_connection(port, database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())
    finally:
        conn.close()


class PrivateMariaDB(bench.mariadb.PrivateMariaDB):
    """bench.mariadb's private server; a test skips, with the reason, where MariaDB is not installed."""

    def __init__(self, base: Path) -> None:
        try:
            super().__init__(base)
        except bench.mariadb.MariaDBMissing as exc:
            pytest.skip(str(exc))


@contextmanager
def private_server(base: Path) -> Iterator[PrivateMariaDB]:
    """A started private server with an empty database `dfd`; removed afterwards, even one a test hung."""
    db = PrivateMariaDB(base)
    try:
        db.start()
        db.create_database("dfd")
        yield db
    finally:
        db.cleanup()
