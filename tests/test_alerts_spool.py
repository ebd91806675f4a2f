"""The spool: a locked or unusable SQLite database, a crash with a torn line, and events the DB refuses."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from stream.alerts import AlertStoreError, open_recorder, open_store
from stream.alerts.spool import Spool
from stream.wire import encode
from tests.test_alerts_contract import lifecycle, record, wait_until

FAST = {"retry_base_s": 0.05, "retry_max_s": 0.5}


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def hold_write_lock(db: Path) -> sqlite3.Connection:
    """Another process-like writer holding the database's write lock: every write of ours is refused."""
    conn = sqlite3.connect(db, timeout=0.1, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def test_a_locked_database_spools_then_replays_in_order(tmp_path):
    db, spool = tmp_path / "alerts.db", tmp_path / "alerts.spool"
    url = f"sqlite:///{db}"
    rec = open_recorder(url, spool, timeout_s=0.1, **FAST)
    first = lifecycle("door")
    record(rec, first)

    lock = hold_write_lock(db)
    later = lifecycle("door", track=2, start=1_700_000_100.0) + lifecycle("hall", start=1_700_000_200.0)
    for e in later:
        rec.submit(e)
    wait_until(lambda: rec.status().state == "spooling" and rec.status().spool_depth == len(later),
               "all events journaled while locked")
    status = rec.status()
    assert "locked" in status.last_error
    assert status.written == len(first)
    assert len(spool.read_bytes().splitlines()) == len(later)  # the journal is on disk

    lock.rollback()
    lock.close()
    wait_until(lambda: rec.status().state == "ok" and rec.status().spool_depth == 0, "the spool replayed")
    assert rec.status().written == len(first) + len(later)
    rec.close()
    assert spool.read_bytes() == b""
    assert count(db, "alerts") == 3 and count(db, "alert_events") == len(first) + len(later)
    events = open_store(url).get_alert(later[0].alert_id).events
    assert [e.kind for e in events] == ["new", "update", "update", "end"]


def test_what_is_unwritten_at_shutdown_is_replayed_at_the_next_start(tmp_path):
    db, spool = tmp_path / "alerts.db", tmp_path / "alerts.spool"
    url = f"sqlite:///{db}"
    open_recorder(url, spool).close()  # create the schema
    lock = hold_write_lock(db)
    rec = open_recorder(url, spool, timeout_s=0.1, **FAST)
    events = lifecycle("door") + lifecycle("hall", start=1_700_000_100.0)
    for e in events:
        rec.submit(e)
    wait_until(lambda: rec.status().spool_depth == len(events), "events journaled")
    rec.close(timeout=1.0)
    assert len(spool.read_bytes().splitlines()) == len(events)
    lock.rollback()
    lock.close()

    rec = open_recorder(url, spool, **FAST)
    wait_until(lambda: rec.status().written == len(events), "the previous run's spool replayed")
    rec.close()
    assert count(db, "alerts") == 2 and count(db, "alert_events") == len(events)


def test_a_torn_last_line_after_a_crash_is_set_aside(tmp_path):
    db, spool = tmp_path / "alerts.db", tmp_path / "alerts.spool"
    events = lifecycle("door")
    lines = [encode(e) for e in events]
    # A crash in the middle of appending the last event: its line has no end.
    spool.write_bytes(b"".join(x + b"\n" for x in lines[:-1]) + lines[-1][:25])
    rec = open_recorder(f"sqlite:///{db}", spool, **FAST)
    more = lifecycle("hall", start=1_700_000_100.0)
    for e in more:
        rec.submit(e)
    wait_until(lambda: rec.status().written == len(events) - 1 + len(more), "replay and new events")
    rec.close()
    assert count(db, "alert_events") == len(events) - 1 + len(more)
    rejected = [json.loads(x) for x in (tmp_path / "alerts.spool.rejected").read_text().splitlines()]
    assert len(rejected) == 1 and "torn" in rejected[0]["reason"]
    assert rejected[0]["record"] == lines[-1][:25].decode()


def test_a_crash_mid_append_in_a_real_process_loses_nothing_journaled(tmp_path):
    """A child process journals events and is killed; the next start replays every complete line."""
    spool = tmp_path / "alerts.spool"
    child = (
        "import os, sys\n"
        "from stream.alerts.spool import Spool\n"
        "from tests.test_alerts_contract import lifecycle\n"
        f"s = Spool({str(spool)!r})\n"
        "for i in range(20):\n"
        "    s.append(lifecycle('door', start=1_700_000_000.0 + 100 * i))\n"
        "fd = os.open(s.path, os.O_WRONLY | os.O_APPEND)\n"
        "os.write(fd, b'alert {\"kind\": \"new\", \"alert_')\n"  # and die before the line ends
        "os.kill(os.getpid(), 9)\n"
    )
    out = subprocess.run([sys.executable, "-c", child], cwd=Path(__file__).parent.parent, timeout=120)
    assert out.returncode == -9
    s = Spool(spool)
    assert s.depth == 20 * 4
    events, _ = s.peek(1000)
    assert len(events) == 80 and len({e.alert_id for e in events}) == 20
    s.close()


def test_an_undecodable_line_is_set_aside_and_the_rest_replays(tmp_path):
    db, spool = tmp_path / "alerts.db", tmp_path / "alerts.spool"
    a, b = lifecycle("door"), lifecycle("hall", start=1_700_000_100.0)
    spool.write_bytes(b"".join(encode(e) + b"\n" for e in a) + b"alert {not json}\n"
                      + b"".join(encode(e) + b"\n" for e in b))
    rec = open_recorder(f"sqlite:///{db}", spool, **FAST)
    wait_until(lambda: rec.status().written == len(a) + len(b), "both alerts replayed")
    assert rec.status().spool_depth == 0
    rec.close()
    assert count(db, "alerts") == 2
    rejected = (tmp_path / "alerts.spool.rejected").read_text()
    assert "undecodable" in rejected and "not json" in rejected


def test_a_record_the_database_refuses_is_kept_aside_and_does_not_block(tmp_path):
    db, spool = tmp_path / "alerts.db", tmp_path / "alerts.spool"
    bad = lifecycle("door", track=2**70)  # no SQL integer holds this track number
    good = lifecycle("hall", start=1_700_000_100.0)
    rec = open_recorder(f"sqlite:///{db}", spool, **FAST)
    for e in bad + good:
        rec.submit(e)
    wait_until(lambda: rec.status().rejected == len(bad) and rec.status().written == len(good),
               "the bad alert set aside, the good one written")
    assert rec.status().state == "ok" and rec.status().spool_depth == 0
    rec.close()
    assert count(db, "alerts") == 1
    kept = [json.loads(x) for x in (tmp_path / "alerts.spool.rejected").read_text().splitlines()]
    assert [json.loads(k["record"])["kind"] for k in kept] == [e.kind for e in bad]


def test_a_full_disk_under_the_spool_holds_events_in_memory(tmp_path):
    """/dev/full refuses every write with ENOSPC, like a full disk."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    db = tmp_path / "alerts.db"
    url = f"sqlite:///{db}"
    open_recorder(url, tmp_path / "s").close()
    lock = hold_write_lock(db)
    rec = open_recorder(url, "/dev/full", timeout_s=0.1, **FAST)
    events = lifecycle("door")
    for e in events:
        rec.submit(e)
    wait_until(lambda: rec.status().state == "down", "the down state: no database, no spool")
    status = rec.status()  # only in memory: not counted as spooled
    assert (status.spool_depth, status.unsaved) == (0, len(events)) and "spool /dev/full" in status.last_error
    lock.rollback()
    lock.close()
    wait_until(lambda: rec.status().written == len(events), "held events written once the DB is back")
    assert rec.status().state == "ok" and (rec.status().spool_depth, rec.status().unsaved) == (0, 0)
    rec.close()
    assert count(db, "alert_events") == len(events)


def test_one_spool_per_process(tmp_path):
    first = Spool(tmp_path / "alerts.spool")
    code = f"from stream.alerts.spool import Spool; Spool({str(tmp_path / 'alerts.spool')!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).parent.parent)
    assert out.returncode != 0 and "in use by another dfd process" in out.stderr
    first.close()
    with pytest.raises(AlertStoreError, match="is a directory"):
        open_recorder(f"sqlite:///{tmp_path}", tmp_path / "other.spool")
