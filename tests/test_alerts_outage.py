"""The outage test: a private MariaDB is stopped and started under a running recorder; nothing is lost.

It never touches the shared server at 127.0.0.1:3306: the server here has its
own data directory, port, socket and pid file, and is stopped with SIGTERM.
"""

from __future__ import annotations

import pytest

from stream.alerts import open_recorder
from tests.mariadb_private import private_server, query
from tests.test_alerts_contract import lifecycle, record, wait_until

FAST = {"retry_base_s": 0.05, "retry_max_s": 0.5, "timeout_s": 2.0}


@pytest.fixture
def server(tmp_path):
    with private_server(tmp_path / "mariadb") as db:
        yield db


@pytest.mark.mysql
def test_outage_loses_nothing_and_duplicates_nothing(server, tmp_path):
    url = f"mysql://root@127.0.0.1:{server.port}/dfd"
    spool = tmp_path / "alerts.spool"
    rec = open_recorder(url, spool, **FAST)

    # 1. The server is up: alerts are written.
    before = lifecycle("door", updates=3) + lifecycle("hall", start=1_700_000_050.0)
    # An alert that is still open when the server goes away; it ends during the outage.
    spanning = lifecycle("yard", start=1_700_000_080.0, updates=1, end=True)
    record(rec, before + spanning[:2])
    assert rec.status().state == "ok"

    # 2. The server stops: events go to the spool, in order, and the recorder says so.
    server.stop()
    during = spanning[2:] + lifecycle("door", track=5, start=1_700_000_100.0)
    for e in during:
        rec.submit(e)
    wait_until(lambda: rec.status().state == "spooling" and rec.status().spool_depth == len(during),
               "events spooled while the server is down")
    assert rec.status().written == len(before) + 2

    # The supervisor restarts while the server is still down: the spool survives it.
    rec.close(timeout=1.0)
    rec = open_recorder(url, spool, **FAST)
    after_restart = lifecycle("gate", start=1_700_000_200.0)
    for e in after_restart:
        rec.submit(e)
    wait_until(lambda: rec.status().spool_depth == len(during) + len(after_restart),
               "events spooled after the restart")
    assert rec.status().state == "spooling" and rec.status().written == 0

    # 3. The server is back: the spool replays, in order, and empties.
    server.start()
    wait_until(lambda: rec.status().state == "ok" and rec.status().spool_depth == 0, "the spool replayed")
    assert rec.status().written == len(during) + len(after_restart)
    also = lifecycle("gate", track=9, start=1_700_000_300.0)
    record(rec, also)
    rec.close()
    assert spool.read_bytes() == b""

    # 4. Every alert and every event is there exactly once.
    everything = before + spanning + during[1:] + after_restart + also
    alert_ids = {e.alert_id for e in everything}
    rows = query(server.port, "dfd", "SELECT id, COUNT(*) FROM alerts GROUP BY id")
    assert {r[0] for r in rows} == alert_ids and all(r[1] == 1 for r in rows)
    events = query(server.port, "dfd", "SELECT alert_id, kind, ts FROM alert_events")
    assert len(events) == len(everything)
    assert sorted(events) == sorted((e.alert_id, e.kind, e.ts) for e in everything)
    # Each alert holds its last event: all ended, with the end's time.
    ended = dict(query(server.port, "dfd", "SELECT id, ended_at FROM alerts WHERE last_kind = 'end'"))
    assert ended == {e.alert_id: e.ended_at for e in everything if e.kind == "end"}
