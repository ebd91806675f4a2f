"""A killed supervisor takes its children with it, and the next run removes what it left behind."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from multiprocessing import shared_memory
from pathlib import Path

from stream.lifeline import sweep_stale
from tests.stream_clips import make_clip


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for PID 1 to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_sweep_removes_only_the_leftovers_of_dead_runs(tmp_path):
    dead, alive = dead_pid(), os.getpid()
    rings = [shared_memory.SharedMemory(f"dfd-{pid}-test{i}-0", create=True, size=64)
             for i, pid in enumerate((dead, alive))]
    (tmp_path / f"dfd-{dead}-test-run").mkdir()
    (tmp_path / f"dfd-{alive}-test-run").mkdir()
    (tmp_path / "dfd-not-a-run").mkdir()
    try:
        removed = sweep_stale(str(tmp_path))
        assert sorted(Path(p).name for p in removed) == [f"dfd-{dead}-test-run", f"dfd-{dead}-test0-0"]
        assert not Path(f"/dev/shm/dfd-{dead}-test0-0").exists()
        assert Path(f"/dev/shm/dfd-{alive}-test1-0").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == [f"dfd-{alive}-test-run", "dfd-not-a-run"]
    finally:
        for r in rings:
            r.close()
        rings[1].unlink()


def test_kill_9_of_the_supervisor_ends_its_children_and_the_next_run_cleans_up(always_fake_model, tmp_path):
    clip = make_clip(tmp_path / "door.mp4", seconds=2.0, size=(480, 360))
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    args = [sys.executable, "-m", "stream.cli", "watch", str(clip), "--loop", "--no-console",
            "--model", str(always_fake_model), "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # until every child runs and the stream is scored
            event = json.loads(line)
            if event["type"] == "streams" and event["streams"]["door"]["processed"] > 0:
                break
        children = [p["pid"] for p in event["processes"].values()]
        segments = event["segments"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10  # a generous bound for a loaded machine; children go in about 0.5 s
    while any(running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if running(pid)], "children outlived their supervisor"
    # The rings may be gone already (multiprocessing's resource tracker unlinks them when the last
    # process that used them ends); the socket folder is not: both are the next run's job.
    assert any(p.name.startswith(f"dfd-{proc.pid}-") for p in temp.iterdir())

    again = subprocess.run([*args, "--duration", "3"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr
    assert not any(Path(f"/dev/shm/{s}").exists() for s in segments)
    assert not any(p.name.startswith(f"dfd-{proc.pid}-") for p in temp.iterdir())
    assert "left by a dfd run that was killed" in again.stderr
    # umask 077 in every process: the faces, the alerts and the spool are the owner's only
    made = [p for p in tmp_path.rglob("*") if p.name.startswith(("alerts.", "evidence")) or "evidence" in p.parts]
    assert any(p.suffix == ".jpg" for p in made) and any(p.name == "alerts.db" for p in made)
    assert all(stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600) for p in made), \
        {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in made}
