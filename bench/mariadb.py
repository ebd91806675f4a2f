"""A throw-away MariaDB server for the fault soak and the alert tests: its own datadir, port and socket.

The shared server at 127.0.0.1:3306 is never stopped or reconfigured; what must
be killed, hung or restarted runs here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql

from bench.net import free_port

START_WAIT_S = 90.0


class MariaDBMissing(RuntimeError):
    """mariadbd or mariadb-install-db is not installed."""


def root_connection(port: int, database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=port, user="root", password="", database=database,
                           connect_timeout=5, autocommit=True)


class PrivateMariaDB:
    """A throw-away mariadbd: its own datadir under `base`, a free port, its own socket and pid file."""

    def __init__(self, base: Path) -> None:
        for tool in ("mariadbd", "mariadb-install-db"):
            if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
                raise MariaDBMissing(f"needs {tool} (apt-get install mariadb-server) for a private server")
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
                root_connection(self.port).close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mariadbd did not answer on port {self.port}: {self.log_tail()}") from None
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: the server dies as in a power cut (InnoDB recovers at the next start)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        """SIGTERM and wait: a clean shutdown, as when a DBA restarts the server."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)  # a test may have hung it with SIGSTOP
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=START_WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def create_database(self, name: str) -> None:
        conn = root_connection(self.port)
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
