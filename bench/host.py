"""Facts about the machine a result came from: CPU, instruction sets, library versions.

ONNX Runtime does not report which kernels its MLAS library dispatched to, so
the instruction set is inferred from the CPU flags in MLAS's own order of
preference (AMX, then AVX-512 VNNI, AVX-VNNI, AVX-512, AVX2) and labelled as
inferred.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

from bench.procfs import PROC

ISA_FLAGS = {
    "avx2": "avx2",
    "fma": "fma",
    "avx512f": "avx512f",
    "avx512bw": "avx512bw",
    "avx512_vnni": "avx512_vnni",
    "avx_vnni": "avx_vnni",
    "amx_int8": "amx_int8",
}
PACKAGES = ["onnxruntime", "opencv-python-headless", "av", "numpy", "pyzmq", "dfd", "torch"]


def _cpuinfo(text: str) -> tuple[str, set[str], int]:
    """Model name, flags and physical core count from /proc/cpuinfo text."""
    model, flags, cores = "unknown", set(), set()
    phys = core = ""
    for line in text.splitlines():
        key, _, value = (s.strip() for s in line.partition(":"))
        if key == "model name" and model == "unknown":
            model = value
        elif key == "flags" and not flags:
            flags = set(value.split())
        elif key == "physical id":
            phys = value
        elif key == "core id":
            core = value
            cores.add((phys, core))
    return model, flags, len(cores)


def ort_isa(flags: set[str]) -> dict[str, str]:
    """The kernels MLAS picks for int8 and fp32 GEMM on these flags (its dispatch order)."""
    if "amx_int8" in flags:
        int8 = "AMX"
    elif "avx512_vnni" in flags:
        int8 = "AVX-512 VNNI"
    elif "avx_vnni" in flags:
        int8 = "AVX-VNNI"
    elif "avx512bw" in flags:
        int8 = "AVX-512 (no VNNI)"
    elif "avx2" in flags:
        int8 = "AVX2"
    else:
        int8 = "SSE4.1"
    if "avx512f" in flags:
        fp32 = "AVX-512F"
    elif "avx2" in flags and "fma" in flags:
        fp32 = "AVX2 + FMA3"
    else:
        fp32 = "SSE"
    return {
        "int8": int8,
        "fp32": fp32,
        "how": "inferred from /proc/cpuinfo flags in MLAS's dispatch order; ONNX Runtime does not report it",
    }


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def host_facts() -> dict:
    cpuinfo = PROC / "cpuinfo"
    text = cpuinfo.read_text() if cpuinfo.is_file() else ""
    model, flags, physical = _cpuinfo(text)
    if model == "unknown":
        model = platform.processor() or platform.machine()
    import av
    import cv2
    import onnxruntime

    versions = {p: _version(p) for p in PACKAGES}
    versions.update(
        python=sys.version.split()[0],
        onnxruntime=onnxruntime.__version__,
        opencv=cv2.__version__,
        av=av.__version__,
        ffmpeg=".".join(str(v) for v in av.library_versions.get("libavcodec", ())) or None,
    )
    versions.pop("opencv-python-headless", None)
    return {
        "cpu": model,
        "logical_cores": os.cpu_count(),
        "physical_cores": physical or None,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "isa": {name: flag in flags for name, flag in ISA_FLAGS.items()},
        "ort_isa": ort_isa(flags),
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
    }


def cpu_line(host: dict) -> str:
    """One line for the README: the CPU, its cores and the instruction sets that matter."""
    isa = [name.upper().replace("_", "-") for name, on in host["isa"].items() if on and name not in ("fma", "avx512bw")]
    return (
        f"{host['cpu']}, {host['usable_cores']} usable of {host['logical_cores']} logical cores; "
        f"{', '.join(isa) or 'no AVX2'}; ONNX Runtime {host['versions']['onnxruntime']} "
        f"(int8 kernels: {host['ort_isa']['int8']}, inferred)"
    )
