"""One video (or photo, or crop pair) -> face clips: decode, detect, track, crop with the run time's crop.

Runs in worker processes; each builds its detector, tracker and face mesh
once. A worker writes its clips' files itself (the names are unique per
video) and returns only the index records, so the main process is the only
writer of the index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_model.crop import CropSpec, crop_face, crop_transform, map_points
from edge_model.errors import DfdError
from edge_model.media import VideoError, is_image, read_frames, read_image
from edge_model.pipeline import FaceFinder, face_detector
from edge_model.settings import PipelineSettings
from training.sources import CropPair, Item, MediaItem
from training.store import Clip, ClipRecord, Dataset


@dataclass
class PrepareOptions:
    spec: CropSpec
    fps: float | None = 10.0
    min_track: int = 8  # frames; shorter tracks of a video are dropped (a photo keeps its one frame)
    max_frames: int = 0  # per video, 0 = all
    faces: PipelineSettings = PipelineSettings()  # the detector's and tracker's, as at run time
    mesh: bool = True


@dataclass
class VideoResult:
    video: dict  # what videos.jsonl records
    records: list[ClipRecord] = field(default_factory=list)
    error: str | None = None


@dataclass
class _TrackFaces:
    faces: list[np.ndarray] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    keypoints: list[np.ndarray] = field(default_factory=list)
    mesh: list[np.ndarray] = field(default_factory=list)


def load_mesh(enabled: bool):
    """The face-mesh model where it is available, else None (masks then come from keypoints)."""
    if not enabled:
        return None
    try:
        from edge_model.facemesh import FaceMesh

        return FaceMesh()
    except (ImportError, OSError, DfdError) as exc:  # the module or its model file is missing
        print(f"face mesh unavailable, masks will come from keypoints: {exc}")
        return None


class Preparer:
    """Holds the per-process models; call it on one media item at a time."""

    def __init__(self, out: Dataset, opts: PrepareOptions) -> None:
        self.out = out
        self.opts = opts
        self.detector = face_detector(opts.faces)
        self.mesh = load_mesh(opts.mesh)

    def __call__(self, item: Item) -> VideoResult:
        if isinstance(item, CropPair):
            return self._pair(item)
        video = {"video_id": item.video_id, "name": item.path.name, **item.record()}
        try:
            tracks = self._tracks(item)
        except VideoError as exc:
            return VideoResult(video, error=str(exc))
        min_len = 1 if is_image(item.path) else self.opts.min_track
        records = []
        for tid, t in sorted(tracks.items()):
            if len(t.faces) < min_len:
                continue
            record = ClipRecord(
                clip=f"{item.video_id}__t{tid}",
                video_id=item.video_id,
                group=item.group,
                label=item.label,
                method=item.method,
                source=item.source,
                track=int(tid),
                n_frames=len(t.faces),
                first_frame=t.frames[0],
                last_frame=t.frames[-1],
                has_mesh=bool(t.mesh),
            )
            clip = Clip(
                faces=np.stack(t.faces),
                frames=np.asarray(t.frames, np.int32),
                keypoints=np.stack(t.keypoints).astype(np.float32),
                mesh=np.stack(t.mesh).astype(np.float32) if t.mesh else None,
            )
            self.out.write_clip(record, clip)
            records.append(record)
        video["clips"] = len(records)
        video["frames"] = sum(r.n_frames for r in records)
        return VideoResult(video, records)

    def _pair(self, pair: CropPair) -> VideoResult:
        """Both crops cut with the box found on the real one, so the pair differs by the fake alone."""
        video = {"video_id": pair.video_id, "name": pair.fake.name, **pair.record()}
        try:
            real, fake = (pad_frame(read_image(p), pair.pad) for p in (pair.real, pair.fake))
        except VideoError as exc:
            return VideoResult(video, error=str(exc))
        if real.shape != fake.shape:
            return VideoResult(video, error=f"{pair.fake.name}: not the size of its original {pair.real.name}")
        faces = self.detector.detect(real)
        if not faces:
            return VideoResult(video, error=f"{pair.real.name}: no face found")
        face, spec = faces[0], self.opts.spec
        m = crop_transform(face.box, face.keypoints, spec)
        mesh = None if self.mesh is None else map_points(self.mesh.landmarks(real, face.box, face.keypoints)[:, :2], m)
        records = []
        for label, image in ((0, real), (1, fake)):
            record = ClipRecord(
                clip=f"{pair.video_id}__{'fake' if label else 'real'}", video_id=pair.video_id, group=pair.group,
                label=label, method=pair.method if label else "real", source=pair.source, track=label,
                n_frames=1, first_frame=0, last_frame=0, has_mesh=mesh is not None, pair=True,
            )
            clip = Clip(
                faces=crop_face(image, face.box, face.keypoints, spec)[None],
                frames=np.zeros(1, np.int32),
                keypoints=map_points(face.keypoints, m)[None],
                mesh=None if mesh is None else mesh[None].astype(np.float32),
            )
            self.out.write_clip(record, clip)
            records.append(record)
        video.update(clips=2, frames=2)
        return VideoResult(video, records)

    def _tracks(self, item: MediaItem) -> dict[int, _TrackFaces]:
        spec = self.opts.spec
        finder = FaceFinder(self.detector, self.opts.faces, spec)
        tracks: dict[int, _TrackFaces] = {}
        frames = read_frames(item.path, fps=self.opts.fps, max_frames=self.opts.max_frames or None)
        for index, frame in frames:
            for face in finder.find(frame, index)[0]:
                m = crop_transform(face.box, face.keypoints, spec)
                t = tracks.setdefault(face.track_id, _TrackFaces())
                t.faces.append(face.crop)
                t.frames.append(index)
                t.keypoints.append(map_points(face.keypoints, m))
                if self.mesh is not None:
                    t.mesh.append(map_points(self.mesh.landmarks(frame, face.box, face.keypoints)[:, :2], m))
        return tracks


def pad_frame(frame: np.ndarray, pad: float) -> np.ndarray:
    """Add `pad` x the frame's size on each side (edge pixels replicated).

    Tight face crops (DFDC's) frame the face closer than our crop margin;
    padding gives the detector and the crop the context they expect.
    """
    h, w = frame.shape[:2]
    py, px = int(round(h * pad)), int(round(w * pad))
    return cv2.copyMakeBorder(frame, py, py, px, px, cv2.BORDER_REPLICATE)


_worker: Preparer | None = None


def init_worker(root: str, opts: PrepareOptions) -> None:
    global _worker
    _worker = Preparer(Dataset(root), opts)


def work(item: Item) -> VideoResult:
    assert _worker is not None, "init_worker was not called"
    return _worker(item)
