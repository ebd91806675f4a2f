"""Supervised children as plain subprocesses: `python -m stream.launch ROLE`, their work pickled on stdin.

multiprocessing's spawn starts a resource-tracker process beside every run
(13 MiB) and runs the parent's main script again in each child. A child here
gets sys.path, its target and its spec, nothing else; `ps` shows its role. The
process table drives it through the few Process methods it uses.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Callable
from typing import Any


class ChildProcess:
    """The part of multiprocessing.Process that stream.processes uses, over subprocess.Popen."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> None:
        self.name = name
        self._work = (target, args)
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        work = pickle.dumps(self._work)  # before the child exists: an unpicklable spec fails here, in the parent
        self._popen = subprocess.Popen([sys.executable, "-m", "stream.launch", self.name], stdin=subprocess.PIPE)
        try:
            with self._popen.stdin as pipe:  # type: ignore[union-attr]
                pickle.dump(sys.path, pipe)
                pipe.write(work)
        except BrokenPipeError:
            pass  # it died before reading: its exit code says so

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def exitcode(self) -> int | None:
        """None while it runs; a negative number is the signal that ended it (as multiprocessing)."""
        return self._popen.poll() if self._popen else None

    def is_alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def terminate(self) -> None:
        if self.is_alive():
            self._popen.terminate()  # type: ignore[union-attr]

    def kill(self) -> None:
        if self.is_alive():
            self._popen.kill()  # type: ignore[union-attr]

    def join(self, timeout: float | None = None) -> None:
        if self._popen is not None:
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass


class Launcher:
    """What the process table starts children with (in place of a multiprocessing context)."""

    def Process(  # noqa: N802 (multiprocessing's name, so a test's fake context fits too)
        self, target: Callable[..., None], args: tuple[Any, ...], name: str, daemon: bool = True
    ) -> ChildProcess:
        return ChildProcess(target, args, name)  # daemon: every child dies with its parent (stream.lifeline)


def main() -> None:
    stdin = sys.stdin.buffer
    sys.path[:] = pickle.load(stdin)  # first, so the target's module imports as it did in the parent
    target, args = pickle.load(stdin)
    target(*args)


if __name__ == "__main__":
    main()
