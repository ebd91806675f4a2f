"""A pairs CSV of real/fake face crops: preprocessing, bad rows, splits and training items.

The crops are cut from the astronaut portrait as tightly as DFDC's (the face
fills the image), and the "fake" of a pair is the real crop with its face
region recoloured, so a pair differs only inside the face, as in DFDC.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.cli import main
from stream.demo import astronaut
from training.config import NONE, SBI, Mixture
from training.splits import hold_out, split
from training.store import Dataset
from training.windows import WindowDataset, WindowSpec


def _tight_crop(shift: int) -> np.ndarray:
    face = astronaut()[40 + shift : 220 + shift, 150:330]  # about the face box alone, like a DFDC crop
    return cv2.resize(face, (224, 224))


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    faces = root / "faces"
    faces.mkdir()
    rows = []
    for i in range(6):
        real = _tight_crop(i * 3)
        fake = real.copy()
        fake[60:170, 50:175] = cv2.addWeighted(fake[60:170, 50:175], 0.6, np.full_like(fake[60:170, 50:175], (40, 90, 160)), 0.4, 0)
        cv2.imwrite(str(faces / f"orig{i}.jpg"), real)
        cv2.imwrite(str(faces / f"fake{i}.jpg"), fake)
        rows.append((f"fake{i}", f"orig{i}"))
    (faces / "garbled.jpg").write_bytes(b"not a jpeg")
    cv2.imwrite(str(faces / "blank.jpg"), np.full((224, 224, 3), 128, np.uint8))
    for name in ("lost", "faceless"):
        (faces / f"{name}.jpg").write_bytes((faces / "fake0.jpg").read_bytes())
    rows += [("lost", "missing_original"), ("garbled", "orig1"), ("faceless", "blank")]
    with open(root / "pairs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["fake", "original", "fake_face_width", "fake_face_height"])
        w.writerows(rows)
    return root


@pytest.fixture(scope="module")
def prepared(pairs_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "ds"
    assert main(["preprocess", "--pairs", str(pairs_dir / "pairs.csv"), "--out", str(out), "--size", "64", "--margin", "1.2"]) == 0
    return out


def test_pairs_are_prepared_with_one_framing_and_bad_rows_are_named(prepared, capsys):
    records = Dataset(prepared).records()
    by_video: dict[str, list] = {}
    for r in records:
        by_video.setdefault(r.video_id, []).append(r)
    assert len(by_video) == 6
    for rs in by_video.values():
        assert sorted(r.label for r in rs) == [0, 1] and all(r.pair and r.n_frames == 1 for r in rs)
        assert len({r.group for r in rs}) == 1 and rs[0].group.startswith("orig")
        real, fake = (Dataset(prepared).load(r.clip) for r in sorted(rs, key=lambda r: r.label))
        np.testing.assert_array_equal(real.keypoints, fake.keypoints)  # both cut with the real crop's box
        assert not np.array_equal(real.faces, fake.faces)
    skipped = {s["name"]: s["error"] for s in map(json.loads, (prepared / "skipped.jsonl").read_text().splitlines())}
    assert "missing_original" in skipped["lost.jpg"] and "missing" in skipped["lost.jpg"]
    assert "garbled.jpg" in skipped["garbled.jpg"]
    assert "blank.jpg: no face" in skipped["faceless.jpg"]


def test_a_pair_never_straddles_a_split(prepared):
    records = Dataset(prepared).records()
    rest, test = hold_out(records, 0.3)
    train, val = split(rest, 0.3, seed=1)
    assert test and val and train
    sides = [{r.video_id for r in part} for part in (train, val, test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert hold_out(records, 0.3)[1] == test  # the test split does not move with the seed


def test_items_keep_a_pair_together_and_encode_a_crop_once(prepared):
    data = Dataset(prepared)
    spec = WindowSpec(window=4, size=64)
    train = WindowDataset(data, data.records(), spec, augment=None, seed=0, mixture=Mixture(fakes=1, sbi=0))
    pair_items = [train[i] for i in range(len(train)) if train.refs[i].clips and len(train.refs[i].clips) == 2]
    assert len(pair_items) == 6
    item = pair_items[0]
    assert item["labels"].tolist() == [0.0, 1.0] and item["single"].all()
    assert item["clips"].shape == (2, 4, 3, 64, 64)
    assert (item["clips"][:, 0] == item["clips"][:, 3]).all()  # T copies of the one crop


def test_the_mixture_sets_the_share_of_each_source(prepared):
    from training.augment import AugmentConfig

    data = Dataset(prepared)
    spec = WindowSpec(window=4, size=64)
    ds = WindowDataset(data, data.records(), spec, AugmentConfig(), seed=0, max_items=40, mixture=Mixture(fakes=3, sbi=1))
    kinds = [ref.twins[0] if ref.twins else NONE for ref in ds.refs]
    assert len(kinds) == 40 and kinds.count(NONE) == 30 and kinds.count(SBI) == 10
    item = ds[kinds.index(SBI)]
    assert item["labels"].tolist() == [0.0, 1.0] and item["twin"].tolist() == [NONE, SBI]
