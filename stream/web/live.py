"""The live view: the newest frame of a stream's ring as a JPEG, its faces boxed and coloured by score.

Nothing is read until a page asks. A request copies the newest frame out of the
ring (read-only; the supervisor created it) and encodes it; a JPEG younger than
1/live_fps is served again, so several open pages cost what one does and a
page never costs more than a few frames a second.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from stream.ring import FrameRing
from stream.wire import FaceBoxes

JPEG_QUALITY = 75
BOXES_STALE_S = 1.0  # boxes older than this (the worker is behind or gone) are not drawn
RED, GREEN, GREY = (40, 40, 230), (60, 190, 60), (170, 170, 170)  # BGR


def draw_boxes(frame: np.ndarray, boxes: list[tuple[float, float, float, float, int, float]],
               threshold: float) -> None:
    """Red above the model's threshold, green below, grey before the track's first score."""
    for x1, y1, x2, y2, track, p_fake in boxes:
        colour = GREY if p_fake < 0 else RED if p_fake >= threshold else GREEN
        p1, p2 = (int(x1), int(y1)), (int(x2), int(y2))
        cv2.rectangle(frame, p1, p2, colour, 2)
        label = f"#{track} " + ("..." if p_fake < 0 else f"{p_fake:.2f}")
        cv2.putText(frame, label, (p1[0], max(12, p1[1] - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)


class LiveView:
    def __init__(self, fps: float) -> None:
        self.rings: dict[str, FrameRing] = {}
        self.threshold = 0.5  # the model's, from the supervisor's stats
        self._period = 1.0 / fps
        self._boxes: dict[str, tuple[float, FaceBoxes]] = {}  # stream -> (received, boxes)
        self._cache: dict[str, tuple[float, bytes]] = {}  # stream -> (encoded, jpeg)
        self._lock = threading.Lock()

    def detach(self) -> None:
        """Read no ring from now on (the supervisor unlinks them next)."""
        with self._lock:
            for ring in self.rings.values():
                ring.close()
            self.rings = {}

    def boxes(self, msg: FaceBoxes) -> None:
        with self._lock:
            self._boxes[msg.stream] = (time.monotonic(), msg)

    def jpeg(self, stream: str) -> bytes | None:
        """The stream's newest frame with its boxes, or None (no such ring, or no frame yet)."""
        with self._lock:  # the ring is read under the lock: `detach` waits for a read in flight
            ring = self.rings.get(stream)
            if ring is None:
                return None
            now = time.monotonic()
            cached = self._cache.get(stream)
            if cached and now - cached[0] < self._period:
                return cached[1]
            latest = ring.latest()
            if latest is None:
                return None
            received, faces = self._boxes.get(stream, (0.0, None))
            frame = latest[1]
            if faces is not None and now - received < BOXES_STALE_S:
                draw_boxes(frame, faces.boxes, self.threshold)
            ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                return None
            self._cache[stream] = (now, data.tobytes())
            return self._cache[stream][1]
