"""Where a worker's and a capture's CPU goes under N live streams: py-spy samples grouped by stage.

    python -m bench.profile --streams 4 --seconds 20 --out bench/results/profile-4-streams

Runs a real `dfd watch` on N paced 640x480 30-fps one-face clips, attaches
`py-spy record` (pip install py-spy) to one worker and one capture for the
middle of the run, and groups the samples by the stage they were in (the
innermost frame of our own code, or a known library, decides). Each stage's
share of the process's on-CPU samples is turned into milliseconds of CPU per
frame with the process's CPU time from /proc and the frames it handled in the
same interval, so a change shows up as a before/after figure per stage. That CPU time includes the
process's native threads, which py-spy does not see (ZeroMQ's I/O thread, FFmpeg's decoder threads): it
is shared out over the stages like the rest, and each thread's own CPU time is listed apart.

py-spy counts a thread that waits for a core (runnable, switched out) as on-CPU, so a stage where the
scheduler tends to switch to another process is charged for that wait: a ZeroMQ send that wakes
another process drew 8 % of a worker's samples (0.4 ms a frame) where the send itself costs 0.02-0.04 ms
of its thread's CPU (`python -m bench.send_cost`). Read a stage's share as time spent in it, not CPU.
Writes profile.json, profile.md and the raw collapsed stacks.
"""

from __future__ import annotations

import argparse
import json
import linecache
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from bench.clips import ClipSpec, clip
from bench.host import cpu_line, host_facts
from bench.procfs import HZ, context_switches, cpu_since, processes, thread_jiffies
from bench.watch import WatchRun, run_watch

# (stage, needles): a stack's stage is the first needle found walking from the innermost frame outwards.
# A frame is matched as py-spy names it ("function (file:line)") and by the text of that source line,
# since PyAV's decoding and conversion run in C under one line of ours.
IDLE = "waiting (sleep, poll): not charged"
STAGES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "worker": [
        (IDLE, ("time.sleep(", "Poller.poll", "poll (zmq")),
        ("encoder (ONNX Runtime)", ("encode (edge_model/runner",)),
        ("temporal head", ("score (edge_model/runner",)),
        ("face detector (BlazeFace, ONNX Runtime)", ("edge_model/detector",)),
        ("face crop and normalization", ("edge_model/crop",)),
        ("tracker", ("edge_model/tracker",)),
        ("frame in: ring copy, message check, credits", ("stream/frames", "stream/ring", "stream/wire")),
        ("alert policy", ("stream/policy", "edge_model/decision")),
        ("events out: scores, stats", ("stream/events", "publish_stats")),
        ("evidence (outbox thread)", ("stream/outbox", "stream/evidence")),
        ("per-frame bookkeeping (worker)", ("stream/worker", "edge_model/pipeline")),
    ],
    "capture": [
        (IDLE, ("time.sleep(", "Poller.poll", "poll (zmq", "._sock.poll(")),
        ("decode (PyAV)", (".decode()", ".demux(")),
        ("BGR conversion (reformatter)", (".reformat(", "to_ndarray")),
        ("scale to fit", ("fit_within",)),
        ("ring write", ("stream/ring",)),
        ("frame out: message, credits", ("stream/frames", "stream/wire")),
        ("events out: state, counters", ("stream/events", "report (stream/capture")),
        ("pacing and loop (capture)", ("stream/capture", "stream/sources", "edge_model/media")),
    ],
}
ROOT = Path(__file__).resolve().parent.parent


def source_text(frame: str) -> str:
    """py-spy's "function (path:line)" with that line's text, for frames of this repository."""
    where = frame.rpartition(" (")[2].rstrip(")")
    path, _, line = where.rpartition(":")
    return frame + " " + linecache.getline(str(ROOT / path), int(line)).strip() if line.isdigit() else frame


def stage_of(stack: list[str], role: str) -> str:
    for frame in reversed(stack):
        text = source_text(frame)
        for stage, needles in STAGES[role]:
            if any(n in text for n in needles):
                return stage
    return "other (interpreter, imports, libraries)"


def collapse(raw: Path, role: str) -> tuple[Counter, Counter]:
    """py-spy's raw output -> samples per stage, and per innermost line (self time)."""
    stages: Counter = Counter()
    leaves: Counter = Counter()
    for line in raw.read_text().splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not stack_text or not count.isdigit():
            continue
        stack = stack_text.split(";")
        stage = stage_of(stack, role)
        stages[stage] += int(count)
        if stage != IDLE:
            leaves[stack[-1]] += int(count)
    return stages, leaves


def wait_for_processes(run: WatchRun, count: int, timeout_s: float, runner: threading.Thread) -> dict[str, tuple[str, int]]:
    """kind -> (name, pid) of one worker and one capture, once every stream processes frames."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and runner.is_alive():
        snaps = run.of_type("streams")
        if snaps:
            s = snaps[-1]
            busy = [v for v in s.get("streams", {}).values() if v.get("processed", 0) > 30]
            procs = {p["kind"]: (name, p["pid"]) for name, p in s.get("processes", {}).items() if p.get("alive")}
            if len(busy) >= count and {"worker", "capture"} <= procs.keys():
                return procs
        time.sleep(0.5)
    raise SystemExit("bench.profile: dfd watch never had every stream running")


def handled(run: WatchRun, role: str, name: str, since: float, until: float) -> int | None:
    """Frames the profiled process itself handled in [since, until]: a worker's processed frames of the
    streams it serves (its own reports), a capture process's captured frames of its streams."""
    if role == "worker":
        reports = [e for e in run.of_type("stats") if e["worker"] == name and since <= e["_seen"] <= until]
        per_stream: dict[str, list[int]] = {}
        for e in reports:
            per_stream.setdefault(e["stream"], []).append(e["processed"])
        counts = [c[-1] - c[0] for c in per_stream.values() if len(c) > 1]
    else:
        snaps = [e for e in run.of_type("streams") if since <= e["_seen"] <= until and name in e["processes"]]
        streams = snaps[-1]["processes"][name]["streams"] if snaps else []
        counts = [snaps[-1]["streams"][s]["captured"] - snaps[0]["streams"][s]["captured"]
                  for s in streams] if len(snaps) > 1 else []
    return sum(counts) or None


def profile(streams: int, seconds: float, out: Path, rate: int) -> dict:
    if shutil.which("py-spy") is None:
        raise SystemExit("bench.profile: py-spy is not installed (pip install py-spy)")
    out = out.resolve()  # dfd watch runs in the work folder: the clip's path must not be relative
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    work.mkdir(exist_ok=True)
    source = clip(work, ClipSpec(seconds=10.0))
    total_s = seconds + 25.0
    started: list[WatchRun] = []
    runner = threading.Thread(target=run_watch, args=([source] * streams, None, total_s, work),
                              kwargs={"live": started.append})
    runner.start()
    while not started:
        time.sleep(0.1)
    run = started[0]
    chosen = wait_for_processes(run, streams, 60.0, runner)
    before = processes()
    threads_before = {role: thread_jiffies(pid) for role, (_, pid) in chosen.items()}
    switches_before = {role: context_switches(pid) for role, (_, pid) in chosen.items()}
    t0 = time.time()
    spies = {
        role: subprocess.Popen(["py-spy", "record", "--pid", str(chosen[role][1]), "--duration", f"{seconds:g}",
                                "--rate", str(rate), "--format", "raw", "--output", str(out / f"{role}.stacks.txt"),
                                "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for role in ("worker", "capture")
    }
    for role, spy in spies.items():
        if spy.wait() != 0:
            raise SystemExit(f"bench.profile: py-spy on the {role} failed: {spy.stderr.read().strip()[-300:]}")
    t1 = time.time()
    after = processes()
    threads_used = {role: {t: j - threads_before[role].get(t, 0) for t, j in thread_jiffies(pid).items()}
                    for role, (_, pid) in chosen.items()}
    switches = {role: {k: n - switches_before[role][k] for k, n in context_switches(pid).items()}
                for role, (_, pid) in chosen.items()}
    runner.join()
    result = {"streams": streams, "seconds": seconds, "rate_hz": rate, "cpu": cpu_line(host_facts()), "processes": {}}
    used = cpu_since(before, after)
    for role in spies:
        name, pid = chosen[role]
        cpu_s = used.get(pid, 0) / HZ
        frames = handled(run, role, name, t0, t1)
        stages, leaves = collapse(out / f"{role}.stacks.txt", role)
        n = sum(c for st, c in stages.items() if st != IDLE) or 1  # on-CPU samples
        ms_per_frame = 1000.0 * cpu_s / frames if frames else float("nan")
        result["processes"][role] = {
            "name": name, "cpu_s": round(cpu_s, 2), "frames": frames, "cpu_ms_per_frame": round(ms_per_frame, 3),
            "samples": n, "idle_samples": stages.get(IDLE, 0),
            "stages": [{"stage": st, "share": round(c / n, 4), "ms_per_frame": round(ms_per_frame * c / n, 3)}
                       for st, c in stages.most_common() if st != IDLE],
            "top_lines": [{"line": f, "share": round(c / n, 4)} for f, c in leaves.most_common(8)],
            "threads": [{"thread": t, "ms_per_frame": round(1000.0 * j / HZ / frames, 3) if frames else None}
                        for t, j in sorted(threads_used[role].items(), key=lambda kv: -kv[1])],
            "switches_per_frame": {k: round(n / frames, 2) if frames else None for k, n in switches[role].items()},
        }
    (out / "profile.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "profile.md").write_text(markdown(result))
    shutil.rmtree(work, ignore_errors=True)
    return result


def markdown(r: dict) -> str:
    lines = [f"# Profile: {r['streams']} live streams, py-spy for {r['seconds']:g} s at {r['rate_hz']} Hz",
             "", f"**CPU:** {r['cpu']}", "",
             "Written by `python -m bench.profile`. ms per frame = the process's CPU time (from /proc) over the frames "
             "it handled in the same interval, split by each stage's share of py-spy's on-CPU samples (native threads "
             "that py-spy does not see, ZeroMQ's I/O and FFmpeg's decoders, are shared out with the rest, and listed "
             "apart with their own CPU time). py-spy also counts a thread that waits for a core as on-CPU, so a stage "
             "after which the scheduler tends to switch processes (a ZeroMQ send) is overcharged.", ""]
    for role, p in r["processes"].items():
        lines += [f"## {role} ({p['frames'] or 0} frames, {p['cpu_s']} CPU s, {p['cpu_ms_per_frame']} ms CPU per frame; "
                  f"{p['samples']} on-CPU samples, {p['idle_samples']} idle)",
                  "", "| stage | share of samples | ms CPU per frame |", "|---|---|---|"]
        lines += [f"| {s['stage']} | {100 * s['share']:.1f}% | {s['ms_per_frame']:.3f} |" for s in p["stages"]]
        lines += ["", "| innermost line (self time) | share |", "|---|---|"]
        lines += [f"| `{f['line']}` | {100 * f['share']:.1f}% |" for f in p["top_lines"]]
        lines += ["", "| thread (from /proc) | ms CPU per frame |", "|---|---|"]
        lines += [f"| {t['thread']} | {t['ms_per_frame']:.3f} |" for t in p.get("threads", []) if t["ms_per_frame"]]
        sw = p["switches_per_frame"]
        lines += ["", f"Context switches of all its threads, per frame: {sw['voluntary']} voluntary (it waited), "
                  f"{sw['involuntary']} involuntary (it was preempted)."]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    p.add_argument("--streams", type=int, default=4)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--rate", type=int, default=200, help="py-spy samples a second")
    p.add_argument("--out", type=Path, default=Path("bench/results/profile"))
    a = p.parse_args(argv)
    r = profile(a.streams, a.seconds, a.out, a.rate)
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
