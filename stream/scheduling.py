"""How a run's processes share the cores: captures wait for a worker, never cut in.

A capture thread wakes 30 times a second for each of its streams to decode one
frame. Under the kernel's default policy each wake-up may preempt a worker in
the middle of a model run, and the decoder's frames then push the model's
weights and activations out of the core's caches: live, the int8 encoder ran
a third slower than alone (bench/results/profile-8-streams-xeon-every3).
Under SCHED_BATCH a woken thread does not preempt the running one: a capture
runs when a worker blocks for its next frame or its time slice ends, a few
milliseconds at most, well inside a frame's 33 ms and the ring's three frames.
Any process may move its own threads to SCHED_BATCH, so this needs no
privilege; threads started afterwards (the decoders', ZeroMQ's) inherit it.
"""

from __future__ import annotations

import os


def wait_for_workers() -> None:
    """Every thread of this process (numpy's, started at import, too) and every thread started from now on
    under SCHED_BATCH, where the OS has it (elsewhere captures keep the default policy)."""
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]  # no /proc: this thread, and those it starts
    try:
        for tid in threads:
            try:
                os.sched_setscheduler(tid, os.SCHED_BATCH, os.sched_param(0))
            except ProcessLookupError:  # that thread ended meanwhile
                continue
    except (AttributeError, OSError):
        pass
