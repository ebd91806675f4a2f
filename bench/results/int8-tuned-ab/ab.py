"""Offline pipeline fps, the old and the new packaged encoder in turn (README.md).

Run from the repository root after `git show 5f0db90:edge_model/models/default/FILE > /tmp/prof/m_old/FILE`
for the four model files; the clip is made in /tmp/prof.
"""

import statistics
from pathlib import Path

from bench.baseline import one_core, ours_fps
from bench.clips import ClipSpec, clip
from edge_model.manifest import DEFAULT_MODEL_DIR

path = clip(Path("/tmp/prof"), ClipSpec(640, 480, seconds=10.0, fps=30))
res: dict[str, list[float]] = {"old": [], "new": []}
with one_core():
    for _ in range(6):
        for name, folder in (("old", Path("/tmp/prof/m_old")), ("new", DEFAULT_MODEL_DIR)):
            res[name].append(round(ours_fps(path, folder, 300), 1))
for name, fps in res.items():
    print(name, fps, "median", statistics.median(fps))
