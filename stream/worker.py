"""An inference worker: frames in, face scores and alert events out.

A worker takes frames of the streams it serves (credit-based: it asks for the
next frame of a stream only when it is done with the last one), runs the
edge_model pipeline on each, applies the alert policy, saves evidence at
`new`, and sends stats, scores and alerts to the supervisor. It is the same
code on this host (frames from shared memory) and on another host (JPEG
frames over tcp).
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import zmq

from edge_model.errors import DfdError
from edge_model.pipeline import FacePipeline, FrameResult, build_pipeline, process_batch
from stream.capture_spec import EXIT_UNUSABLE
from stream.events import EventSender
from stream.evidence import EvidenceWriter
from stream.frames import Frame, FrameReceiver
from stream.lifeline import die_with_parent, private_files
from stream.logs import install_logging
from stream.outbox import AlertOutbox
from stream.policy import AlertPolicy
from stream.transport import Security
from stream.wire import AlertEvent, FaceBoxes, ScoreEvent, WorkerStats
from stream.worker_spec import WorkerSpec

STATS_EVERY_S = 1.0
EVENTS_HOLD_S = 0.1  # stats, scores and face boxes leave together, about this late (alerts never wait)
EVIDENCE_WAIT_S = 2.0  # at stop, for a new alert's evidence still being written (within the stop grace)

log = logging.getLogger(__name__)
BOXES_EVERY_S = 0.25  # the web page's live view: a few times a second per stream, never blocking


@dataclass
class _StreamWork:
    pipeline: FacePipeline
    policy: AlertPolicy
    crops: dict[int, deque] = field(default_factory=dict)  # track -> its last face crops (for the clip)
    processed: int = 0  # since the worker started
    faces: int = 0
    latency_ms: list[float] = field(default_factory=list)  # since the last stats message
    faces_seen: int = 0  # since the worker started
    stage_ms: dict[str, list[float]] = field(default_factory=dict)  # since the last stats message
    frame_times: deque = field(default_factory=lambda: deque(maxlen=30))
    crowded: bool = False  # more faces than detector.max_faces were seen (said once)
    p_fake: dict[int, float] = field(default_factory=dict)  # track -> its last window score
    boxes_sent: float = 0.0  # monotonic time of the last FaceBoxes


class Worker:
    def __init__(self, spec: WorkerSpec, ctx: zmq.Context, security: Security | None) -> None:
        cfg = spec.settings
        self.spec = spec
        self.started_at = time.time()  # every counter it reports counts from here
        self.pipeline = build_pipeline(cfg.pipeline, cfg.model_path or None)  # each stream gets another() of it
        self.runner = self.pipeline.runner
        self.frames = FrameReceiver(ctx, spec.frames, security, spec.rings)
        self.events = EventSender(ctx, spec.events_endpoint, security, EVENTS_HOLD_S)
        self.outbox = AlertOutbox(EvidenceWriter(cfg.evidence_dir), self.events.send)
        self.streams: dict[str, _StreamWork] = {}
        self.stopping = False

    def _work(self, stream: str) -> _StreamWork:
        if stream not in self.streams:
            cfg = self.spec.settings
            policy = AlertPolicy(stream, cfg.levels, self.runner.model_id, cfg.update_every_s)
            self.streams[stream] = _StreamWork(self.pipeline.another(), policy)
        return self.streams[stream]

    def process(self, frames: list[Frame]) -> None:
        """One batch: frames of different streams, their faces encoded together."""
        works = [self._work(f.header.stream) for f in frames]
        results = process_batch([(w.pipeline, f.image, f.header.seq, f.header.ts) for w, f in zip(works, frames)])
        for frame, w, result in zip(frames, works, results):
            self._record(frame, w, result)

    def _record(self, frame: Frame, w: _StreamWork, result: FrameResult) -> None:
        h = frame.header
        done = time.time()
        w.processed += 1
        w.faces = len(result.faces)
        w.faces_seen += w.faces
        for stage, seconds in result.stage_s.items():
            w.stage_ms.setdefault(stage, []).append(round(seconds * 1000.0, 3))
        if result.left_out and not w.crowded:
            w.crowded = True
            log.warning("%s: more faces than detector.max_faces = %d on one frame: %d left out, unchecked "
                        "(raise detector.max_faces)", h.stream, self.spec.settings.pipeline.max_faces, result.left_out)
        w.latency_ms.append((done - h.ts) * 1000.0)
        w.frame_times.append(h.ts)
        for face in result.faces:
            w.crops.setdefault(face.track_id, deque(maxlen=self.spec.settings.clip_frames)).append(face.crop)
        for win in result.windows:
            w.p_fake[win.track_id] = win.p_fake
            self.events.send(ScoreEvent(h.stream, win.track_id, h.seq, h.ts, done, win.p_fake))
            for event in w.policy.score(win, h.ts):
                self._alert(w, event, frame.image)
        for track in result.ended:
            for event in w.policy.track_ended(track, h.ts):
                self._alert(w, event, frame.image)
            w.crops.pop(track, None)
            w.p_fake.pop(track, None)
        if self.spec.settings.web and time.monotonic() - w.boxes_sent >= BOXES_EVERY_S:  # only for a page
            w.boxes_sent = time.monotonic()
            boxes = [(*map(float, f.box), f.track_id, w.p_fake.get(f.track_id, -1.0)) for f in result.faces]
            self.events.send(FaceBoxes(h.stream, h.seq, h.ts, boxes))

    def _alert(self, w: _StreamWork, event: AlertEvent, image: np.ndarray | None) -> None:
        """Hand the event to the outbox; a new alert's evidence is written there, off this loop."""
        event.ts = time.time()
        evidence = None
        if event.kind == "new" and image is not None:
            span = w.frame_times[-1] - w.frame_times[0] if len(w.frame_times) > 1 else 0.0
            fps = (len(w.frame_times) - 1) / span if span > 0 else 25.0
            evidence = (image, list(w.crops.get(event.track, ())), fps)
        self.outbox.put(event, evidence)

    def publish_stats(self) -> None:
        """Counters since this worker started, per stream; the latency samples since the last report."""
        now = time.time()
        counters = self.frames.counters
        for stream in sorted(set(counters.skipped) | set(self.streams)):
            w = self._work(stream)
            self.events.send(WorkerStats(
                self.spec.name, stream, now, self.started_at, w.processed, counters.skipped.get(stream, 0),
                counters.rejected, w.faces, [round(x, 2) for x in w.latency_ms], w.faces_seen, w.stage_ms,
            ))
            w.latency_ms, w.stage_ms = [], {}

    def run(self) -> None:
        last = time.monotonic()
        while not self.stopping:
            self.outbox.flush()  # alert events whose evidence is written now
            self.events.flush()  # held scores and stats once due; alert events the supervisor could not take yet
            frames = self.frames.recv_batch(EVENTS_HOLD_S, self.spec.settings.batch)
            if frames:
                self.process(frames)
                for frame in frames:
                    self.frames.ready(frame.header.stream)
            if time.monotonic() - last >= STATS_EVERY_S:
                self.publish_stats()
                last = time.monotonic()
        now = time.time()
        for w in self.streams.values():
            for event in w.policy.close(now):
                self._alert(w, event, None)
        self.outbox.close(EVIDENCE_WAIT_S)
        self.publish_stats()

    def close(self) -> None:
        self.frames.close()
        self.events.close()


def run_worker(spec: WorkerSpec) -> None:
    """Process entry point. SIGTERM (and Ctrl-C when not supervised) ends open alerts and stops."""
    private_files()
    install_logging(prefix=f"dfd watch: worker {spec.name}")
    if spec.supervised:
        die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    ctx = zmq.Context()
    security = Security(ctx, spec.curve) if spec.curve else None
    try:
        worker = Worker(spec, ctx, security)
    except DfdError as exc:
        print(f"dfd watch: worker {spec.name}: {exc}", file=sys.stderr, flush=True)
        if security:
            security.close()
        ctx.destroy(linger=0)
        sys.exit(EXIT_UNUSABLE)

    def stop(*_: object) -> None:
        worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    if not spec.supervised:
        signal.signal(signal.SIGINT, stop)
    try:
        worker.run()
    finally:
        worker.close()
        if security:
            security.close()
        ctx.term()
