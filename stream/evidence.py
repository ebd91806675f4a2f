"""Evidence of an alert, saved once at `new`: the face, the whole frame, and a short clip.

The clip is the face crops of the window that raised the alert (what the
model saw), written as an H.264 mp4 with PyAV. Files go under
`<evidence_dir>/<stream>/<alert id>-{face.jpg,frame.jpg,clip.mp4}`. Each is
written under a temporary name and renamed when complete, so a full disk or
a crash never leaves a truncated file that a record points to.

PyAV writes the JPEGs too (FFmpeg's MJPEG encoder), so that a worker never
loads OpenCV. PyAV loads at the first write, not at import: the supervisor
imports this module only to check the folder at start, and a worker that
raises no alert never loads PyAV. A write that fails raises OSError or ValueError.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the supervisor checks the folder without numpy
    import numpy as np

# MJPEG's quantiser scale (2-31, lower is finer); 4 at 4:4:4 is about libjpeg's quality 90 in size,
# with less error (mean 2.0 against 2.6 levels on a 640x480 test image).
JPEG_QSCALE = 4


def safe_name(name: str) -> str:
    """A stream name as a folder name (names are already restricted; this is belt and braces)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "stream"


def _complete_or_nothing(path: Path, write: Callable[[Path], None]) -> None:
    """`write` to a temporary name next to `path`, then rename: the file is whole or absent."""
    part = path.with_name(f".{path.name}.part")
    try:
        write(part)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def _write_jpeg(path: Path, image_bgr: np.ndarray) -> None:
    _complete_or_nothing(path, lambda p: p.write_bytes(_jpeg(path.name, image_bgr)))


def _jpeg(name: str, image_bgr: np.ndarray) -> bytes:
    import av

    h, w = image_bgr.shape[:2]
    try:
        codec = av.CodecContext.create("mjpeg", "w")
        codec.width, codec.height, codec.pix_fmt = w, h, "yuvj444p"
        codec.time_base = Fraction(1, 1)
        codec.qmin = codec.qmax = JPEG_QSCALE
        frame = av.VideoFrame.from_ndarray(image_bgr, format="bgr24").reformat(format="yuvj444p")
        return b"".join(bytes(p) for p in codec.encode(frame) + codec.encode(None))
    except av.error.FFmpegError as exc:
        raise OSError(f"{name}: JPEG encoding failed: {exc}") from exc


def write_clip(path: Path, crops_rgb: list[np.ndarray], fps: float) -> None:
    """uint8 RGB crops of one size -> an mp4 (H.264, yuv420p)."""
    _complete_or_nothing(path, lambda part: _encode_clip(part, crops_rgb, fps))


def _encode_clip(path: Path, crops_rgb: list[np.ndarray], fps: float) -> None:
    import av
    import numpy as np

    h, w = crops_rgb[0].shape[:2]
    try:
        with av.open(str(path), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(max(1, round(fps)), 1))
            stream.width, stream.height = w // 2 * 2, h // 2 * 2
            stream.pix_fmt = "yuv420p"
            stream.options = {"preset": "veryfast", "crf": "23"}
            for crop in crops_rgb:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(crop[: stream.height, : stream.width]), format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
    except av.error.FFmpegError as exc:  # one error type for the caller, which need not load PyAV to catch it
        raise OSError(f"{path.name}: {exc}") from exc


def unwritable(root: str | Path) -> str:
    """Why evidence can't be saved under `root` (one line with the fix), or "" when it can.

    Checked once at start, so the user hears of it then, not inside the first alert's record.
    """
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            return ""
    except OSError as exc:
        return (
            f"evidence folder {root} is not writable ({exc.strerror or exc}): alerts are recorded without"
            " snapshots or clips; fix: --evidence-dir DIR (alerts.evidence_dir) you can write to, or its permissions"
        )


class EvidenceWriter:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def save(
        self,
        stream: str,
        alert_id: str,
        frame_bgr: np.ndarray,
        crops_rgb: list[np.ndarray],
        fps: float,
    ) -> dict[str, str]:
        """Write the evidence; returns {"face", "frame", "clip"} -> path (what was written)."""
        folder = self.root / safe_name(stream)
        folder.mkdir(parents=True, exist_ok=True)
        base = folder / safe_name(alert_id)
        paths = {
            "face": base.with_name(base.name + "-face.jpg"),
            "frame": base.with_name(base.name + "-frame.jpg"),
            "clip": base.with_name(base.name + "-clip.mp4"),
        }
        _write_jpeg(paths["frame"], frame_bgr)
        if not crops_rgb:
            return {"frame": str(paths["frame"])}
        _write_jpeg(paths["face"], crops_rgb[-1][..., ::-1].copy())  # RGB -> BGR, contiguous
        write_clip(paths["clip"], crops_rgb, fps)
        return {k: str(v) for k, v in paths.items()}
