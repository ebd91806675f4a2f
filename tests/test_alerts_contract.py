"""The alert store contract, the same tests against SQLite and a real MariaDB.

Also the helpers the other alert tests share: lifecycle events and a bounded wait.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stream.alerts import AlertStoreError, open_recorder, open_store
from stream.alerts.recorder import AlertRecorder
from stream.alerts.schema import LATEST_VERSION
from stream.wire import AlertEvent
from tests.mariadb_private import SHARED_PORT, query, scratch_database

INJECTION = "x'); DROP TABLE alerts; --"
WAIT_S = 60.0


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Poll until the predicate holds; fail saying what never happened (a bound, not a timing test)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def lifecycle(stream: str = "cam", track: int = 1, updates: int = 2, start: float = 1_700_000_000.0,
              end: bool = True, alert_id: str | None = None) -> list[AlertEvent]:
    """new, `updates` updates, then (optionally) end, one second apart, with rising scores."""
    aid = alert_id or str(uuid.uuid4())
    kinds = ["new"] + ["update"] * updates + (["end"] if end else [])
    events, peak, total = [], 0.0, 0.0
    for i, kind in enumerate(kinds):
        score = 0.6 + 0.1 * min(i, 3)
        peak, total = max(peak, score), total + score
        evidence = {"face": f"evidence/{aid}/face.jpg"} if kind == "new" else {}
        if kind == "end":
            evidence = {"clip": f"evidence/{aid}/clip.mp4", "frame": f"evidence/{aid}/frame.jpg"}
        events.append(AlertEvent(
            kind=kind, alert_id=aid, stream=stream, track=track, ts=start + i, started_at=start,
            ended_at=start + i if kind == "end" else None, score=score, peak_score=peak,
            mean_score=total / (i + 1), threshold=0.55, model_id="dfd-test-1", evidence=evidence,
            details={"step": i, "kind": kind}, frame_ts=start + i - 0.05,
        ))
    return events


def record(recorder: AlertRecorder, events: list[AlertEvent]) -> None:
    """Submit and wait until the database has them all."""
    before = recorder.status().written
    for e in events:
        recorder.submit(e)
    wait_until(lambda: recorder.status().written >= before + len(events), f"{len(events)} events written")


@dataclass
class Backend:
    name: str
    url: str
    count: Callable[[str], int]  # rows in a table, counted with the back end's own client

    def open(self, spool: Path, **kw) -> AlertRecorder:
        return open_recorder(self.url, spool, retry_base_s=0.05, retry_max_s=0.5, **kw)


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def backend(request, tmp_path) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "db" / "alerts.db"

        def count(table: str) -> int:
            with sqlite3.connect(path) as conn:
                return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

        yield Backend("sqlite", f"sqlite:///{path}", count)
        return
    with scratch_database() as db:
        yield Backend("mysql", f"mysql://root@127.0.0.1:{SHARED_PORT}/{db}",
                      lambda table: query(SHARED_PORT, db, f"SELECT COUNT(*) FROM {table}")[0][0])


def test_lifecycle_is_read_back(backend, tmp_path):
    a = lifecycle("door", track=3, updates=2)
    b = lifecycle("hall", track=7, updates=1, start=1_700_000_100.0, end=False)
    rec = backend.open(tmp_path / "spool")
    record(rec, a + b)
    assert rec.status().state == "ok" and rec.status().spool_depth == 0
    rec.close()

    store = open_store(backend.url, must_exist=True)
    listed = store.list_alerts()
    assert [x.id for x in listed] == [b[0].alert_id, a[0].alert_id]  # newest first
    got = store.get_alert(a[0].alert_id)
    last = a[-1]
    assert (got.stream, got.track, got.state, got.model_id) == ("door", 3, "ended", "dfd-test-1")
    assert (got.started_at, got.ended_at, got.threshold) == (last.started_at, last.ended_at, 0.55)
    assert got.peak_score == pytest.approx(last.peak_score)
    assert got.mean_score == pytest.approx(last.mean_score)
    # Evidence from `new` (face) is kept when `end` adds the clip and frame.
    aid = a[0].alert_id
    assert got.evidence == {"face": f"evidence/{aid}/face.jpg", "frame": f"evidence/{aid}/frame.jpg",
                            "clip": f"evidence/{aid}/clip.mp4"}
    assert got.details == {"step": 3, "kind": "end"}
    assert [e.kind for e in got.events] == ["new", "update", "update", "end"]
    assert [e.ts for e in got.events] == [e.ts for e in a]
    assert got.events[0].evidence == a[0].evidence and got.events[-1].details == a[-1].details

    open_alert = store.get_alert(b[0].alert_id[:8])  # a prefix is enough
    assert open_alert.state == "open" and open_alert.ended_at is None
    store.close()


def test_replay_never_duplicates(backend, tmp_path):
    events = lifecycle("door") + lifecycle("door", track=2, start=1_700_000_050.0)
    rec = backend.open(tmp_path / "spool")
    record(rec, events)
    record(rec, events)  # the same events again, as a spool replay after a crash would send them
    rec.close()
    rec = backend.open(tmp_path / "spool2")
    record(rec, events[::-1])  # and once more, in the worst order
    rec.close()
    assert backend.count("alerts") == 2
    assert backend.count("alert_events") == len(events)
    store = open_store(backend.url)
    for alert in store.list_alerts():
        assert alert.state == "ended" and alert.ended_at is not None  # a late `new` did not reopen it
        assert alert.details["kind"] == "end"
    store.close()


def test_injection_is_stored_as_text(backend, tmp_path):
    events = lifecycle(INJECTION)
    events[0].details["note"] = INJECTION
    events[0].model_id = INJECTION
    rec = backend.open(tmp_path / "spool")
    record(rec, events)
    record(rec, lifecycle("after"))  # the table is still there and still takes writes
    rec.close()
    store = open_store(backend.url)
    hits = store.list_alerts(stream=INJECTION)
    assert len(hits) == 1 and hits[0].stream == INJECTION
    got = store.get_alert(hits[0].id)
    assert got.events[0].details["note"] == INJECTION
    assert len(store.list_alerts()) == 2
    with pytest.raises(AlertStoreError, match="not an alert id"):
        store.get_alert("' OR 1=1 --")
    store.close()
    assert backend.count("alerts") == 2


def test_filters_by_stream_and_time(backend, tmp_path):
    t0 = 1_700_000_000.0
    early = lifecycle("door", start=t0)  # active t0 .. t0+3
    late = lifecycle("door", start=t0 + 1000)  # active t0+1000 .. t0+1003
    other = lifecycle("hall", start=t0 + 500, end=False)  # still open
    rec = backend.open(tmp_path / "spool")
    record(rec, early + late + other)
    rec.close()
    store = open_store(backend.url)
    ids = lambda alerts: {a.id for a in alerts}  # noqa: E731
    assert ids(store.list_alerts(stream="door")) == {early[0].alert_id, late[0].alert_id}
    assert ids(store.list_alerts(since=t0 + 2, until=t0 + 10)) == {early[0].alert_id}
    assert ids(store.list_alerts(since=t0 + 600)) == {late[0].alert_id, other[0].alert_id}
    assert ids(store.list_alerts(until=t0 + 999)) == {early[0].alert_id, other[0].alert_id}
    assert len(store.list_alerts(limit=1)) == 1
    store.close()


def test_schema_version_and_migration_path(backend, tmp_path):
    for _ in range(2):  # opening again neither fails nor records the version twice
        open_recorder(backend.url, tmp_path / "spool").close()
    assert backend.count("schema_version") == LATEST_VERSION
    store = open_store(backend.url)
    store.connect()
    cur = store._conn.cursor()
    cur.execute(f"INSERT INTO schema_version (version, description, applied_at) VALUES "
                f"({LATEST_VERSION + 1}, 'from the future', 0)")
    store._conn.commit()
    store.close()
    with pytest.raises(AlertStoreError, match="newer than this dfd knows"):
        open_recorder(backend.url, tmp_path / "spool")


def dfd(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stream.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_dfd_alerts_json_returns_what_was_written(backend, tmp_path):
    a = lifecycle(INJECTION, track=4)
    b = lifecycle("hall", start=1_700_000_100.0, end=False)
    rec = backend.open(tmp_path / "spool")
    record(rec, a + b)
    rec.close()

    out = dfd("alerts", "--alerts", backend.url, "--json")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert [x["id"] for x in listed] == [b[0].alert_id, a[0].alert_id]
    got = listed[1]
    assert (got["stream"], got["track"], got["state"]) == (INJECTION, 4, "ended")
    assert (got["started_at"], got["ended_at"]) == (a[-1].started_at, a[-1].ended_at)
    assert got["evidence"]["face"] == a[0].evidence["face"] and got["details"] == a[-1].details

    out = dfd("alerts", "--alerts", backend.url, "--json", "--stream", "hall")
    assert [x["id"] for x in json.loads(out.stdout)] == [b[0].alert_id]

    out = dfd("alerts", "--alerts", backend.url, "show", a[0].alert_id[:8], "--json")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert [(e["kind"], e["ts"]) for e in shown["events"]] == [(e.kind, e.ts) for e in a]

    out = dfd("alerts", "--alerts", backend.url, "--csv")
    lines = out.stdout.splitlines()
    assert lines[0].startswith("id,stream,track") and len(lines) == 3

    out = dfd("alerts", "--alerts", backend.url)  # the table
    assert out.returncode == 0 and a[0].alert_id[:8] in out.stdout and "hall" in out.stdout


@pytest.mark.parametrize("url, says", [
    ("postgres://root:s3cr3t-pw@db/dfd", "unknown scheme 'postgres'"),
    ("alerts.db", "not a URL"),
    ("mysql://root:s3cr3t-pw@127.0.0.1:99999/dfd", "port"),
    ("mysql://root:s3cr3t-pw@127.0.0.1:3306", "one database name"),
    ("mysql://:s3cr3t-pw@127.0.0.1:3306/dfd", "no user"),
    ("sqlite://alerts.db", "sqlite:///relative"),
])
def test_a_bad_url_is_one_masked_line(url, says, tmp_path):
    with pytest.raises(AlertStoreError) as exc:
        open_recorder(url, tmp_path / "spool")
    msg = str(exc.value)
    assert says in msg and "s3cr3t-pw" not in msg and "\n" not in msg
    out = dfd("alerts", "--alerts", url)
    assert out.returncode == 2 and says in out.stderr and "s3cr3t-pw" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


@pytest.mark.mysql
def test_bad_credentials_and_unknown_database_are_one_masked_line(tmp_path):
    with scratch_database() as db:
        cases = [
            (f"mysql://root:s3cr3t-pw@127.0.0.1:{SHARED_PORT}/{db}", None, "access denied for user 'root'"),
            (f"mysql://root@127.0.0.1:{SHARED_PORT}/{db}", "s3cr3t-pw", "access denied for user 'root'"),
            (f"mysql://root@127.0.0.1:{SHARED_PORT}/{db}_missing", None, f"database '{db}_missing' does not exist"),
        ]
        for url, password, says in cases:
            with pytest.raises(AlertStoreError) as exc:
                open_recorder(url, tmp_path / "spool", password=password)
            msg = str(exc.value)
            assert says in msg and "s3cr3t-pw" not in msg and "\n" not in msg
            assert ("root:***@" in msg) == (password is not None or "s3cr3t" in url)

        # Through the CLI, with the password from the environment named by the config.
        config = tmp_path / "site.toml"
        config.write_text(f'[alerts]\nurl = "mysql://root@127.0.0.1:{SHARED_PORT}/{db}"\n'
                          'password_env = "DFD_TEST_DB_PASSWORD"\n')
        out = dfd("alerts", "--config", str(config), env={**os.environ, "DFD_TEST_DB_PASSWORD": "s3cr3t-pw"})
        assert out.returncode == 2 and "access denied" in out.stderr and "s3cr3t-pw" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1


def test_an_unreachable_server_is_not_an_error_it_spools(tmp_path):
    from tests.mariadb_private import free_port

    rec = open_recorder(f"mysql://root:s3cr3t-pw@127.0.0.1:{free_port()}/dfd", tmp_path / "spool",
                        retry_base_s=0.05, retry_max_s=0.2)
    events = lifecycle()
    for e in events:
        rec.submit(e)
    wait_until(lambda: rec.status().spool_depth == len(events), "events in the spool")
    status = rec.status()
    assert status.state == "spooling" and status.written == 0
    assert "s3cr3t-pw" not in repr(status) and status.backend.startswith("mysql://root:***@")
    assert "Can't connect" in status.last_error
    rec.close(timeout=1.0)
    assert len((tmp_path / "spool").read_bytes().splitlines()) == len(events)


def test_reading_creates_nothing(tmp_path):
    out = dfd("alerts", "--json", "--alerts", f"sqlite:///{tmp_path / 'none.db'}")
    assert out.returncode == 0 and out.stdout.strip() == "[]"  # an empty history, not an error
    assert not (tmp_path / "none.db").exists()


@pytest.mark.mysql
def test_reading_a_database_without_alert_tables_is_an_empty_history():
    with scratch_database() as db:
        out = dfd("alerts", "--alerts", f"mysql://root@127.0.0.1:{SHARED_PORT}/{db}")
        assert out.returncode == 0 and "0 alerts in mysql://" in out.stdout and out.stderr == ""
        assert query(SHARED_PORT, db, "SHOW TABLES") == []
