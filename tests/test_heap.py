"""stream.heap: a capture's glibc heap limits are set where the C library is glibc, and skipped elsewhere."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from stream import heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt: Linux with glibc only")
def test_limits_are_set_on_glibc() -> None:
    out = subprocess.run([sys.executable, "-c", "from stream.heap import keep_frame_buffers; print(keep_frame_buffers())"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_other_c_libraries_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap.platform, "libc_ver", lambda: ("", ""))
    assert heap.keep_frame_buffers() is False
