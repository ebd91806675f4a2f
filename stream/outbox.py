"""A worker's alert events, in order, with a new alert's evidence written off the inference loop.

Saving a new alert's face, frame and clip (JPEG and x264 encoding) takes tens
of milliseconds; on the worker's loop it would stall every stream the worker
serves. So a `new` event waits here while a background thread writes its
evidence, and every later alert event waits behind it: the supervisor still
gets each alert's events in order, and the `new` event says where its evidence
is (or why there is none).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from stream.evidence import EvidenceWriter
from stream.wire import AlertEvent

Evidence = tuple[np.ndarray, list[np.ndarray], float]  # the frame (BGR), the face crops (RGB), their fps


@dataclass
class _Entry:
    event: AlertEvent
    ready: threading.Event = field(default_factory=threading.Event)  # set: it may be sent


class AlertOutbox:
    def __init__(self, writer: EvidenceWriter, send: Callable[[AlertEvent], object]) -> None:
        self._writer = writer
        self._send = send
        self._waiting: deque[_Entry] = deque()
        self._jobs: queue.SimpleQueue[tuple[_Entry, Evidence] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="dfd-evidence", daemon=True)
        self._thread.start()

    def put(self, event: AlertEvent, evidence: Evidence | None = None) -> None:
        """Queue an event; with `evidence`, it goes out once that is written."""
        entry = _Entry(event)
        if evidence is None:
            entry.ready.set()
        else:
            self._jobs.put((entry, evidence))
        self._waiting.append(entry)
        self.flush()

    def flush(self) -> None:
        """Send, in order, every event no unwritten evidence holds back (called every loop)."""
        while self._waiting and self._waiting[0].ready.is_set():
            self._send(self._waiting.popleft().event)

    def close(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the evidence being written, then send everything left."""
        self._jobs.put(None)
        self._thread.join(timeout_s)
        while self._waiting:
            entry = self._waiting.popleft()
            event = entry.event
            if not entry.ready.is_set():  # still writing: the event goes out without it, saying so
                event = replace(event, evidence={}, details={**event.details,
                                "evidence_error": "not written before the worker stopped"})
            self._send(event)

    def _write(self) -> None:
        while (job := self._jobs.get()) is not None:
            entry, (frame, crops, fps) = job
            event = entry.event
            try:
                event.evidence = self._writer.save(event.stream, event.alert_id, frame, crops, fps)
            except (OSError, ValueError) as exc:  # a full disk must not stop the alert
                event.details["evidence_error"] = str(exc)
            entry.ready.set()
