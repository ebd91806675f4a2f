"""What one credit send costs its own thread: the check on what py-spy charges to `Socket.send`.

    python -m bench.send_cost --out bench/results/send-cost

A worker sends a credit (a 5-byte ZeroMQ message on ipc://) for every frame
it is done with. py-spy, which counts a switched-out thread as on-CPU, charged
those sends 0.4 ms a frame under 8 live streams. This sends credits the way a
worker does, a frame's time apart, to a real ROUTER in another process, and
times each send with the sending thread's own CPU clock. Writes
send_cost.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

from bench.host import cpu_line, host_facts
from stream.frames import CREDIT


def _router(endpoint: str, count: int) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.bind(endpoint)
    for _ in range(count):
        sock.recv_multipart()
    ctx.destroy(linger=0)


def measure(sends: int, gap_s: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        endpoint = f"ipc://{tmp}/credits"
        peer = mp.get_context("spawn").Process(target=_router, args=(endpoint, sends))
        peer.start()
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.connect(endpoint)
        time.sleep(0.5)  # connected, and the peer's socket bound
        cpu_us = []
        for _ in range(sends):
            t0 = time.thread_time_ns()
            sock.send(CREDIT, zmq.NOBLOCK)
            cpu_us.append((time.thread_time_ns() - t0) / 1000.0)
            time.sleep(gap_s)  # a frame's work between two sends: ZeroMQ's I/O thread goes back to sleep
        peer.join(30)
        ctx.destroy(linger=0)
    a = np.array(cpu_us)
    return {"cpu": cpu_line(host_facts()), "sends": sends, "gap_ms": gap_s * 1000.0,
            "cpu_us": {"median": round(float(np.median(a)), 1), "mean": round(float(a.mean()), 1),
                       "p95": round(float(np.percentile(a, 95)), 1)}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.send_cost", description=__doc__.split("\n")[0])
    p.add_argument("--sends", type=int, default=3000)
    p.add_argument("--gap-ms", type=float, default=3.0, help="time between two sends (a frame's work)")
    p.add_argument("--out", type=Path, default=Path("bench/results/send-cost"))
    a = p.parse_args(argv)
    r = measure(a.sends, a.gap_ms / 1000.0)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "send_cost.json").write_text(json.dumps(r, indent=1) + "\n")
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
