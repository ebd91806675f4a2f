"""The benchmarks' /proc reader: CPU time is attributed to the process that used it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.procfs import (
    Proc,
    cpu_since,
    descendants,
    meminfo_kib,
    own_rss_kib,
    processes,
    rss_kib,
    thread_jiffies,
)


def test_a_process_started_within_the_interval_counts_all_its_cpu():
    before = {1: Proc(0, "init", 100), 2: Proc(1, "old", 50)}
    now = {1: Proc(0, "init", 110), 2: Proc(1, "old", 80), 3: Proc(1, "new", 40)}
    assert cpu_since(before, now) == {1: 10, 2: 30, 3: 40}


def test_a_reused_pid_is_a_new_process():
    assert cpu_since({7: Proc(1, "gone", 500)}, {7: Proc(2, "reborn", 20)}) == {7: 20}


def test_a_busy_named_thread_gets_its_own_cpu_time():
    child = subprocess.Popen([sys.executable, "-c", """
import ctypes, threading, time
def spin():
    ctypes.CDLL(None).prctl(15, b"spinner", 0, 0, 0)  # PR_SET_NAME: the name /proc shows
    end = time.monotonic() + 30
    while time.monotonic() < end:
        pass
threading.Thread(target=spin).start()
time.sleep(30)
"""])
    try:
        jiffies: dict[str, int] = {}
        for _ in range(100):  # until the spinner has run for 0.3 s or so
            jiffies = thread_jiffies(child.pid)
            if jiffies.get("spinner", 0) >= 30:
                break
            time.sleep(0.1)
        assert jiffies["spinner"] >= 30 and jiffies["main"] < jiffies["spinner"] // 3  # main sleeps
    finally:
        child.kill()
        child.wait()


def test_children_of_this_process_are_ours():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        procs = processes()
        assert child.pid in descendants(os.getpid(), procs)
        assert procs[child.pid].ppid == os.getpid() and rss_kib(child.pid) > 0
    finally:
        child.kill()
        child.wait()


def test_own_rss_follows_what_the_process_allocates_and_leaves_libraries_out():
    import numpy as np

    before = own_rss_kib(os.getpid())
    block = np.ones(64 << 20, np.uint8)  # 64 MiB, every page touched
    grown = own_rss_kib(os.getpid()) - before
    assert 60 << 10 <= grown <= 70 << 10
    assert own_rss_kib(os.getpid()) < rss_kib(os.getpid())  # the interpreter and numpy's libraries are files
    del block


def test_meminfo_reads_machine_wide_figures():
    assert meminfo_kib("MemTotal") > 0 and meminfo_kib("NoSuchField") == 0
