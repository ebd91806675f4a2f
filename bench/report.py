"""results.md: the results as Markdown tables, each figure as "median (min–max)" over its runs."""

from __future__ import annotations

from pathlib import Path

from bench.capacity import FPS


def fig(f: dict | None, digits: int = 1) -> str:
    if not f:
        return "–"
    if f["runs"] == 1:
        return f"{f['median']:.{digits}f}"
    return f"{f['median']:.{digits}f} ({f['min']:.{digits}f}–{f['max']:.{digits}f})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows] + [""]


def _model(r: dict) -> list[str]:
    out = [r["note"], ""] if "note" in r else []
    if r["models"]:
        out += ["Encoder, ms per face (batch n: the batch's time / n):", ""]
        rows = []
        for m in r["models"]:
            for e in m["encoder"]:
                ms = e.get("per_face_ms")
                rows.append([m["model_id"], m["input_size"], e["precision"], e["threads"], e["batch"],
                             fig(ms and ms["median"], 2), fig(ms and ms["p95"], 2) if ms else e.get("skipped", "")])
        out += _table(["model", "input", "precision", "threads", "batch", "median ms", "p95 ms"], rows)
        ratios = [[m["input_size"], q["threads"], q["batch"], f"{q['int8_over_fp32']:.2f}"]
                  for m in r["models"] for q in m["int8_over_fp32"]]
        if ratios:
            out += ["int8 time / fp32 time (below 1: int8 is faster):", ""]
            out += _table(["input", "threads", "batch", "int8/fp32"], ratios)
        out += _table(["temporal head", "window", "median ms per window", "p95 ms"],
                      [[m["model_id"], f"{m['temporal']['rnn']} T={m['temporal']['window']}",
                        fig(m["temporal"]["per_window_ms"]["median"], 3), fig(m["temporal"]["per_window_ms"]["p95"], 3)]
                       for m in r["models"]])
    det = r.get("detector", {})
    if "skipped" in det:
        out += [f"Face detector: skipped ({det['skipped']})", ""]
    else:
        out += _table([f"face detector, {det['frame']} frame", "faces found", "median ms", "p95 ms"],
                      [[k, det[k]["faces_found"], fig(det[k]["per_frame_ms"]["median"], 2),
                        fig(det[k]["per_frame_ms"]["p95"], 2)] for k in ("short", "full")])
    return out


def _decode(r: dict) -> list[str]:
    modes = ("decode", "decode_bgr", "decode_bgr_reused", "decode_bgr_one_thread")
    captures = ("capture_process", "capture_process_glibc_defaults")
    return _table(["H.264 clip", "decode", "decode + to_ndarray(bgr24)", "decode + BGR, reused reformatter",
                   "the same, one decoder thread (a capture)",
                   "a capture process: decode, BGR, ring copy (stream.heap's limits)", "the same, glibc's defaults"],
                  [[size, *(f"{fig(row.get(f'{m}_fps'), 0)} fps, {fig(row.get(f'{m}_cpu_ms'), 2)} ms CPU" for m in modes),
                    *(f"{fig(row.get(f'{m}_cpu_ms'), 2)} ms CPU, {fig(row.get(f'{m}_faults'), 0)} page faults"
                      for m in captures)]
                   for size, row in r.items()])


def _capacity(r: dict) -> list[str]:
    cap = r.get("max_streams")
    rows = [[c["name"], c["cores"], fig(c["streams"], 0) + (" (the search's cap)" if c["streams"]["min"] == cap else ""),
             fig(c["streams_per_core"], 2),
             " ".join(_step(s) for s in c["steps"]), _step(c["overload"]) if c.get("overload") else "–"]
            for c in r["configs"]]
    return [f"30-fps 640x480 one-face streams held with under {r['max_lost_pct']:g}% of the source's frames lost "
            f"(skipped, dropped or captured late; {r['seconds']:g} s per step, the first {r['warmup_seconds']:g} s "
            "not counted; a config that scores fewer frames a second, `stream.sample_fps`, loses against that rate):",
            ""] + _table(
        ["config", "cores", "streams held", "streams per core",
         "last run's steps (streams: worst % lost, spread max - min across streams)",
         "at 1.5x capacity (fairness)"], rows)


def _step(s: dict) -> str:
    spread = f" (±{s['spread_pct']:.1f})" if "spread_pct" in s else ""
    return f"{s['streams']}:{s['lost_pct']:.1f}%{spread}"


def _efficiency(results: dict) -> list[str]:
    """The live system against its own offline pipeline, both measured in this run: the ratio that matters."""
    sections = results["sections"]
    cap, base = sections.get("capacity"), sections.get("baseline")
    if not (cap and base and cap["status"] == "ok" and base["status"] == "ok"):
        return []
    offline = base["result"]["ours"]["fps"]["median"] / FPS
    rows = [[c["name"], f"{c['streams_per_core']['median']:.2f}", f"{offline:.2f}",
             f"{c['streams_per_core']['median'] / offline:.2f}" if c.get("scored_fps", FPS) >= FPS
             else "– (the offline pipeline scores every frame)"] for c in cap["result"]["configs"]]
    return ["## Efficiency", "", f"Live streams per core against the offline pipeline's (its fps on one core / {FPS}):",
            ""] + _table(["config", "live streams per core", "offline streams per core", "live / offline"], rows)


def _latency(r: dict) -> list[str]:
    rows = [[name, row["samples"], fig(row["p50"], 0), fig(row["p95"], 0), fig(row["p99"], 0)]
            for name, row in r["paths"].items()]
    return [f"{r['streams']} stream(s), policy set to alert on every face track; ms:", ""] + _table(
        ["from capture to", "samples (last run)", "p50 ms", "p95 ms", "p99 ms"], rows)


def _memory(r: dict) -> list[str]:
    out = []
    for run in r["runs"]:
        rows = [[f"{role} (largest of {run['processes'].get(role, 1)})" if run["processes"].get(role, 1) > 1 else role,
                 fig(f, 0)] for role, f in run["per_role_mib"].items()]
        rows.append(["**whole `dfd watch` (sum of RSS)**", fig(run["total_rss_mib"], 0)])
        rows.append(["whole `dfd watch` (sum of PSS: shared pages counted once)", fig(run["total_pss_mib"], 0)])
        rows.append(["whole `dfd watch` (sum of RSS less library pages: RssAnon + RssShmem)", fig(run["total_own_mib"], 0)])
        out += _table([f"{run['config']}, {run['streams']} stream(s): process", "peak RSS MiB"], rows)
    return out


def _baseline(r: dict) -> list[str]:
    rows = [[r["baseline"]["how"], fig(r["baseline"]["fps"], 1)], [r["ours"]["how"], fig(r["ours"]["fps"], 1)]]
    return _table(["same clip, as fast as possible", "fps"], rows) + [
        f"Ours / baseline: **{r['speedup']['median']:.1f}x** (runs {r['speedup']['min']:.1f}–{r['speedup']['max']:.1f}x).", ""]


RENDER = {"model": _model, "decode": _decode, "capacity": _capacity, "latency": _latency,
          "memory": _memory, "baseline": _baseline}


def _load(results: dict) -> list[str]:
    rows = [[name, s["seconds"], f"{s['load']['other_cores_busy_mean']:.2f} / {s['load']['other_cores_busy_max']:.2f}",
             f"{s['load']['loadavg_1m_start']:.2f} → {s['load']['loadavg_1m_end']:.2f}",
             ", ".join(f"{k} {v}s" for k, v in s["load"]["top_other_processes_cpu_s"].items()) or "–"]
            for name, s in results["sections"].items()]
    return _table(["section", "seconds", "cores busy with other processes (mean / max)", "loadavg 1 min",
                   "busiest other processes (CPU s)"], rows)


def markdown(results: dict) -> str:
    host = results["host"]
    v = host["versions"]
    lines = [
        "# dfd bench results", "",
        f"**CPU:** {results['cpu_line']}", "",
        f"{results['created']}, {'--quick' if results['quick'] else 'full run'}, every figure is the median of "
        f"{results['runs']} runs ({results.get('watch_runs', results['runs'])} for the `dfd watch` sections) "
        f"with (min–max). onnxruntime {v['onnxruntime']}, opencv {v['opencv']}, "
        f"PyAV {v['av']}, Python {v['python']}, {host['os']}. ONNX Runtime kernels (inferred from CPU flags): "
        f"int8 {host['ort_isa']['int8']}, fp32 {host['ort_isa']['fp32']}.", "",
    ]
    for n in results.get("notes", []):
        lines += [f"Note: {n}", ""]
    lines += ["## Other load on the machine", ""] + _load(results)
    for name, s in results["sections"].items():
        lines += [f"## {name.capitalize()}", ""]
        if s["status"] != "ok":
            lines += [f"{s['status']}: {s['note']}", ""]
            continue
        lines += RENDER[name](s["result"])
    lines += _efficiency(results)
    return "\n".join(lines)


def write_markdown(results: dict, path: Path) -> Path:
    path.write_text(markdown(results), encoding="utf-8")
    return path
