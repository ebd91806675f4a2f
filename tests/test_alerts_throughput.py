"""Write and replay throughput of the alert recorder (slow; prints its numbers, checks the counts).

    python -m pytest tests/test_alerts_throughput.py -m slow -s -q
"""

from __future__ import annotations

import sqlite3
import time

import pytest

from stream.alerts import open_recorder, open_store
from tests.mariadb_private import SHARED_PORT, free_port, query, scratch_database
from tests.test_alerts_contract import lifecycle, wait_until

N = 3000


def alerts(n: int, start: float = 1_700_000_000.0):
    """n `new` events of n different alerts: one event is one alert row and one event row."""
    return [lifecycle("bench", track=i, start=start + i, updates=0, end=False)[0] for i in range(n)]


def direct_rates(url: str) -> dict[int, float]:
    """store.write throughput by batch size, without the spool."""
    rates = {}
    store = open_store(url)
    for batch in (1, 16, 256):
        events = alerts(N if batch > 1 else N // 5, start=1_600_000_000.0 + 10_000_000 * batch)
        t = time.perf_counter()
        for i in range(0, len(events), batch):
            store.write(events[i:i + batch])
        rates[batch] = len(events) / (time.perf_counter() - t)
    store.close()
    return rates


def recorder_rate(url: str, spool) -> float:
    """submit -> journal -> database, end to end."""
    rec = open_recorder(url, spool)
    events = alerts(N, start=1_500_000_000.0)
    t = time.perf_counter()
    for e in events:
        rec.submit(e)
    wait_until(lambda: rec.status().written == len(events), "all written", timeout=600)
    rate = len(events) / (time.perf_counter() - t)
    rec.close()
    return rate


def report(name: str, direct: dict[int, float], through: float, replay: float | None = None) -> None:
    parts = [f"batch {b}: {r:,.0f} alerts/s" for b, r in direct.items()]
    line = f"\n{name}: store.write " + ", ".join(parts) + f"; recorder end to end: {through:,.0f} alerts/s"
    if replay is not None:
        line += f"; spool replay: {replay:,.0f} events/s"
    print(line)


@pytest.mark.slow
def test_sqlite_throughput_and_replay(tmp_path):
    db = tmp_path / "alerts.db"
    url = f"sqlite:///{db}"
    direct = direct_rates(url)
    through = recorder_rate(url, tmp_path / "a.spool")

    # Replay: journal N events while another writer holds the lock, then let go and time the drain.
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    rec = open_recorder(url, tmp_path / "b.spool", timeout_s=0.05, retry_base_s=0.05, retry_max_s=0.05)
    events = alerts(N, start=1_400_000_000.0)
    for e in events:
        rec.submit(e)
    wait_until(lambda: rec.status().spool_depth == N, "all spooled", timeout=600)
    lock.rollback()
    t = time.perf_counter()
    wait_until(lambda: rec.status().spool_depth == 0, "replayed", timeout=600)
    replay = N / (time.perf_counter() - t)
    rec.close()
    report("sqlite", direct, through, replay)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == N // 5 + 2 * N + 2 * N


@pytest.mark.slow
@pytest.mark.mysql
def test_mysql_throughput(tmp_path):
    with scratch_database() as name:
        url = f"mysql://root@127.0.0.1:{SHARED_PORT}/{name}"
        direct = direct_rates(url)
        through = recorder_rate(url, tmp_path / "a.spool")

        # Replay: a run that could not reach its server left N events in the spool; this start replays them.
        spool = tmp_path / "b.spool"
        down = open_recorder(f"mysql://root@127.0.0.1:{free_port()}/{name}", spool)
        for e in alerts(N, start=1_400_000_000.0):
            down.submit(e)
        wait_until(lambda: down.status().spool_depth == N, "all spooled", timeout=600)
        down.close(timeout=1.0)
        t = time.perf_counter()
        rec = open_recorder(url, spool)
        wait_until(lambda: rec.status().written == N, "replayed", timeout=600)
        replay = N / (time.perf_counter() - t)
        rec.close()
        report("mysql", direct, through, replay)
        assert query(SHARED_PORT, name, "SELECT COUNT(*) FROM alerts")[0][0] == N // 5 + 2 * N + 2 * N
