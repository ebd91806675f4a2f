"""Evidence files are whole or absent: on a full disk nothing truncated is left behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from stream.evidence import EvidenceWriter


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 96 KiB tmpfs: room for a JPEG or two, not for a clip."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def crops(n: int = 60, size: int = 160) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (size, size, 3), np.uint8) for _ in range(n)]  # noise: a large clip


def test_a_full_disk_leaves_no_partial_evidence(tiny_disk):
    frame = np.random.default_rng(1).integers(0, 255, (120, 160, 3), np.uint8)
    with pytest.raises(OSError):
        EvidenceWriter(tiny_disk).save("cam", "a1", frame, crops(), 15.0)
    left = [p for p in tiny_disk.rglob("*") if p.is_file()]
    assert all(p.stat().st_size > 0 and not p.name.endswith(".part") for p in left), left
    assert not any(p.name.endswith("-clip.mp4") for p in left)


def test_evidence_on_a_disk_with_room(tmp_path):
    frame = np.zeros((120, 160, 3), np.uint8)
    paths = EvidenceWriter(tmp_path).save("cam", "a1", frame, crops(8, 64), 15.0)
    assert sorted(paths) == ["clip", "face", "frame"]
    assert all(Path(p).stat().st_size > 0 for p in paths.values())
    assert not list(tmp_path.rglob(".*.part"))


def test_an_ffmpeg_error_writing_the_clip_is_one_oserror(tmp_path, monkeypatch):
    """The outbox catches OSError and ValueError only, so it need not load PyAV to keep an alert alive."""
    import av

    from stream.evidence import write_clip

    def broken(*args: object, **kwargs: object) -> None:
        raise av.error.FFmpegError(-22, "Invalid argument")

    monkeypatch.setattr(av, "open", broken)
    with pytest.raises(OSError, match="clip.mp4") as caught:
        write_clip(tmp_path / "clip.mp4", [np.zeros((16, 16, 3), np.uint8)] * 3, 25.0)
    assert not isinstance(caught.value, av.error.FFmpegError) and not (tmp_path / "clip.mp4").exists()
