"""Which files a data folder holds, and each one's label, method, source and identity.

Layouts understood:
- the project's own: `real_videos/`, `deepfake_videos/`, `real_images/`
  (also `real/`, `fake/`, `df/` for labelled evaluation folders);
- FaceForensics++: `original_sequences/<set>/<c>/videos/XXX.mp4` and
  `manipulated_sequences/<method>/<c>/videos/XXX_YYY.mp4`;
- DFDC: any folder with a `metadata.json` (`label`, `original`);
- pairs of face crops: a `pairs.csv` with columns `fake,original` (and an
  optional `method`), naming images in `faces/` beside it or beside the CSV
  (by stem or relative path). Both crops show the same frame, so a pair
  differs only by the manipulation; it is kept whole in every split.

The identity ("group") keeps one person's videos in one split. By default it
is the file's stem; FF++ and DFDC fakes take the identities of their
originals; a `--groups` CSV (`name,group`) overrides it for known people.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from edge_model.errors import DfdError
from edge_model.media import IMAGE_EXTS, MEDIA_EXTS

REAL_DIRS = ("real_videos", "real_images", "real")
FAKE_DIRS = ("deepfake_videos", "fake", "df")
IDENTITY_SEP = "+"
PAIRS_CSV = "pairs.csv"
PAIRS_PAD = 0.3  # tight crops get this share of their side replicated on each side before detection


class DataError(DfdError):
    """A data folder that can't be read as any known layout."""


@dataclass(frozen=True)
class MediaItem:
    path: Path
    video_id: str  # unique and safe as a file name
    label: int  # 0 real, 1 fake
    method: str  # "real", or the manipulation ("deepfake" when unknown)
    source: str  # the layout or folder it came from
    group: str  # identities joined by "+"; never split across train/val

    def record(self) -> dict:
        """The index fields, without the (possibly private) path."""
        d = asdict(self)
        d.pop("path")
        return d


@dataclass(frozen=True)
class CropPair:
    """A real face crop and the fake made from the same frame (one row of a pairs CSV)."""

    real: Path
    fake: Path
    video_id: str  # both crops' clips are indexed under this one id
    method: str
    source: str
    group: str  # the original's id: a fake always goes with its original
    pad: float = PAIRS_PAD

    def record(self) -> dict:
        return {"video_id": self.video_id, "label": 1, "method": self.method, "source": self.source, "group": self.group}


Item = MediaItem | CropPair


def safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "x"


def _media(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_EXTS)


def _item(path: Path, root: Path, label: int, method: str, source: str, group: str) -> MediaItem:
    rel = path.relative_to(root).with_suffix("")
    return MediaItem(path, safe_id(f"{source}/{rel.as_posix()}".replace("/", "__")), label, method, source, group)


def _ffpp(root: Path) -> list[MediaItem]:
    items = []
    for path in _media(root / "original_sequences"):
        items.append(_item(path, root, 0, "real", "ffpp", path.stem))
    manip = root / "manipulated_sequences"
    if manip.is_dir():
        for method_dir in sorted(p for p in manip.iterdir() if p.is_dir()):
            for path in _media(method_dir):
                ids = path.stem.split("_")[:2]
                items.append(_item(path, root, 1, method_dir.name, "ffpp", IDENTITY_SEP.join(ids)))
    return items


def _dfdc(folder: Path, root: Path) -> list[MediaItem]:
    try:
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{folder / 'metadata.json'}: unreadable ({exc})") from None
    items = []
    for name, entry in sorted(meta.items()):
        path = folder / name
        if not path.is_file():
            continue
        fake = str(entry.get("label", "")).upper() == "FAKE"
        original = Path(entry.get("original") or name).stem if fake else path.stem
        items.append(_item(path, root, int(fake), "dfdc" if fake else "real", "dfdc", original))
    return items


def _image_index(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS}


def read_pairs(csv_path: Path, pad: float = PAIRS_PAD) -> list[CropPair]:
    """The pairs of a pairs CSV. A missing image is kept here and reported by name when prepared."""
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"pairs file {csv_path}: unreadable ({exc})") from None
    if rows and not {"fake", "original"} <= set(rows[0]):
        raise DataError(f"pairs file {csv_path}: needs the columns `fake,original`")
    folder = csv_path.parent
    index = {**_image_index(folder), **_image_index(folder / "faces")}

    def find(name: str) -> Path:
        return index.get(name) or folder / name

    source = safe_id(folder.name)
    pairs = []
    for row in rows:
        fake, original = (row.get(k, "").strip() for k in ("fake", "original"))
        if fake and original:
            pairs.append(CropPair(
                find(original), find(fake), safe_id(f"{source}__{Path(fake).stem}"),
                safe_id(row.get("method") or "deepfake"), source, safe_id(Path(original).stem), pad,
            ))
    return pairs


def discover(root: Path) -> list[Item]:
    """Every media file under `root` that a known layout labels."""
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    items: list[Item] = []
    for pairs in sorted(root.rglob(PAIRS_CSV)):
        items += read_pairs(pairs)
    if (root / "original_sequences").is_dir() or (root / "manipulated_sequences").is_dir():
        items += _ffpp(root)
    for meta in sorted(root.rglob("metadata.json")):
        items += _dfdc(meta.parent, root)
    for name in REAL_DIRS + FAKE_DIRS:
        folder = root / name
        if folder.is_dir():
            label = int(name in FAKE_DIRS)
            for path in _media(folder):
                method = path.parent.name if label and path.parent != folder else ("deepfake" if label else "real")
                items.append(_item(path, root, label, method, name, path.stem))
    return items


def labelled_folder(folder: Path, label: int) -> list[MediaItem]:
    """Every media file under a folder given on the command line with --real or --fake."""
    if not folder.is_dir():
        raise DataError(f"folder not found: {folder}")
    return [
        _item(p, folder, label, "deepfake" if label else "real", folder.name, p.stem) for p in _media(folder)
    ]


def read_groups(path: Path) -> dict[str, str]:
    """A `name,group` CSV: a file stem (or video id) and the identity it shows."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    except OSError as exc:
        raise DataError(f"groups file {path}: {exc.strerror}") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["name", "group"]:
        rows = rows[1:]
    bad = [i for i, r in enumerate(rows, 1) if len(r) < 2 or not r[1].strip()]
    if bad:
        raise DataError(f"groups file {path}: row {bad[0]} needs `name,group`")
    return {r[0].strip(): r[1].strip() for r in rows}


def apply_groups(items: list[Item], groups: dict[str, str]) -> list[Item]:
    out: list[Item] = []
    for it in items:
        if isinstance(it, CropPair):  # a pair's identity is its original
            out.append(it)
            continue
        group = groups.get(it.video_id) or groups.get(it.path.stem) or it.group
        out.append(MediaItem(it.path, it.video_id, it.label, it.method, it.source, group))
    return out
