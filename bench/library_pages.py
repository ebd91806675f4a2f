"""How much RSS a worker's two big libraries add, loaded from where they are installed and from tmpfs.

The same files, the same imports: only the page cache behind them differs. From
Linux 6.16 ext4 caches files in large folios and a page fault maps a whole
folio, so a library's resident share depends on the kernel and the file system
as much as on the process (README, "Memory and the kernel"):

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

PACKAGES = ("onnxruntime", "cv2")
SHM = Path("/dev/shm")  # tmpfs: page cache in 4-KiB pages unless mounted with huge=

PROBE = """
import json
def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
import numpy, zmq
before = rss()
import onnxruntime, cv2
print(json.dumps({"mib": rss() - before, "from": [onnxruntime.__file__, cv2.__file__]}))
"""


def _import_cost(pythonpath: str | None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def _copy_packages(dest: Path) -> None:
    """The packages, and the shared libraries OpenCV's wheel bundles beside them (FFmpeg, OpenBLAS)."""
    for name in PACKAGES:
        folder = Path(find_spec(name).origin).parent
        shutil.copytree(folder, dest / folder.name)
    for libs in Path(find_spec("cv2").origin).parent.parent.glob("opencv_*.libs"):
        shutil.copytree(libs, dest / libs.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("library_pages.json"))
    args = parser.parse_args()
    installed = _import_cost(None)
    with tempfile.TemporaryDirectory(dir=SHM) as tmp:
        _copy_packages(Path(tmp))
        tmpfs = _import_cost(tmp)
    result = {"kernel": platform.release(), "imports": "onnxruntime, cv2 (after numpy, zmq)",
              "installed_mib": round(installed["mib"], 1), "tmpfs_copy_mib": round(tmpfs["mib"], 1),
              "installed_from": installed["from"], "tmpfs_from": tmpfs["from"]}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
