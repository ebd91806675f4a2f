"""How much RSS a worker's two big libraries add, loaded from where they are installed and from tmpfs.

The same files, the same imports: only the page cache behind them differs. Where
the page cache holds a library in large folios, a page fault maps a whole folio,
so a library's resident share depends on the kernel and on what the page cache
holds at the moment as much as on the process (README, "Memory and the kernel").
The result also records /proc/meminfo's FileHugePages (file pages cached as huge pages).

    python -m bench.library_pages [--out JSON]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

from bench.procfs import meminfo_kib

PACKAGES = ("onnxruntime", "cv2")
SHM = Path("/dev/shm")  # tmpfs: page cache in 4-KiB pages unless mounted with huge=

PROBE = """
import json, os
from bench.procfs import rss_kib
import numpy, zmq
before = rss_kib(os.getpid())
import onnxruntime, cv2
print(json.dumps({"mib": (rss_kib(os.getpid()) - before) / 1024, "from": [onnxruntime.__file__, cv2.__file__]}))
"""


def _import_cost(pythonpath: str | None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def folders() -> list[Path]:
    """The packages, and the shared libraries OpenCV's wheel bundles beside them (FFmpeg, OpenBLAS)."""
    packages = [Path(find_spec(name).origin).parent for name in PACKAGES]
    return packages + sorted(packages[-1].parent.glob("opencv_*.libs"))


def bytes_needed() -> int:
    """What the tmpfs copy takes (about 250 MB): a container's /dev/shm is often 64 MB."""
    return sum(f.stat().st_size for folder in folders() for f in folder.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("library_pages.json"))
    args = parser.parse_args()
    free, needed = shutil.disk_usage(SHM).free, bytes_needed()
    if free < needed:
        sys.exit(f"bench.library_pages: {SHM} has {free >> 20} MiB free and the copy needs {needed >> 20}")
    installed = _import_cost(None)
    with tempfile.TemporaryDirectory(dir=SHM) as tmp:
        for folder in folders():
            shutil.copytree(folder, Path(tmp) / folder.name)
        tmpfs = _import_cost(tmp)
    result = {"kernel": platform.release(), "file_huge_pages_mib": meminfo_kib("FileHugePages") >> 10,
              "imports": "onnxruntime, cv2 (after numpy, zmq)",
              "installed_mib": round(installed["mib"], 1), "tmpfs_copy_mib": round(tmpfs["mib"], 1),
              "installed_from": installed["from"], "tmpfs_from": tmpfs["from"]}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
