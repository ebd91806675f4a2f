"""MariaDB for the alert tests: scratch databases on the shared server, and a private server to stop.

The shared server at 127.0.0.1:3306 is never stopped or reconfigured: each
test gets its own database there and drops it. The outage test runs its own
`mariadbd` with its own data directory, port, socket and pid file.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymysql
import pytest

SHARED_HOST, SHARED_PORT = "127.0.0.1", 3306
START_WAIT_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _root(port: int, database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=port, user="root", password="", database=database,
                           connect_timeout=5, autocommit=True)


@contextmanager
def scratch_database(port: int = SHARED_PORT) -> Iterator[str]:
    """A new empty database on the server, dropped afterwards. Skips if no server answers."""
    try:
        conn = _root(port)
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
    conn = _root(port, database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())
    finally:
        conn.close()


class PrivateMariaDB:
    """A throw-away mariadbd: its own datadir under `base`, a free port, its own socket and pid file."""

    def __init__(self, base: Path) -> None:
        for tool in ("mariadbd", "mariadb-install-db"):
            if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
                pytest.skip(f"needs {tool} (apt-get install mariadb-server) for a private test server")
        self.base = base
        self.datadir = base / "data"
        # A short directory for the socket: unix socket paths are limited to ~108 bytes.
        self.rundir = Path(tempfile.mkdtemp(prefix="dfd-mdb-"))
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._install()

    @staticmethod
    def _tool(name: str) -> str:
        return shutil.which(name) or str(Path("/usr/sbin", name))

    def _user_args(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def _install(self) -> None:
        out = subprocess.run(
            [self._tool("mariadb-install-db"), "--no-defaults", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db", *self._user_args()],
            capture_output=True, text=True, timeout=300,
        )
        if out.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {out.stderr[-2000:]}")

    def start(self) -> None:
        log = open(self.base / "mariadbd.log", "ab")  # the server writes to it until stopped
        self.proc = subprocess.Popen(
            [self._tool("mariadbd"), "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.rundir / 'mysqld.sock'}",
             f"--pid-file={self.rundir / 'mysqld.pid'}", "--innodb-buffer-pool-size=16M",
             "--skip-name-resolve", "--skip-log-bin", *self._user_args()],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_WAIT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                _root(self.port).close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mariadbd did not answer on port {self.port}: {self.log_tail()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM and wait: a clean shutdown, as when a DBA restarts the server."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=START_WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def create_database(self, name: str) -> None:
        conn = _root(self.port)
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        conn.close()

    def log_tail(self) -> str:
        path = self.base / "mariadbd.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.rundir, ignore_errors=True)
        shutil.rmtree(self.datadir, ignore_errors=True)
