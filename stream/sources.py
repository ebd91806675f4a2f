"""What a source is, how it is named, and how its frames are read.

A source is a webcam (index or /dev/videoN), an rtsp:// or http(s):// URL, a
video file, or one of the built-in demo streams (demo://real, demo://fake).
On the command line a source is `name=url` or just `url` (the name then comes
from the file name, the host or the device).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from edge_model import media
from edge_model.errors import DfdError
from stream.secrets import mask_url, with_password

if TYPE_CHECKING:  # annotations only: the supervisor checks sources without numpy
    from stream.ring import Image

Kind = Literal["file", "webcam", "rtsp", "http", "demo"]
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEMO_STREAMS = ("real", "fake")
OPEN_TIMEOUT_S = 10.0

# Low latency: no input buffering, RTSP interleaved over TCP (no UDP loss or NAT trouble).
# HTTP gets no such options: with `nobuffer` an MPEG-TS over HTTP yields no frame at all.
RTSP_OPTIONS = {"rtsp_transport": "tcp", "fflags": "nobuffer", "flags": "low_delay", "max_delay": "500000"}


class SourceError(DfdError):
    """A source that can never be opened (bad path, unknown scheme): one line, no retry."""


@dataclass(frozen=True)
class Source:
    name: str
    url: str  # may hold a password: never print it, print `shown`
    kind: Kind

    @property
    def shown(self) -> str:
        return mask_url(self.url)

    @property
    def live(self) -> bool:
        """Live sources are reconnected when they end; files end (or loop)."""
        return self.kind in ("webcam", "rtsp", "http")


def split_name(arg: str) -> tuple[str | None, str]:
    """`name=url` -> (name, url); a bare url -> (None, url). '=' inside a URL is not a name."""
    head, sep, tail = arg.partition("=")
    if sep and NAME.match(head) and "://" not in head:
        return head, tail
    return None, arg


def classify(url: str) -> Kind:
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme == "demo":
        return "demo"
    if scheme in ("rtsp", "rtsps"):
        return "rtsp"
    if scheme in ("http", "https"):
        return "http"
    if scheme:
        raise SourceError(f"{mask_url(url)}: unknown source scheme {scheme}:// (use rtsp://, http(s)://, a file or a webcam)")
    if url.isdigit() or re.fullmatch(r"/dev/video\d+", url):
        return "webcam"
    return "file"


def derive_name(url: str, kind: Kind) -> str:
    if kind == "file":
        base = Path(url).stem
    elif kind == "webcam":
        base = "webcam" + re.sub(r"\D", "", url)
    elif kind == "demo":
        base = urlsplit(url).netloc
    else:
        base = urlsplit(url).hostname or kind
    return re.sub(r"[^A-Za-z0-9_.-]", "_", base)[:64] or kind


def make_source(url: str, name: str | None = None, password: str | None = None, taken: set[str] | None = None) -> Source:
    """Validate one source; a bad one raises SourceError with one line."""
    kind = classify(url)
    if kind == "file":
        path = Path(url)
        if not path.exists():
            raise SourceError(f"{url}: no such file")
        if not path.is_file():
            raise SourceError(f"{url}: not a file")
        _check_video(url)
    if kind == "demo" and urlsplit(url).netloc not in DEMO_STREAMS:
        raise SourceError(f"{url}: the demo streams are demo://real and demo://fake")
    if kind in ("rtsp", "http") and not urlsplit(url).hostname:
        raise SourceError(f"{mask_url(url)}: the URL names no host")
    if name is not None and not NAME.match(name):
        raise SourceError(f"source name {name!r}: use 1-64 letters, digits, '_', '.' or '-'")
    if password:
        try:
            url = with_password(url, password)
        except ValueError as exc:
            raise SourceError(str(exc)) from None
    taken = taken if taken is not None else set()
    chosen = name or derive_name(url, kind)
    if name is None:
        base, n = chosen, 2
        while chosen in taken:
            chosen, n = f"{base}-{n}", n + 1
    elif chosen in taken:
        raise SourceError(f"source name {chosen!r} is used twice")
    taken.add(chosen)
    return Source(chosen, url, kind)


def _check_video(path: str) -> None:
    """A file source must hold video now: an empty or audio-only file is one line at start, not a dead stream.

    PyAV opens the file in a forked child: the supervisor, which resolves the sources, would otherwise
    keep PyAV's FFmpeg libraries mapped (16 MiB) for the whole run, for one look at each file.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one line back through the pipe (empty: it holds video), then out at once
        os.close(read)
        try:
            media.open_video(path).close()
            line = ""
        except media.VideoError as exc:
            line = str(exc)
        except BaseException as exc:  # whatever it was, the parent says it in one line
            line = f"{path}: cannot open ({type(exc).__name__})"
        os.write(write, line.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        line = pipe.read().decode()
    if os.waitpid(pid, 0)[1] and not line:  # killed before it could say why
        line = f"{path}: cannot open (the check of the file crashed)"
    if line:
        raise SourceError(line)


def read_frames(
    source: Source,
    fit: media.Fit,
    realtime: bool = True,
    read_timeout_s: float = 10.0,
    opening: media.Opening | None = None,
    sample_fps: float = 0.0,
    pixels: str = "bgr24",
) -> Iterator[Image]:
    """BGR frames (or `pixels`, see media.read_frames) of one opening of a PyAV source, scaled to fit, until it ends:
    PyAV's VideoFrames as they come from the converter (a photo: an array), which the ring copies without numpy.

    One decoder thread: the captures and workers already fill the cores.
    Files, local or served whole over http(s), are paced at their own frame
    rate when `realtime` (a live feed is not: it comes at its own pace), and
    `opening` records whether this one has an end; `sample_fps` keeps about that
    many frames a second (0: all), converting only those. Live sources get open and
    read timeouts, and RTSP its low-latency options. Errors surface as
    VideoError (masked), and the caller decides to retry or give up.
    """
    url, format = source.url, None
    if source.kind == "webcam":
        url, format = (f"/dev/video{url}" if url.isdigit() else url), "v4l2"
    frames = media.read_frames(
        url, fit=fit, realtime=realtime and source.kind in ("file", "http"), shown=source.shown,
        options=RTSP_OPTIONS if source.kind == "rtsp" else None,
        timeout=(OPEN_TIMEOUT_S, read_timeout_s) if source.live else None, format=format, opening=opening,
        threads=1, fps=sample_fps or None, pixels=pixels, to_numpy=False,
    )
    for _, frame in frames:
        yield frame


def fit_within(max_width: int, max_height: int) -> media.Fit:
    """The size a frame is scaled down to (kept even for the video codecs), never up."""

    def fit(w: int, h: int) -> tuple[int, int]:
        scale = min(1.0, max_width / w, max_height / h)
        if scale >= 1.0:
            return w, h
        return max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)

    return fit
