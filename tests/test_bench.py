"""`dfd bench`: the structure of its results on the tiny test model, and the arithmetic behind its figures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from bench.baseline import one_core
from bench.capacity import held, step_log, throughput
from bench.host import _cpuinfo, ort_isa
from bench.latency import delays
from bench.measure import Figure
from bench.procfs import context_switches
from bench.report import markdown
from bench.watch import WatchRun
from stream.cli import main

FIGURE_KEYS = {"median", "min", "max", "runs", "unit"}


def _is_figure(d: dict, runs: int) -> bool:
    return set(d) == FIGURE_KEYS and d["runs"] == runs and d["min"] <= d["median"] <= d["max"]


def test_quick_model_section_writes_json_and_markdown(tiny_model, tmp_path):
    out = tmp_path / "r" / "results.json"
    rc = main(["bench", "--quick", "--only", "model", "--model", str(tiny_model), "--runs", "2", "--out", str(out)])
    assert rc == 0
    results = json.loads(out.read_text())
    assert results["quick"] is True and results["runs"] == 2
    host = results["host"]
    assert host["logical_cores"] >= 1 and set(host["isa"]) >= {"avx2", "avx512f", "avx512_vnni", "avx_vnni"}
    assert host["ort_isa"]["int8"] and "inferred" in host["ort_isa"]["how"]
    assert {"onnxruntime", "opencv", "av"} <= set(host["versions"])
    assert list(results["sections"]) == ["model"]
    section = results["sections"]["model"]
    assert section["status"] == "ok"
    assert {"other_cores_busy_mean", "loadavg_1m_start"} <= set(section["load"])
    (model,) = section["result"]["models"]
    assert model["input_size"] == 64
    combos = {(e["precision"], e["threads"], e["batch"]) for e in model["encoder"]}
    assert combos == {(p, t, b) for p in ("int8", "fp32") for t in (1, 2) for b in (1, 2, 4, 8)}
    for e in model["encoder"]:
        assert _is_figure(e["per_face_ms"]["median"], 2) and _is_figure(e["per_face_ms"]["p95"], 2)
    assert {(r["threads"], r["batch"]) for r in model["int8_over_fp32"]} == {(t, b) for t in (1, 2) for b in (1, 2, 4, 8)}
    assert _is_figure(model["temporal"]["per_window_ms"]["median"], 2)
    assert model["temporal"]["window"] == 4
    detector = section["result"]["detector"]
    for r in ("short", "full"):
        assert _is_figure(detector[r]["per_frame_ms"]["median"], 2)
    md = (tmp_path / "r" / "results.md").read_text()
    assert results["cpu_line"] in md and "int8/fp32" in md and "tiny-test-64" in md


def test_bad_section_is_one_line_exit_2(tmp_path, capsys):
    assert main(["bench", "--only", "model,gpu", "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'gpu'" in err[0]
    assert not (tmp_path / "r.json").exists()


def test_missing_model_folder_is_one_line_exit_2(tmp_path, capsys):
    assert main(["bench", "--only", "model", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "r.json")]) == 2
    assert "nope" in capsys.readouterr().err


def test_failed_section_exits_2_and_still_writes_results(tiny_model, tmp_path, capsys):
    """A model file that does not match its sha256 fails the section: exit 2, as the README says."""
    model = tmp_path / "tampered"
    shutil.copytree(tiny_model, model)
    (model / "temporal.onnx").write_bytes(b"not the model")
    out = tmp_path / "r.json"
    assert main(["bench", "--quick", "--only", "model", "--model", str(model), "--out", str(out)]) == 2
    section = json.loads(out.read_text())["sections"]["model"]
    assert section["status"] == "failed" and "sha256" in section["note"]
    assert "model: failed:" in capsys.readouterr().err


def test_figure_is_median_with_spread():
    f = Figure.of([3.0, 1.0, 2.0, 10.0, 2.5], "ms")
    assert (f.median, f.min, f.max, f.runs) == (2.5, 1.0, 10.0, 5)


@pytest.mark.parametrize(
    ("flags", "int8", "fp32"),
    [
        ({"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"}, "AVX-512 VNNI", "AVX-512F"),
        ({"avx2", "fma", "avx_vnni"}, "AVX-VNNI", "AVX2 + FMA3"),
        ({"avx2", "fma", "avx512f", "avx512bw"}, "AVX-512 (no VNNI)", "AVX-512F"),
        ({"avx2", "fma"}, "AVX2", "AVX2 + FMA3"),
        ({"sse4_1"}, "SSE4.1", "SSE"),
    ],
)
def test_ort_isa_follows_mlas_order(flags, int8, fp32):
    isa = ort_isa(flags)
    assert (isa["int8"], isa["fp32"]) == (int8, fp32)


def test_cpuinfo_counts_physical_cores():
    block = "processor\t: {n}\nmodel name\t: Test CPU\nflags\t\t: fpu avx2\nphysical id\t: 0\ncore id\t\t: {c}\n\n"
    text = "".join(block.format(n=n, c=n // 2) for n in range(4))  # 2 cores, 2 threads each
    assert _cpuinfo(text) == ("Test CPU", {"fpu", "avx2"}, 2)


def _stats(worker, stream, ts, processed, dropped=0):
    """A worker's stats line: its counts since it started."""
    return {"type": "stats", "worker": worker, "stream": stream, "ts": ts, "started_at": 90.0,
            "processed": processed, "dropped": dropped, "rejected": 0, "faces": 1, "latency_ms": []}


def test_throughput_counts_frames_after_warmup_per_worker():
    # Two workers share stream a; stream b loses a third of its frames.
    events = [_stats("w1", "a", 100.0 + t, 500 + 15 * t) for t in range(0, 11)]
    events += [_stats("w2", "a", 100.5 + t, 15 * t) for t in range(0, 11)]
    events += [_stats("w1", "b", 100.0 + t, 20 * t, 10 * t) for t in range(0, 11)]
    events.insert(0, _stats("w1", "a", 99.0, 500))  # a start-up burst inside the warm-up is not counted
    run = WatchRun(events=events, started=98.0, returncode=0, stderr="")
    fps = throughput(run, warmup_s=2.0)
    assert fps["a"]["processed_fps"] == pytest.approx(30.0)
    assert fps["a"]["lost_pct"] == pytest.approx(0.0)
    assert fps["b"]["processed_fps"] == pytest.approx(20.0) and fps["b"]["dropped_fps"] == pytest.approx(10.0)
    assert held(run, 2, 2.0) == (False, pytest.approx(100 / 3))
    assert held(run, 3, 2.0)[0] is False  # a stream that never reported did not hold


def test_a_sampled_stream_loses_only_what_it_does_not_score_of_its_rate():
    events = [_stats("w1", "a", 100.0 + t, 10 * t) for t in range(0, 11)]  # 10 fps scored of a 30-fps source
    run = WatchRun(events=events, started=98.0, returncode=0, stderr="")
    assert held(run, 1, 2.0) == (False, pytest.approx(100 * 2 / 3))  # against every frame: two thirds lost
    assert held(run, 1, 2.0, rate=10.0) == (True, pytest.approx(0.0))


def test_a_step_reports_how_unevenly_the_streams_lost_frames():
    events = [_stats("w1", "a", 100.0 + t, 30 * t) for t in range(0, 11)]
    events += [_stats("w1", "b", 100.0 + t, 24 * t) for t in range(0, 11)]
    row = step_log(WatchRun(events=events, started=98.0, returncode=0, stderr=""), 2, 2.0)
    assert row["lost_pct"] == pytest.approx(20.0) and row["spread_pct"] == pytest.approx(20.0)


def test_efficiency_is_live_capacity_over_the_offline_pipeline():
    load = {"other_cores_busy_mean": 0.0, "other_cores_busy_max": 0.0, "loadavg_1m_start": 0.1,
            "loadavg_1m_end": 0.1, "top_other_processes_cpu_s": {}}
    figure = {"median": 1.5, "min": 1.5, "max": 1.5, "runs": 1}
    results = {
        "created": "now", "quick": True, "runs": 1, "cpu_line": "CPU X",
        "host": {"versions": {"onnxruntime": "1", "opencv": "2", "av": "3", "python": "3.11"}, "os": "Linux",
                 "ort_isa": {"int8": "AVX2", "fp32": "AVX2 + FMA3"}},
        "sections": {
            "capacity": {"status": "ok", "seconds": 1.0, "load": load, "result": {
                "max_lost_pct": 1.0, "seconds": 7, "warmup_seconds": 2, "configs": [{
                    "name": "default", "cores": 2, "streams": figure, "streams_per_core": figure,
                    "steps": [{"streams": 2, "lost_pct": 3.0, "spread_pct": 2.5, "held": False}],
                    "overload": {"streams": 3, "lost_pct": 40.0, "spread_pct": 5.0, "held": False}}, {
                    "name": "sampled", "cores": 1, "scored_fps": 10.0, "streams": figure, "streams_per_core": figure,
                    "steps": [{"streams": 2, "lost_pct": 3.0, "held": False}], "overload": None}]}},
            "baseline": {"status": "ok", "seconds": 1.0, "load": load, "result": {
                "baseline": {"how": "naive", "fps": {**figure, "median": 20.0}},
                "ours": {"how": "ours", "fps": {**figure, "median": 90.0}},
                "speedup": {**figure, "median": 4.5}}},
        },
    }
    md = markdown(results)
    assert "| default | 1.50 | 3.00 | 0.50 |" in md and "2:3.0% (±2.5)" in md
    assert "| sampled | 1.50 | 3.00 | – (the offline pipeline scores every frame) |" in md  # not the same work
    assert "2:3.0% (±2.5) | 3:40.0% (±5.0) |" in md  # the step at 1.5x capacity: fairness under overload


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning to one core changes nothing on one core")
def test_one_core_pins_the_threads_there_and_those_started_inside_then_lets_go():
    cores = os.sched_getaffinity(0)
    seen: list[set[int]] = []
    with one_core():
        assert os.sched_getaffinity(0) == {min(cores)}
        started = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
        started.start()
        started.join()
    assert seen == [{min(cores)}]
    assert os.sched_getaffinity(0) == cores


def test_delays_measure_from_capture_time():
    run = WatchRun(events=[
        {"type": "score", "frame_ts": 10.0, "ts": 10.05},
        {"type": "score", "frame_ts": 1.0, "ts": 1.5},  # before the warm-up ended
        {"type": "alert", "frame_ts": 10.0, "ts": 10.06},
    ], started=0.0, returncode=0, stderr="", records_seen={("id", "new", 10.0): 10.2})
    d = delays(run, warmup_s=5.0)
    assert d["score published"] == [pytest.approx(50.0)]
    assert d["alert event published"] == [pytest.approx(60.0)]
    assert d["alert record written"] == [pytest.approx(200.0)]


def test_markdown_reports_skipped_sections():
    results = json.loads(json.dumps({
        "created": "now", "quick": True, "runs": 3, "cpu_line": "CPU X",
        "host": {"versions": {"onnxruntime": "1", "opencv": "2", "av": "3", "python": "3.11"}, "os": "Linux",
                 "ort_isa": {"int8": "AVX2", "fp32": "AVX2 + FMA3"}},
        "sections": {"baseline": {"status": "skipped", "note": "needs the train extra", "seconds": 0.0,
                                  "load": {"other_cores_busy_mean": 0.0, "other_cores_busy_max": 0.0,
                                           "loadavg_1m_start": 0.1, "loadavg_1m_end": 0.1,
                                           "top_other_processes_cpu_s": {}}}},
    }))
    md = markdown(results)
    assert "CPU X" in md and "skipped: needs the train extra" in md


def _run_bench(tmp_path, model, only: str) -> dict:
    out = tmp_path / "results.json"
    assert main(["bench", "--quick", "--only", only, "--model", str(model), "--out", str(out)]) == 0
    return json.loads(out.read_text())["sections"]


def test_latency_through_a_real_dfd_watch(always_fake_model, tmp_path):
    latency = _run_bench(tmp_path, always_fake_model, "latency")["latency"]
    assert latency["status"] == "ok", latency.get("note")
    paths = latency["result"]["paths"]
    assert set(paths) == {"score published", "alert event published", "alert record written"}
    for row in paths.values():
        assert row["samples"] > 0 and _is_figure(row["p95"], 1)
        assert 0 < row["p50"]["median"] <= row["p99"]["median"]


@pytest.mark.slow
def test_capacity_and_memory_through_a_real_dfd_watch(tiny_model, tmp_path):
    sections = _run_bench(tmp_path, tiny_model, "capacity,memory")
    capacity = sections["capacity"]["result"]["configs"][0]
    assert capacity["name"] == "default" and capacity["streams"]["median"] >= 1
    assert capacity["steps"][0]["streams"] == 1
    runs = sections["memory"]["result"]["runs"]
    (one, four) = [r for r in runs if r["config"] == "default"]
    assert (one["streams"], four["streams"]) == (1, 4)
    low_end = [r for r in runs if r["config"].startswith("low-end.toml")]  # the small box's path: 4 streams
    assert [r["streams"] for r in low_end] == ([1, 4] if shutil.which("taskset") else [])
    assert {"supervisor", "capture process", "worker process"} <= set(four["per_role_mib"])
    assert four["processes"]["capture process"] == 1  # four streams, one capture process (stream.streams_per_capture)
    assert four["total_rss_mib"]["median"] > one["total_rss_mib"]["median"]
    assert 0 < four["total_own_mib"]["median"] < four["total_rss_mib"]["median"]  # libraries are left out


def test_a_model_without_an_int8_encoder_is_not_benchmarked_as_int8(tmp_path):
    from edge_model.manifest import load_manifest, write_manifest
    from tests.model_factory import make_tiny_model

    folder = make_tiny_model(tmp_path / "fp32-only")
    manifest = load_manifest(folder)
    (folder / manifest.encoder).unlink()
    manifest.encoder, manifest.encoder_precision = "encoder_fp32.onnx", "fp32"
    write_manifest(folder, manifest)
    out = tmp_path / "r" / "results.json"
    assert main(["bench", "--quick", "--only", "model", "--model", str(folder), "--runs", "1", "--out", str(out)]) == 0
    (model,) = json.loads(out.read_text())["sections"]["model"]["result"]["models"]
    rows = {e["precision"]: e for e in model["encoder"]}
    assert "no int8 encoder" in rows["int8"]["skipped"] and "per_face_ms" in rows["fp32"]
    assert model["int8_over_fp32"] == []


def test_the_profile_groups_samples_by_stage_and_leaves_waiting_out(tmp_path):
    from bench.profile import IDLE, collapse

    raw = tmp_path / "worker.stacks.txt"
    raw.write_text("\n".join([
        "run (stream/worker.py:1);process_batch (edge_model/pipeline.py:1);encode (edge_model/runner.py:1);"
        "run (onnxruntime/capi/onnxruntime_inference_collection.py:406) 70",
        "run (stream/worker.py:1);find (edge_model/pipeline.py:1);detect_all (edge_model/detector.py:1) 20",
        "run (stream/worker.py:1);recv (stream/frames.py:1);poll (zmq/sugar/poll.py:106) 50",
        "run (stream/worker.py:1);_record (stream/worker.py:1) 10",
    ]) + "\n")
    stages, leaves = collapse(raw, "worker")
    assert stages == {"encoder (ONNX Runtime)": 70, "face detector (BlazeFace, ONNX Runtime)": 20, IDLE: 50,
                      "per-frame bookkeeping (worker)": 10}
    assert sum(leaves.values()) == 100  # waiting is no one's self time


def test_the_profile_counts_only_the_profiled_processes_own_frames():
    from bench.profile import handled
    from bench.watch import WatchRun

    def stats(worker: str, stream: str, processed: int, seen: float) -> dict:
        return {"type": "stats", "worker": worker, "stream": stream, "processed": processed, "_seen": seen}

    def snapshot(a: int, b: int, seen: float) -> dict:
        return {"type": "streams", "streams": {"a": {"captured": a}, "b": {"captured": b}}, "_seen": seen,
                "processes": {"a+b": {"kind": "capture", "streams": ["a", "b"]}, "c": {"kind": "capture", "streams": ["c"]}}}

    run = WatchRun(events=[stats("w0", "a", 10, 1), stats("w1", "b", 50, 1), stats("w0", "a", 40, 2),
                           stats("w1", "b", 90, 2), snapshot(100, 7, 1), snapshot(160, 9, 2)], started=0,
                   returncode=0, stderr="")
    assert handled(run, "worker", "w0", 0, 3) == 30  # not w1's frames of stream b
    assert handled(run, "capture", "a+b", 0, 3) == 62  # its own streams' captured frames
    assert handled(run, "worker", "w0", 1.5, 3) is None  # one report in the interval: no count


def test_library_pages_imports_the_tmpfs_copy(tmp_path):
    from bench.library_pages import SHM, bytes_needed

    if not SHM.is_dir() or shutil.disk_usage(SHM).free < bytes_needed():
        pytest.skip(f"{SHM} lacks room for a copy of ONNX Runtime and OpenCV ({bytes_needed() >> 20} MiB)")
    out = tmp_path / "library_pages.json"
    subprocess.run([sys.executable, "-m", "bench.library_pages", "--out", str(out)], check=True, capture_output=True)
    result = json.loads(out.read_text())
    assert all(path.startswith("/dev/shm/") for path in result["tmpfs_from"])  # not the installed packages again
    assert not any(path.startswith("/dev/shm/") for path in result["installed_from"])
    assert result["installed_mib"] > 0 and result["tmpfs_copy_mib"] > 0


def test_a_credit_send_is_timed_on_its_own_thread_against_a_real_peer():
    from bench.send_cost import measure

    r = measure(sends=50, gap_s=0.001)
    assert r["sends"] == 50 and 0 < r["cpu_us"]["median"] <= r["cpu_us"]["p95"]


def test_paced_decoding_is_timed_per_frame_of_a_real_clip(tmp_path):
    from bench.clips import ClipSpec, clip
    from bench.paced_decode import _decode_ms

    path = clip(tmp_path, ClipSpec(160, 120, seconds=1.0, fps=30))
    ms = _decode_ms(path, streams=2, paced=True, frames=5)
    assert len(ms) == 10 and all(m > 0 for m in ms)  # two decoders in turn, five frames each


def test_paced_decoders_in_threads_are_each_timed_on_their_own_clock(tmp_path):
    from bench.clips import ClipSpec, clip
    from bench.paced_decode import _in_threads

    path = clip(tmp_path, ClipSpec(160, 120, seconds=1.0, fps=30))
    ms = _in_threads(path, streams=3, frames=4)
    assert len(ms) == 12 and all(m > 0 for m in ms)


def test_context_switches_count_each_wait_of_a_thread():
    before = context_switches(os.getpid())
    time.sleep(0.01)  # the thread blocks: a voluntary switch
    after = context_switches(os.getpid())
    assert after["voluntary"] > before["voluntary"] and after["involuntary"] >= before["involuntary"] >= 0
