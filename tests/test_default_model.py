"""The packaged default model: it loads with its hashes checked, says how it was made, and
separates the demo's two streams (the manipulation it was trained to catch vs the plain portrait)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_model.crop import crop_face, map_points
from edge_model.detector import FaceDetector
from edge_model.manifest import DEFAULT_MODEL_DIR, MANIFEST, load_manifest
from edge_model.runner import ModelRunner
from stream import demo


def test_the_packaged_model_verifies_and_records_its_training():
    manifest = load_manifest(DEFAULT_MODEL_DIR)  # every sha256 checked
    assert {manifest.encoder, manifest.temporal} <= set(manifest.files)
    assert 0.0 < manifest.threshold < 1.0
    assert manifest.training["command"].startswith("dfd train")
    assert manifest.training["data"]["train"]["real"]["identities"] > 1000
    assert manifest.metrics["validation"]["video"]["roc_auc"] > 0.8
    text = (DEFAULT_MODEL_DIR / MANIFEST).read_text()
    assert "/tmp/" not in text and "/home/" not in text and "/work/" not in text  # no private paths


def demo_window(runner: ModelRunner, fake: bool, start_s: float, seed: int) -> np.ndarray:
    """The face crops of T demo frames, every other frame, as a busy worker sees them."""
    image, keypoints = demo.portrait()
    detector = FaceDetector("auto", 0.5, 1, 1)
    rng = np.random.default_rng(seed)
    crops = []
    for k in range(runner.manifest.window):
        t = start_s + 2 * k / demo.FPS
        m = demo.camera(t)
        frame = cv2.warpAffine(image, m, demo.SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if fake:
            frame = demo.swap_face(frame, map_points(keypoints, m), rng)
        face = detector.detect(frame)[0]
        crops.append(crop_face(frame, face.box, face.keypoints, runner.manifest.crop))
    return np.stack(crops)


@pytest.mark.parametrize("start_s", [5.0, 9.5, 14.0])
def test_the_default_model_flags_the_fake_demo_stream_and_not_the_real_one(start_s):
    runner = ModelRunner(DEFAULT_MODEL_DIR)
    threshold = runner.manifest.threshold
    real = runner.score(runner.encode(demo_window(runner, False, start_s, 0))[None])[0]
    fake = runner.score(runner.encode(demo_window(runner, True, start_s, 0))[None])[0]
    assert demo.manipulated(start_s)
    assert real < threshold < fake, (real, threshold, fake)
