"""What ties a run's processes and files to its supervisor's life.

A supervisor killed with SIGKILL cannot stop its children or unlink its
shared memory. So every child dies with it (Linux's parent-death signal, and
a check of the parent every half second that works everywhere), and each run
names its rings and its socket folder after its own PID, so the next
`dfd watch` can tell a dead run's leftovers from a live run's and remove them.
Every process also sets umask 077: faces, alerts and the spool are the
owner's only.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

PR_SET_PDEATHSIG = 1
CHECK_S = 0.5
EXIT_ORPHANED = 4
SHM_DIR = Path("/dev/shm")
RUN_PREFIX = "dfd-"
_OWNED = re.compile(rf"^{RUN_PREFIX}(\d+)-")  # dfd-<supervisor pid>-...: a ring or a run folder


def private_files() -> None:
    """Files and folders made from now on are readable by their owner only."""
    os.umask(0o077)


def die_with_parent() -> None:
    """Called first in a supervised child: when the supervisor is gone, exit at once.

    Nothing is ended or flushed: with no supervisor nothing the child sends
    could be recorded, and the next run reconciles what was left open.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # SIGKILL when the parent thread exits
        except (OSError, AttributeError):
            pass  # the watcher below still holds

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(CHECK_S)
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="dfd-lifeline", daemon=True).start()


def run_id() -> str:
    """This run's name for its rings and folder: it carries the supervisor's PID (dfd-4242-1a2b3c4d)."""
    return f"{RUN_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def sweep_stale(temp_dir: str | None = None) -> list[str]:
    """Remove the rings and socket folders of runs whose supervisor is dead; returns what was removed."""
    removed: list[str] = []
    uid = os.getuid()
    places = [(SHM_DIR, False), (Path(temp_dir or tempfile.gettempdir()), True)]
    for folder, want_dir in places:
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            m = _OWNED.match(entry.name)
            try:
                if not m or entry.is_dir() != want_dir or entry.stat().st_uid != uid or not _dead(int(m[1])):
                    continue
                shutil.rmtree(entry) if want_dir else entry.unlink()
            except OSError:
                continue
            removed.append(str(entry))
    return removed
