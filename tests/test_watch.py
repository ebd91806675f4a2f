"""`dfd watch` end to end: real processes, shared memory, ZeroMQ, PyAV clips and an ONNX test model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import zmq

from stream.alerts import open_store
from stream.config import load_config
from stream.processes import Child, assign
from stream.sources import Source, make_source
from stream.supervisor import Supervisor
from stream.wire import WorkerStats
from tests.stream_clips import make_clip


def left_behind(segments: list[str]) -> list[str]:
    return [name for name in segments if os.path.exists(f"/dev/shm/{name}")]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("clips")
    return make_clip(d / "lobby.mp4", seconds=3.0), make_clip(d / "door.mp4", seconds=2.0, size=(480, 360))


def dfd_watch(*args: str, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stream.cli", "watch", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_two_file_sources_give_events_and_leave_no_shared_memory(clips, always_fake_model, tmp_path):
    out = dfd_watch(
        f"lobby={clips[0]}", str(clips[1]), "--loop", "--no-console", "--duration", "8",
        "--model", str(always_fake_model), "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}",
        "--evidence-dir", str(tmp_path / "evidence"), cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    by_type: dict[str, list[dict]] = {}
    for e in events:
        by_type.setdefault(e["type"], []).append(e)
    assert {e["stream"] for e in by_type["state"] if e["state"] == "online"} == {"lobby", "door"}
    assert {e["stream"] for e in by_type["stats"] if e["processed"] > 0} == {"lobby", "door"}
    assert {e["stream"] for e in by_type["score"]} == {"lobby", "door"}

    summary = by_type["summary"][-1]["streams"]
    for name, s in summary.items():
        assert 0 < s["processed"] <= s["captured"], name
        assert 0 < s["capture_fps"] < 40, name  # the clips are 15 fps, paced in real time
        assert 0 < s["latency_p50_ms"] <= s["latency_p95_ms"] < 10_000, name
        assert s["alerts"] >= 1 and s["active_alerts"] == 0, name  # every alert ended at shutdown

    new = [e for e in by_type["alert"] if e["kind"] == "new"]
    assert {e["stream"] for e in new} == {"lobby", "door"}
    for e in new:
        assert set(e["evidence"]) == {"face", "frame", "clip"}
        assert all(Path(p).is_file() and Path(p).stat().st_size > 0 for p in e["evidence"].values())
    ends = {e["alert_id"] for e in by_type["alert"] if e["kind"] == "end"}
    assert ends == {e["alert_id"] for e in new}

    store = open_store(f"sqlite:///{tmp_path / 'alerts.db'}", must_exist=True)
    store.connect()
    stored = {a.id: a for a in store.list_alerts()}
    assert set(stored) == {e["alert_id"] for e in new}
    assert all(a.state == "ended" for a in stored.values())
    segments = by_type["summary"][-1]["segments"]
    assert len(segments) == 2 and not left_behind(segments)


def test_a_bad_source_gets_one_line_and_the_others_keep_running(clips, tiny_model, tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("this is not a video\n")
    out = dfd_watch(
        str(clips[1]), "missing.mp4", "ftp://example.com/x", str(notes), "--no-console", "--duration", "30",
        "--model", str(tiny_model), "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}", cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 3, out.stderr
    assert "missing.mp4: no such file" in lines[0]
    assert "unknown source scheme ftp://" in lines[1]
    assert "notes" in lines[2] and "Traceback" not in out.stderr
    summary = json.loads(out.stdout.splitlines()[-1])["streams"]
    assert summary["door"]["processed"] > 0 and summary["door"]["state"] == "ended"
    assert set(summary) == {"door"}  # like the missing file, a file that holds no video is left out at start
    assert summary["door"]["captured"] == 30  # the 2 s clip ended, and the run with it


def test_only_bad_sources_exit_2_with_one_line(tiny_model, tmp_path):
    out = dfd_watch("missing.mp4", "--no-console", "--model", str(tiny_model), cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == "dfd watch: error: missing.mp4: no such file"


def test_no_source_ever_giving_a_frame_exits_1(tiny_model, tmp_path):
    out = dfd_watch("cam=rtsp://127.0.0.1:9/none", "--no-console", "--duration", "3", "--model", str(tiny_model),
                    "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "no source produced a frame" in out.stderr.splitlines()[-1]
    summary = json.loads(out.stdout.splitlines()[-1])
    assert summary["type"] == "summary" and summary["streams"]["cam"]["came_online"] is False


def test_an_unwritable_evidence_folder_and_an_unreachable_database_are_said_at_start(clips, tiny_model, tmp_path):
    (tmp_path / "a-file").write_text("")
    out = dfd_watch(str(clips[1]), "--no-console", "--duration", "3", "--model", str(tiny_model),
                    "--evidence-dir", str(tmp_path / "a-file" / "evidence"),
                    "--alerts", "mysql://root@127.0.0.1:9/dfd", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    said = out.stderr.splitlines()
    assert any("evidence folder" in line and "not writable" in line and "fix: --evidence-dir" in line for line in said)
    assert any(line.startswith("dfd watch: alerts: mysql://root@127.0.0.1:9/dfd") and "fix: start the database"
               in line for line in said), out.stderr
    problems = json.loads(out.stdout.splitlines()[-1])["problems"]
    assert len(problems) == 2  # the console's status shows the same lines


def test_json_lines_have_one_style(clips, tiny_model, tmp_path):
    out = dfd_watch(str(clips[1]), "--no-console", "--duration", "3", "--model", str(tiny_model),
                    "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}", cwd=tmp_path)
    lines = out.stdout.splitlines()
    assert {json.loads(line)["type"] for line in lines} >= {"streams", "summary", "state"}
    assert all(line == json.dumps(json.loads(line), separators=(",", ":")) for line in lines)
    summary = json.loads(lines[-1])["streams"]["door"]
    assert "skipped" not in summary and "skipped_fps" not in summary and "dropped_fps" in summary


def config(tmp_path: Path, model: Path, **overrides):
    return load_config(None, {
        "model.path": str(model),
        "alerts.url": f"sqlite:///{tmp_path / 'alerts.db'}",
        "alerts.spool": str(tmp_path / "alerts.spool"),
        "alerts.evidence_dir": str(tmp_path / "evidence"),
        **overrides,
    })


def wait_for(sup: Supervisor, condition, limit_s: float = 60.0) -> None:
    """Run the supervisor's loop until the condition holds (the limit only guards against a hang)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out; stats: {sup.stats()}"
        sup.poll(0.1)
        sup.check_children()


def test_kill_9_of_a_worker_is_restarted_and_the_stream_goes_on(clips, tiny_model, tmp_path):
    cfg = config(tmp_path, tiny_model, **{"stream.loop": True})
    sup = Supervisor(cfg, [make_source(str(clips[1]))])
    try:
        sup.start()
        segments = sup.stats()["segments"]
        assert len(segments) == 1 and left_behind(segments) == segments
        worker = sup.processes.of_kind("worker")[0]
        wait_for(sup, lambda: sup.streams["door"].processed > 0)
        os.kill(worker.proc.pid, signal.SIGKILL)
        wait_for(sup, lambda: worker.restarts == 1)
        processed = sup.streams["door"].processed
        wait_for(sup, lambda: sup.streams["door"].processed > processed + 5)

        # a malformed message on the supervisor's socket is counted and skipped
        push = zmq.Context.instance().socket(zmq.PUSH)
        push.connect(str(sup.endpoints.events))
        push.send(b"stats {broken")
        wait_for(sup, lambda: sup.stats()["rejected"] == 1)
        push.close(linger=0)
        assert sup.stats()["processes"]["w0"]["alive"]
    finally:
        sup.stop()
    assert not left_behind(segments)
    assert not Path(sup._run_dir).exists()


def test_a_capture_process_reads_several_streams_and_a_kill_9_restarts_them_together(clips, tiny_model, tmp_path):
    cfg = config(tmp_path, tiny_model, **{"stream.loop": True, "stream.streams_per_capture": 2})
    sup = Supervisor(cfg, [make_source(str(clips[1]), "a"), make_source(str(clips[1]), "b"),
                           make_source(str(clips[0]), "c")])
    try:
        sup.start()
        captures = sup.processes.of_kind("capture")
        assert [c.streams for c in captures] == [["a", "b"], ["c"]]
        assert sup.stats()["processes"]["a+b"]["streams"] == ["a", "b"]
        wait_for(sup, lambda: all(s.processed > 0 for s in sup.streams.values()))
        os.kill(captures[0].proc.pid, signal.SIGKILL)
        wait_for(sup, lambda: captures[0].restarts == 1)
        processed = {name: s.processed for name, s in sup.streams.items()}
        wait_for(sup, lambda: all(sup.streams[n].processed > processed[n] + 5 for n in "abc"))
        assert captures[1].restarts == 0  # the other process's stream never stopped
    finally:
        sup.stop()


def test_a_capture_process_counts_as_stalled_when_any_of_its_live_streams_is(clips, tiny_model, tmp_path):
    cfg = config(tmp_path, tiny_model, **{"stream.stall_timeout_s": 10})
    sources = [make_source(str(clips[1]), "file"), Source("cam", "rtsp://127.0.0.1:9/x", "rtsp")]
    sup = Supervisor(cfg, sources)
    try:
        child = Child("file+cam", "capture", print, [SimpleNamespace(source=s) for s in sources], ["file", "cam"])
        child.started = 0.0
        for st in sup.streams.values():
            st.state, st.last_frame = "online", 0.0
        assert sup._stalled(child, now=5.0) == ""
        assert sup._stalled(child, now=30.0) == "cam: no frame for 30 s"  # a file never counts as stalled
        sup.streams["cam"].state = "reconnecting"  # its reader is already on it
        assert sup._stalled(child, now=30.0) == ""
    finally:
        sup.stop()


def test_frames_over_tcp_reach_a_worker_started_on_its_own(clips, tiny_model, tmp_path):
    port = 43000 + os.getpid() % 2000
    cfg = config(tmp_path, tiny_model, **{"stream.loop": True, "stream.transport": "tcp", "stream.insecure_loopback": True})
    sup = Supervisor(cfg, [make_source(str(clips[1]))], port=port)
    remote = None
    try:
        sup.start()
        remote = subprocess.Popen(
            [sys.executable, "-m", "stream.cli", "watch", "--worker-only", "--connect", f"127.0.0.1:{port}",
             "--model", str(tiny_model), "--evidence-dir", str(tmp_path / "remote-evidence")],
            stderr=subprocess.PIPE, text=True,
        )
        seen: dict[str, int] = {}

        def remote_processed() -> bool:
            for msg in sup.inbox.recv(0.1):
                sup.handle(msg, time.monotonic())
                if isinstance(msg, WorkerStats):
                    seen[msg.worker] = msg.processed  # counted since that worker started
            remote_workers = set(seen) - {"w0"}
            return seen.get("w0", 0) > 0 and any(seen[w] > 0 for w in remote_workers)

        wait_for(sup, remote_processed)
        assert "worker for door at 127.0.0.1" in remote.stderr.readline()
    finally:
        if remote is not None:
            remote.terminate()
            assert remote.wait(15) == 0
        sup.stop()


def test_streams_stay_with_one_worker_when_they_can():
    assert assign(["a", "b", "c"], 2) == [["a", "c"], ["b"]]
    assert assign(["a"], 3) == [["a"], ["a"], ["a"]]
    assert assign(["a", "b"], 3) == [["a"], ["b"], ["a"]]


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_everything_and_unlinks_the_rings(how, clips, always_fake_model, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "watch", str(clips[1]), "--loop", "--no-console",
         "--model", str(always_fake_model), "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        for line in proc.stdout:  # until an alert is open
            event = json.loads(line)
            if event["type"] == "alert" and event["kind"] == "new":
                break
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # the terminal sends it to the whole group
        else:
            proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == (130 if how == "ctrl-c" else 143), err
    events = [json.loads(line) for line in rest.splitlines()]
    assert any(e["type"] == "alert" and e["kind"] == "end" for e in events)  # the open alert was closed
    summary = events[-1]
    assert summary["type"] == "summary" and not left_behind(summary["segments"])
    assert not any(p["alive"] for p in summary["processes"].values())


def test_a_hung_worker_is_seen_and_restarted(clips, tiny_model, tmp_path):
    cfg = config(tmp_path, tiny_model, **{"stream.loop": True, "stream.stall_timeout_s": 2.0})
    sup = Supervisor(cfg, [make_source(str(clips[1]))])
    try:
        sup.start()
        worker = sup.processes.of_kind("worker")[0]
        wait_for(sup, lambda: sup.streams["door"].processed > 0)
        hung = worker.proc
        os.kill(hung.pid, signal.SIGSTOP)  # alive, but making no progress
        wait_for(sup, lambda: worker.stalls == 1)
        assert worker.proc is not hung and not worker.crashes
        processed = sup.streams["door"].processed
        wait_for(sup, lambda: sup.streams["door"].processed > processed + 5)
    finally:
        sup.stop()


def test_when_every_worker_is_given_up_dfd_watch_exits_3(clips, tiny_model, tmp_path):
    """A service manager restarts a run that gave up (Restart=on-failure): it must not exit 0."""
    (tmp_path / "one-crash.toml").write_text("[stream]\nmax_restarts = 0\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "watch", str(clips[1]), "--loop", "--no-console",
         "--config", str(tmp_path / "one-crash.toml"), "--model", str(tiny_model),
         "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        for line in proc.stdout:  # until the worker is scoring
            event = json.loads(line)
            if event["type"] == "streams" and event["streams"]["door"]["processed"] > 0:
                break
        worker = next(p["pid"] for p in event["processes"].values() if p["kind"] == "worker")
        os.kill(worker, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, err
    assert "out of restarts, giving up" in err and "every worker stopped for good" in err
