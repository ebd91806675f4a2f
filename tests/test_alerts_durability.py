"""The alert journal survives what a camera box meets: a hung database with a kill -9, a full disk.

Real processes, a private `mariadbd` (stopped with SIGSTOP, never the shared
server), a real tiny tmpfs, and a database schema from an older dfd.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from stream.alerts import open_recorder, open_store
from stream.alerts.schema import MIGRATIONS, SCHEMA_VERSION
from stream.wire import AlertEvent
from tests.mariadb_private import (
    SHARED_PORT,
    private_server,
    query,
    scratch_database,
)
from tests.test_alerts_contract import lifecycle, wait_until
from tests.test_alerts_spool import count, hold_write_lock

FAST = {"retry_base_s": 0.05, "retry_max_s": 0.5}
ROOT = Path(__file__).parent.parent

# A stand-in for the supervisor: one command a line on stdin; "e" submits the next event and prints it
# (as `dfd watch` prints an alert), "s" prints the recorder's status.
CHILD = """
import json, sys
from dataclasses import asdict
from stream.alerts import open_recorder
from tests.test_alerts_contract import lifecycle
rec = open_recorder(sys.argv[1], sys.argv[2], timeout_s=2.0, retry_base_s=0.05, retry_max_s=0.5)
events = [e for i in range(20) for e in lifecycle("door", track=i, start=1_700_000_000.0 + 10 * i)]
for line in sys.stdin:
    if line.strip() == "e":
        e = events.pop(0)
        rec.submit(e)
        print(json.dumps([e.alert_id, e.kind, e.ts]), flush=True)
    else:
        print(json.dumps(asdict(rec.status())), flush=True)
"""


class Child:
    def __init__(self, url: str, spool: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, url, str(spool)], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.printed: list[tuple[str, str, float]] = []

    def event(self) -> None:
        self.proc.stdin.write("e\n")
        self.proc.stdin.flush()
        self.printed.append(tuple(json.loads(self.proc.stdout.readline())))

    def status(self) -> dict:
        self.proc.stdin.write("s\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())


@pytest.fixture
def server(tmp_path):
    with private_server(tmp_path / "mariadb") as db:
        yield db


@pytest.mark.mysql
def test_a_hung_database_and_a_kill_9_lose_no_printed_event(server, tmp_path):
    url, spool = f"mysql://root@127.0.0.1:{server.port}/dfd", tmp_path / "alerts.spool"
    child = Child(url, spool)
    try:
        for _ in range(4):
            child.event()
        wait_until(lambda: child.status()["written"] == 4, "the first alert written")
        os.kill(server.proc.pid, signal.SIGSTOP)  # hung: connections stay open, nothing answers
        for _ in range(7):  # the writer blocks on the first of these; the rest must not wait in memory
            child.event()
        wait_until(lambda: child.status()["state"] != "ok", "the sink no longer shown ok while hung")
        assert "no answer" in child.status()["last_error"]
        child.proc.kill()  # kill -9 while the database is still hung
        child.proc.wait(10)
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
        os.kill(server.proc.pid, signal.SIGCONT)
    rec = open_recorder(url, spool, timeout_s=2.0, **FAST)
    wait_until(lambda: rec.status().state == "ok" and rec.status().spool_depth == 0, "the spool replayed")
    rec.close()
    stored = query(server.port, "dfd", "SELECT alert_id, kind, ts FROM alert_events")
    assert sorted(stored) == sorted(child.printed)  # every printed event, exactly once


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs: a disk that fills."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {out.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        return filler
    finally:
        os.close(fd)


def test_a_full_disk_is_said_kept_in_memory_and_counted_at_close(tiny_disk, tmp_path, caplog):
    caplog.set_level(logging.WARNING, "dfd.alerts")
    db = tmp_path / "alerts.db"
    url = f"sqlite:///{db}"
    open_recorder(url, tmp_path / "s").close()
    lock = hold_write_lock(db)  # the database takes nothing either: events have only the spool
    rec = open_recorder(url, tiny_disk / "alerts.spool", timeout_s=0.1, **FAST)
    filler = fill(tiny_disk)
    first = lifecycle("door")
    for e in first:
        rec.submit(e)
    status = rec.status()
    assert (status.spool_depth, status.unsaved) == (0, len(first))  # in memory is not spooled
    assert "No space left on device" in status.last_error
    wait_until(lambda: rec.status().state == "down", "down: neither the database nor the spool takes writes")
    assert sum("No space left" in r.getMessage() for r in caplog.records) == 1  # said once, not per event

    filler.unlink()  # space again: the held events reach the spool
    wait_until(lambda: rec.status().unsaved == 0, "held events saved")
    assert rec.status().spool_depth == len(first)
    fill(tiny_disk)  # full again (the spool's last page may still take a few events)
    second = [e for i in range(40) for e in lifecycle("hall", track=i, start=1_700_000_100.0 + 10 * i)]
    submitted = 0
    while rec.status().unsaved < 3:
        rec.submit(second[submitted])
        submitted += 1
    unsaved = rec.status().unsaved
    caplog.clear()
    rec.close(timeout=0.5)
    lost = [r.getMessage() for r in caplog.records if "could not be saved" in r.getMessage()]
    assert len(lost) == 1 and lost[0].startswith(f"alerts: {unsaved} alert events could not be saved")

    lock.rollback()
    lock.close()
    rec = open_recorder(url, tiny_disk / "alerts.spool", **FAST)  # the next start replays what was saved
    wait_until(lambda: rec.status().spool_depth == 0, "the spool replayed")
    rec.close()
    assert count(db, "alert_events") == len(first) + submitted - unsaved


def test_the_replay_line_counts_the_events_it_replays(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "dfd.alerts")
    db = tmp_path / "alerts.db"
    url = f"sqlite:///{db}"
    open_recorder(url, tmp_path / "s").close()
    lock = hold_write_lock(db)
    rec = open_recorder(url, tmp_path / "alerts.spool", timeout_s=0.1, **FAST)
    events = lifecycle("door", updates=7)  # 9 events
    for e in events:
        rec.submit(e)
    wait_until(lambda: rec.status().state == "spooling", "spooling")
    lock.rollback()
    lock.close()
    wait_until(lambda: rec.status().spool_depth == 0, "replayed")
    rec.close()
    assert any(r.getMessage().endswith(f"is back; replaying {len(events)} spooled events") for r in caplog.records)


def v1_tables(conn, dialect, param: str) -> None:
    """The tables as dfd's schema version 1 made them, before end_reason."""
    cur = conn.cursor()
    for sql in dialect.create_table(SCHEMA_VERSION) + MIGRATIONS[0].statements(dialect):
        cur.execute(sql)
    cur.execute(f"INSERT INTO schema_version VALUES ({param}, {param}, {param})", (1, "v1", 0.0))
    conn.commit()


def interrupted_end(alert_id: str) -> AlertEvent:
    new, update = lifecycle("door", alert_id=alert_id, updates=1, end=False)
    return AlertEvent(**{**update.__dict__, "kind": "end", "ts": update.ts + 1, "ended_at": update.ts,
                         "details": {"end_reason": "interrupted"}})


def check_upgraded(url: str) -> None:
    aid = str(uuid.uuid4())
    store = open_store(url)
    store.connect()
    store.write([*lifecycle("door", alert_id=aid, updates=1, end=False), interrupted_end(aid)])
    got = store.get_alert(aid)
    store.close()
    assert (got.state, got.end_reason) == ("ended", "interrupted")


def test_an_old_sqlite_schema_gains_end_reason(tmp_path):
    import sqlite3

    from stream.alerts.schema import SQLITE

    db = tmp_path / "alerts.db"
    with sqlite3.connect(db) as conn:
        v1_tables(conn, SQLITE, "?")
    check_upgraded(f"sqlite:///{db}")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == MIGRATIONS[-1].version


@pytest.mark.mysql
def test_an_old_mysql_schema_gains_end_reason():
    import pymysql

    from stream.alerts.schema import MYSQL

    with scratch_database() as name:
        conn = pymysql.connect(host="127.0.0.1", port=SHARED_PORT, user="root", password="", database=name)
        v1_tables(conn, MYSQL, "%s")
        conn.close()
        check_upgraded(f"mysql://root@127.0.0.1:{SHARED_PORT}/{name}")
        assert query(SHARED_PORT, name, "SELECT MAX(version) FROM schema_version")[0][0] == MIGRATIONS[-1].version
