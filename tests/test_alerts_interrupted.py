"""Alerts whose process died are ended as "interrupted"; an alert the bus cannot take now is sent later.

Real `dfd watch` processes with the always-fake test model, kill -9 of a worker
and of the supervisor, and a supervisor stand-in stopped with SIGSTOP.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import zmq

from stream.alerts import open_store
from stream.events import EventSender
from stream.sources import make_source
from stream.supervisor import Supervisor
from stream.transport import Endpoint
from stream.wire import ScoreEvent
from tests.stream_clips import make_clip
from tests.test_alerts_contract import lifecycle
from tests.test_watch import config, wait_for

ROOT = Path(__file__).parent.parent


def test_kill_9_of_a_worker_ends_its_open_alert_as_interrupted(always_fake_model, tmp_path):
    clip = make_clip(tmp_path / "door.mp4", seconds=2.0, size=(480, 360))
    sup = Supervisor(config(tmp_path, always_fake_model, **{"stream.loop": True}), [make_source(str(clip))])
    door = sup.streams["door"]
    try:
        sup.start()
        wait_for(sup, lambda: bool(door.active))
        (alert_id,) = door.active
        worker = sup.processes.of_kind("worker")[0]
        os.kill(worker.proc.pid, signal.SIGKILL)
        wait_for(sup, lambda: alert_id not in door.active)  # no phantom: ended, not left open
        assert next(r for r in sup.alerts.rows() if r.alert_id == alert_id).state == "ended"
    finally:
        sup.stop()
    assert door.snapshot(time.monotonic())["active_alerts"] == 0
    store = open_store(f"sqlite:///{tmp_path / 'alerts.db'}", must_exist=True)
    got = store.get_alert(alert_id)
    assert (got.state, got.end_reason) == ("ended", "interrupted")
    assert got.ended_at == max(e.ts for e in got.events if e.kind != "end")  # the last time it was known


def test_an_alert_left_open_by_a_killed_supervisor_is_ended_by_the_next_run(always_fake_model, tmp_path):
    clip = make_clip(tmp_path / "door.mp4", seconds=2.0, size=(480, 360))
    args = [sys.executable, "-m", "stream.cli", "watch", str(clip), "--loop", "--no-console",
            "--model", str(always_fake_model), "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}"]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # until an alert is open
            event = json.loads(line)
            if event["type"] == "alert" and event["kind"] == "new":
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    again = subprocess.run([*args, "--duration", "3"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    ended = open_store(f"sqlite:///{tmp_path / 'alerts.db'}", must_exist=True).get_alert(event["alert_id"])
    assert (ended.state, ended.end_reason) == ("ended", "interrupted")
    assert ended.ended_at == max(e.ts for e in ended.events if e.kind != "end")  # the last time it was known
    assert "ended 1 alerts left open by an earlier run" in again.stderr


# A supervisor stand-in: binds the events socket, says "ready", prints the alert events it receives,
# and exits once it has the expected number (or after 30 s without any message).
RECEIVER = """
import sys
import zmq
from stream.events import EventReceiver
from stream.transport import Endpoint
from stream.wire import AlertEvent
inbox = EventReceiver(zmq.Context(), Endpoint.parse(sys.argv[1]), None)
print("ready", flush=True)
alerts = 0
while alerts < int(sys.argv[2]):
    msgs = inbox.recv(30.0)
    if not msgs:
        break
    for m in msgs:
        if isinstance(m, AlertEvent):
            alerts += 1
            print(m.alert_id, m.kind, flush=True)
"""


def test_alert_events_wait_for_a_stopped_supervisor_and_are_not_lost(tmp_path):
    endpoint = f"ipc://{tmp_path}/events"
    alerts = lifecycle("door") + lifecycle("hall", start=1_700_000_100.0)
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, endpoint, str(len(alerts))], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
    ctx = zmq.Context()
    try:
        assert receiver.stdout.readline().strip() == "ready"
        sender = EventSender(ctx, Endpoint.parse(endpoint), None)
        os.kill(receiver.pid, signal.SIGSTOP)  # the supervisor hangs: its socket fills up
        for i in range(40000):  # far more scores than the socket holds: the extra are dropped, as meant
            sender.send(ScoreEvent("door", 1, i, 0.0, 0.0, 0.5))
        for e in alerts:
            assert sender.send(e)  # kept, never given up
        deadline = time.monotonic() + 4.0  # the worker's loop goes on meanwhile, flushing each time
        while time.monotonic() < deadline:
            sender.flush()
            time.sleep(0.1)
        os.kill(receiver.pid, signal.SIGCONT)
        sender.close()
        out, _ = receiver.communicate(timeout=60)
    finally:
        if receiver.poll() is None:
            os.kill(receiver.pid, signal.SIGCONT)
            receiver.kill()
        ctx.destroy(linger=0)
    got = [tuple(line.split()) for line in out.splitlines()]
    assert got == [(e.alert_id, e.kind) for e in alerts]
