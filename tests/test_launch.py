"""Children started by stream.launch (real subprocesses): exit codes as multiprocessing reports them, the
parent's sys.path, and no resource-tracker process beside a run's rings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

from bench.procfs import cmdline, descendants, processes
from stream.launch import Launcher


def started(target, *args, name: str = "dfd-test"):
    child = Launcher().Process(target=target, args=args, name=name, daemon=True)
    child.start()
    return child


def test_a_child_reports_its_exit_code_and_the_signal_that_ended_it():
    done = started(sys.exit, 3)
    done.join(30)
    assert done.exitcode == 3 and not done.is_alive()

    asleep = started(time.sleep, 60)
    assert asleep.exitcode is None and asleep.is_alive()
    asleep.kill()
    asleep.join(30)
    assert asleep.exitcode == -signal.SIGKILL

    ended = started(time.sleep, 60)
    ended.terminate()
    ended.join(30)
    assert ended.exitcode == -signal.SIGTERM


def role_shown(pid: int, text: str, timeout_s: float = 10.0) -> bool:
    """Popen returns when the exec has begun (vfork); /proc/PID/cmdline is empty until the kernel has set
    the new program's arguments up, a moment later."""
    deadline = time.monotonic() + timeout_s
    while text not in cmdline(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return text in cmdline(pid)


def test_a_child_runs_its_target_with_the_parents_sys_path_and_shows_its_role(tmp_path):
    (tmp_path / "only_here.py").write_text("import pathlib\ndef touch(p):\n    pathlib.Path(p).write_text('ran')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import only_here

        child = started(time.sleep, 60, name="dfd-cam0")
        assert role_shown(child.pid, "stream.launch dfd-cam0")
        child.kill()
        done = started(only_here.touch, str(tmp_path / "out"))
        done.join(30)
    finally:
        sys.path.remove(str(tmp_path))
    assert done.exitcode == 0 and (tmp_path / "out").read_text() == "ran"


def test_a_failing_target_exits_1_with_its_traceback(capfd):
    child = started(int, "not a number", name="dfd-bad")
    child.join(30)
    assert child.exitcode == 1 and "invalid literal for int()" in capfd.readouterr().err


def test_rings_and_children_start_no_resource_tracker():
    """multiprocessing's spawn and shared_memory each start a 13 MiB tracker process; a run needs neither."""
    name = f"dfd-test-{uuid.uuid4().hex[:8]}"
    code = textwrap.dedent(f"""
        import os, time
        from stream.launch import Launcher
        from stream.ring import FrameRing, RingSpec
        ring = FrameRing.create(RingSpec({name!r}, 2, 32, 24))
        child = Launcher().Process(target=time.sleep, args=(30,), name="dfd-w0")
        child.start()
        print(child.pid, flush=True)
        time.sleep(30)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert role_shown(child, "stream.launch dfd-w0")  # every process of the tree has its cmdline by now
        tree = descendants(parent.pid, processes())
        assert child in tree
        assert not [pid for pid in tree if "resource_tracker" in cmdline(pid)]
        assert os.path.exists(f"/dev/shm/{name}")
    finally:
        parent.kill()
        parent.wait(30)
        os.kill(child, signal.SIGKILL)
        if os.path.exists(f"/dev/shm/{name}"):
            os.unlink(f"/dev/shm/{name}")
