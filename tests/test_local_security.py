"""Local security of `dfd watch --transport tcp`: no open loopback port without the user's consent,
IPv6 loopback, and a second local user who cannot inject events into a keyed run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

from stream.cli import main
from stream.config import ConfigError, load_config
from stream.keys import read_key_file, write_keypair
from stream.sources import make_source
from stream.supervisor import Supervisor
from stream.transport import Endpoint, open_socket
from stream.wire import AlertEvent
from tests.stream_clips import make_clip

ROOT = Path(__file__).resolve().parent.parent

# Another local user's program: pushes forged alerts at the supervisor's events port.
# It starts as root only to load Python (this interpreter lives under /root), then becomes `nobody`
# before it reads a key or opens a socket.
INJECT = """
import os, pwd, sys, zmq
sys.path.insert(0, sys.argv[1])
from stream.keys import read_secret_keys
from stream.wire import AlertEvent, encode
port, prefix, server_key, key_file, user = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
if user:
    os.setgid(pwd.getpwnam(user).pw_gid)
    os.setuid(pwd.getpwnam(user).pw_uid)
ctx = zmq.Context()
sock = ctx.socket(zmq.PUSH)
sock.linger = 2000
sock.sndtimeo = 3000
if server_key:
    if key_file:
        keys = read_secret_keys(key_file)
        public, secret = keys.public, keys.secret
    else:
        public, secret = zmq.curve_keypair()
    sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = server_key.encode(), public, secret
sock.connect(f"tcp://127.0.0.1:{port}")
sent = 0
for i in range(5):
    try:
        sock.send(encode(AlertEvent("new", f"{prefix}-{i}", "door", 1, 1.0, 1.0, None, 0.99, 0.99, 0.99, 0.5, "m",
                                    evidence={"face": "/etc/shadow"})))
        sent += 1
    except zmq.Again:
        break
sock.close()
ctx.term()
print(sent)
"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "door.mp4", seconds=2.0, size=(320, 240))


def _free_port(family: int = socket.AF_INET, host: str = "127.0.0.1", count: int = 1) -> int:
    """A port p with p .. p+count-1 all free (a tcp run binds its directory, events and one port a stream)."""
    while True:
        with socket.socket(family) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port + count <= 65536 and all(_bindable(family, host, port + i) for i in range(1, count)):
            return port


def _bindable(family: int, host: str, port: int) -> bool:
    with socket.socket(family) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def test_tcp_without_keys_refuses_to_start_with_one_line(clip, tmp_path, capsys):
    code = main(["watch", "--transport", "tcp", str(clip), "--no-console", "--duration", "5",
                 "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "every local user" in err and "--insecure-loopback" in err and "curve_secret_key" in err
    assert not (tmp_path / "alerts.db").exists()


def test_the_consent_is_a_flag_or_a_config_key_and_never_opens_a_network_bind():
    assert load_config(None, {"stream.transport": "tcp", "stream.insecure_loopback": True}).stream.insecure_loopback
    assert load_config(None, {"stream.transport": "ipc"}).stream.transport == "ipc"  # ipc has no port to open
    with pytest.raises(ConfigError, match="not a loopback address"):
        load_config(None, {"stream.transport": "tcp", "stream.insecure_loopback": True, "stream.bind": "0.0.0.0"})


def test_ipv6_loopback_endpoints_carry_frames(ctx):
    port = _free_port(socket.AF_INET6, "::1")
    ep = Endpoint.parse(f"tcp://[::1]:{port}")
    assert ep.host == "::1" and str(ep) == f"tcp://[::1]:{port}"
    pull = open_socket(ctx, zmq.PULL, ep, None, bind=True)
    push = open_socket(ctx, zmq.PUSH, ep, None, bind=False)
    push.send(b"over ipv6")
    assert pull.poll(10_000) and pull.recv() == b"over ipv6"
    push.close()
    pull.close()


def test_watch_runs_on_ipv6_loopback_with_the_consent_flag(clip, tiny_model, tmp_path):
    port = _free_port(socket.AF_INET6, "::1", count=3)
    out = subprocess.run(
        [sys.executable, "-m", "stream.cli", "watch", "--transport", "tcp", "--bind", "::1", "--insecure-loopback",
         "--port", str(port), str(clip), "--no-console", "--duration", "20", "--model", str(tiny_model),
         "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}", "--evidence-dir", str(tmp_path / "evidence")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    summary = [json.loads(line) for line in out.stdout.splitlines() if '"summary"' in line][-1]
    assert summary["streams"]["door"]["processed"] > 0


def _inject(port: int, prefix: str, server_key: str, key_file: str = "", user: str = "nobody") -> int:
    out = subprocess.run(
        [sys.executable, "-c", INJECT, str(ROOT), str(port), prefix, server_key, key_file, user],
        cwd="/", capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


@pytest.mark.skipif(os.geteuid() != 0, reason="running a process as another local user (nobody) needs root")
def test_another_local_user_cannot_inject_events_into_a_keyed_run(clip, tiny_model, tmp_path):
    keys = tmp_path / "keys"
    for name in ("host", "worker"):
        write_keypair(keys / name, name)
    port = _free_port(count=3)
    cfg = load_config(None, {
        "model.path": str(tiny_model), "alerts.url": f"sqlite:///{tmp_path / 'alerts.db'}",
        "alerts.spool": str(tmp_path / "alerts.spool"), "alerts.evidence_dir": str(tmp_path / "evidence"),
        "stream.transport": "tcp", "stream.loop": True,
        "stream.curve_secret_key": str(keys / "host" / "host.key"), "stream.curve_authorized": str(keys / "worker"),
    })
    handled: list = []
    sup = Supervisor(cfg, [make_source(str(clip), "door")], port=port, emit=handled.append)
    server_key = read_key_file(keys / "host" / "host.key.pub").public.decode()
    events_port = port + 1

    def forged(prefix: str) -> list[AlertEvent]:
        return [m for m in handled if isinstance(m, AlertEvent) and m.alert_id.startswith(prefix)]

    try:
        sup.start()
        _inject(events_port, "plain", "")  # no CURVE at all
        _inject(events_port, "stranger", server_key)  # CURVE with a key of its own
        # the control: the same program with an authorized key gets through, so the two above were refused
        _inject(events_port, "control", server_key, str(keys / "worker" / "worker.key"), user="")
        deadline = time.monotonic() + 30
        while not forged("control"):
            assert time.monotonic() < deadline, "the authorized control never got through"
            sup.poll(0.1)
        sup.poll(1.0)
    finally:
        sup.stop()
    assert forged("plain") == [] and forged("stranger") == []
    assert sup.stats()["rejected"] == 0  # refused at the handshake: nothing reached the decoder
