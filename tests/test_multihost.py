"""Workers on other hosts: Linux network namespaces stand in for machines.

The capture host is this namespace. Two worker hosts each get a namespace and
a veth pair to it (10.x.1.0/24 and 10.x.2.0/24), made here and deleted
afterwards. Everything between the hosts is ZeroMQ over tcp:// with CURVE.
We take one worker's link down (its stream goes on at the other worker),
bring it back (it rejoins), and try a worker whose key is not authorized
(it is refused). Skips, with the reason, where namespaces cannot be made.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stream.keys import write_keypair
from tests.stream_clips import make_clip

TAG = f"d{os.getpid() % 100000}"  # short: interface names have 15 characters at most
NET = f"10.{200 + os.getpid() % 50}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def _can_make_namespaces() -> str | None:
    """None, or why this machine cannot run the test."""
    if not shutil.which("ip"):
        return "needs iproute2 (the `ip` command)"
    if os.geteuid() != 0:
        return "needs root to create network namespaces (ip netns add)"
    probe = f"{TAG}probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace here: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    """A worker host: a namespace joined to this one by a veth pair."""

    name: str
    netns: str
    link: str  # our end of the pair: taking it down cuts the host off
    address: str  # our address as the host sees it
    procs: list[subprocess.Popen] = field(default_factory=list)


def _make_host(name: str, subnet: int) -> Host:
    netns, ours, theirs = f"{TAG}{name}", f"{TAG}{name}0", f"{TAG}{name}1"
    here, there = f"{NET}.{subnet}.1", f"{NET}.{subnet}.2"
    _ip("netns", "add", netns)
    _ip("link", "add", ours, "type", "veth", "peer", "name", theirs)
    _ip("link", "set", theirs, "netns", netns)
    _ip("addr", "add", f"{here}/24", "dev", ours)
    _ip("link", "set", ours, "up")
    _ip("-n", netns, "addr", "add", f"{there}/24", "dev", theirs)
    _ip("-n", netns, "link", "set", theirs, "up")
    _ip("-n", netns, "link", "set", "lo", "up")
    return Host(name, netns, ours, here)


def _remove_host(host: Host) -> None:
    for p in host.procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    _ip("link", "del", host.link, check=False)
    _ip("netns", "del", host.netns, check=False)


class EventLog:
    """The supervisor's JSON lines, read on a thread as they come."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.events: list[dict] = []
        self.stderr: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()
        threading.Thread(target=self.stderr.extend, args=(proc.stderr,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self._lock:
                self.events.append(event)

    def processed(self, worker: str, after: float = 0.0, before: float = float("inf")) -> int:
        """Frames a worker did between its stats stamped (by the worker) `after` and `before`.

        Its counters count from its start, so this is the growth of each stream's count in that time.
        """
        with self._lock:
            stats = [e for e in self.events if e.get("type") == "stats" and e["worker"] == worker]

        def done_by(stream: str, t: float) -> int:
            return max((e["processed"] for e in stats if e["stream"] == stream and e["ts"] < t), default=0)

        return sum(done_by(s, before) - done_by(s, after) for s in {e["stream"] for e in stats})


    def growth(self, worker: str, after: float, before: float) -> int | None:
        """How much a worker's counts grew between its first and last report stamped in [after, before);
        None with fewer than two such reports (nothing to compare)."""
        with self._lock:
            stats = [e for e in self.events if e.get("type") == "stats" and e["worker"] == worker
                     and after <= e["ts"] < before]
        streams = {e["stream"] for e in stats}
        if len(stats) < 2 * max(1, len(streams)):
            return None
        return sum(max(e["processed"] for e in stats if e["stream"] == s) -
                   min(e["processed"] for e in stats if e["stream"] == s) for s in streams)


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting until {what}")


def _free_ports(n: int) -> int:
    """A first port with the n following ports free on this host."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("", 0))
            first = s.getsockname()[1]
        if first + n >= 65535:
            continue
        try:
            socks = []
            for port in range(first, first + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("", port))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free block of ports")


@dataclass
class Cluster:
    dir: Path
    hosts: dict[str, Host]
    port: int
    log: EventLog
    supervisor: subprocess.Popen
    model: Path

    def start_worker(self, host: Host, key: str) -> subprocess.Popen:
        """`dfd watch --worker-only` inside the host's namespace, with its own key pair."""
        cfg = self.dir / f"worker-{key}.toml"
        cfg.write_text(
            "[stream]\n"
            f'curve_secret_key = "{self.dir / "keys" / key / f"{key}.key"}"\n'
            f'curve_server_key = "{self.dir / "keys" / "capture" / "capture.key.pub"}"\n'
            "[alerts]\n"
            f'evidence_dir = "{self.dir / f"evidence-{key}"}"\n'
        )
        proc = subprocess.Popen(
            ["ip", "netns", "exec", host.netns, sys.executable, "-m", "stream.cli", "watch", "--worker-only",
             "--connect", f"{host.address}:{self.port}", "--config", str(cfg), "--model", str(self.model)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=self.dir,
        )
        host.procs.append(proc)
        return proc


def worker_name(proc: subprocess.Popen) -> str:
    """The name a remote worker reports: host name and pid (`ip netns exec` execs, so the pid is the worker's)."""
    return f"{socket.gethostname()}-{proc.pid}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, tiny_model):
    why = _can_make_namespaces()
    if why:
        pytest.skip(why)
    d = tmp_path_factory.mktemp("multihost")
    for key in ("capture", "worker-a", "worker-b", "stranger"):
        write_keypair(d / "keys" / key, key)
    authorized = d / "authorized"
    authorized.mkdir()
    for key in ("worker-a", "worker-b"):
        shutil.copy(d / "keys" / key / f"{key}.key.pub", authorized)
    clip = make_clip(d / "cam.mp4", seconds=4.0)
    (d / "capture.toml").write_text(
        "[stream]\n"
        'transport = "tcp"\n'
        'bind = "0.0.0.0"\n'
        f'curve_secret_key = "{d / "keys" / "capture" / "capture.key"}"\n'
        f'curve_authorized = "{authorized}"\n'
        "loop = true\n"
    )
    hosts: dict[str, Host] = {}
    supervisor = None
    try:
        for subnet, name in enumerate(("a", "b"), start=1):
            hosts[name] = _make_host(name, subnet)
        port = _free_ports(3)
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "stream.cli", "watch", f"cam={clip}", "--config", str(d / "capture.toml"),
             "--no-console", "--duration", "600", "--port", str(port), "--model", str(tiny_model),
             "--alerts", f"sqlite:///{d / 'alerts.db'}", "--evidence-dir", str(d / "evidence")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=d,
        )
        log = EventLog(supervisor)
        wait_for(lambda: log.processed("w0") > 0, 90, "the capture host's own worker processes frames")
        yield Cluster(d, hosts, port, log, supervisor, tiny_model)
    finally:
        if supervisor is not None:
            supervisor.terminate()
            try:
                supervisor.wait(30)
            except subprocess.TimeoutExpired:
                supervisor.kill()
        for host in hosts.values():
            _remove_host(host)


def test_a_worker_that_loses_its_link_hands_its_stream_over_and_rejoins(cluster):
    a = cluster.start_worker(cluster.hosts["a"], "worker-a")
    b = cluster.start_worker(cluster.hosts["b"], "worker-b")
    name_a, name_b = worker_name(a), worker_name(b)
    wait_for(lambda: cluster.log.processed(name_a) > 0 and cluster.log.processed(name_b) > 0, 120,
             "both remote workers process frames")

    down = time.time()
    _ip("link", "set", cluster.hosts["a"].link, "down")
    # Frames keep flowing to the worker that can still be reached.
    wait_for(lambda: cluster.log.processed(name_b, after=down + 5) > 0, 60,
             "worker b processes frames while worker a is cut off")
    up = time.time()
    _ip("link", "set", cluster.hosts["a"].link, "up")
    wait_for(lambda: cluster.log.processed(name_a, after=up) > 0, 120, "worker a rejoins after its link is back")

    # Worker a got nothing while it was cut off: its counts since its start, in the reports it stamped
    # during the cut (they arrive after it rejoins), do not grow. Reports it queued in the first
    # seconds of the cut are lost with the connection (heartbeat timeout), so a frame it finished just
    # before the cut may show first in a later report: the growth is measured between reports.
    assert cluster.log.growth(name_a, after=down + 3, before=up) == 0
    assert a.poll() is None and b.poll() is None, "a remote worker died"


def test_a_worker_with_an_unknown_key_is_refused(cluster):
    stranger = cluster.start_worker(cluster.hosts["b"], "stranger")
    try:
        stranger.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail("a worker with an unauthorized key was kept waiting instead of giving up")
    err = stranger.stderr.read()
    assert stranger.returncode == 2, err
    assert err.count("\n") == 1 and "refused this worker's key" in err
    assert cluster.log.processed(worker_name(stranger)) == 0
    wait_for(lambda: any("refused a connection from an unknown CURVE key" in line for line in cluster.log.stderr),
             10, "the capture host reports the refusal")
