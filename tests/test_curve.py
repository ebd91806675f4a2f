"""CURVE on real tcp:// sockets: listed keys get through encrypted, unknown keys are refused."""

from __future__ import annotations

import os
import stat

import pytest
import zmq

from stream.cli import main
from stream.keys import (
    CurveError,
    CurveSettings,
    read_authorized,
    read_curve_settings,
    read_key_file,
    read_secret_keys,
    write_keypair,
)
from stream.transport import Endpoint, Security, TransportError, bind_problem, open_socket

REFUSED = "refused a connection from an unknown CURVE key"


@pytest.fixture
def keydir(tmp_path):
    for name in ("server", "worker", "stranger"):
        write_keypair(tmp_path / name, name)
    return tmp_path


def _pair(keydir, name):
    return read_secret_keys(keydir / name / f"{name}.key")


def _push_pull(keydir, client_name, server_key_of="server"):
    """A CURVE PUSH server on loopback and a PULL client: returns (ctx, push, pull, security, mon)."""
    ctx = zmq.Context()
    server_keys = _pair(keydir, "server")
    server = Security(ctx, CurveSettings(server_keys, read_authorized(keydir / "worker"), server_keys.public))
    client = Security(ctx, CurveSettings(_pair(keydir, client_name), frozenset(), _pair(keydir, server_key_of).public))
    push = ctx.socket(zmq.PUSH)
    push.linger = 0
    server.server(push)
    port = push.bind_to_random_port("tcp://127.0.0.1")
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    mon = pull.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                                  | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
    client.client(pull)
    pull.connect(f"tcp://127.0.0.1:{port}")
    return ctx, push, pull, server, mon


def _first_handshake_event(mon) -> int:
    from zmq.utils.monitor import recv_monitor_message

    assert mon.poll(10_000), "no handshake event from the client socket"
    return recv_monitor_message(mon)["event"]


def _close(ctx, security, *socks):
    for s in socks:
        s.close()
    security.close()
    ctx.term()


def test_listed_worker_receives(keydir, caplog):
    ctx, push, pull, security, mon = _push_pull(keydir, "worker")
    try:
        assert _first_handshake_event(mon) == zmq.EVENT_HANDSHAKE_SUCCEEDED
        push.send(b"frame 1")
        assert pull.poll(10_000)
        assert pull.recv() == b"frame 1"
        assert REFUSED not in caplog.text
    finally:
        _close(ctx, security, push, pull, mon)


def test_unknown_worker_key_is_refused(keydir, caplog):
    ctx, push, pull, security, mon = _push_pull(keydir, "stranger")
    try:
        assert _first_handshake_event(mon) == zmq.EVENT_HANDSHAKE_FAILED_AUTH
        assert not push.poll(200, zmq.POLLOUT)  # the refused client never became a peer
        assert REFUSED in caplog.text
    finally:
        _close(ctx, security, push, pull, mon)


def test_client_with_wrong_server_key_gets_nothing(keydir):
    """A worker pointed at an impostor's public key never completes the handshake."""
    ctx, push, pull, security, mon = _push_pull(keydir, "worker", server_key_of="stranger")
    try:
        assert _first_handshake_event(mon) != zmq.EVENT_HANDSHAKE_SUCCEEDED
        assert not push.poll(200, zmq.POLLOUT)  # no peer ever attached to the PUSH socket
    finally:
        _close(ctx, security, push, pull, mon)


def test_dfd_keys_writes_a_private_secret_and_a_public_key(tmp_path, capsys):
    assert main(["keys", "--out", str(tmp_path), "--name", "cam-host"]) == 0
    secret, public = tmp_path / "cam-host.key", tmp_path / "cam-host.key.pub"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    pair, pub = read_key_file(secret), read_key_file(public)
    assert pair.public == pub.public and pair.secret and pub.secret is None
    assert pair.secret.decode() not in public.read_text()
    assert pair.secret.decode() not in capsys.readouterr().out
    # A second run does not silently replace the pair.
    assert main(["keys", "--out", str(tmp_path), "--name", "cam-host"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert read_key_file(secret) == pair


def test_bad_key_files_get_one_line(keydir, tmp_path):
    secret = keydir / "worker" / "worker.key"
    os.chmod(secret, 0o644)
    with pytest.raises(CurveError, match="readable by others"):
        read_secret_keys(secret)
    with pytest.raises(CurveError, match="holds no secret key"):
        read_secret_keys(keydir / "worker" / "worker.key.pub")
    (tmp_path / "junk.key.pub").write_text('public-key = "short"\n')
    with pytest.raises(CurveError, match="40-character"):
        read_key_file(tmp_path / "junk.key.pub")
    with pytest.raises(CurveError, match="no such key file"):
        read_key_file(tmp_path / "missing.key")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CurveError, match="no \\*.key.pub files"):
        read_authorized(empty)


def test_bind_beyond_loopback_needs_keys_and_loopback_needs_keys_or_consent(keydir):
    for host in ("127.0.0.1", "::1", "[::1]", "localhost"):
        assert bind_problem(host, False, False, open_loopback=True) is None
        assert bind_problem(host, True, False, open_loopback=False) is None
        assert "--insecure-loopback" in bind_problem(host, False, False, open_loopback=False)
    for host in ("0.0.0.0", "192.0.2.1", "eth0"):
        assert "not a loopback address" in bind_problem(host, False, False, open_loopback=True)
    assert "curve_authorized" in bind_problem("0.0.0.0", True, False, open_loopback=False)
    assert bind_problem("0.0.0.0", True, True, open_loopback=False) is None
    assert read_curve_settings("") is None
    with pytest.raises(CurveError, match="curve_secret_key: needed"):
        read_curve_settings("", str(keydir / "worker"))


def test_the_socket_factory_binds_a_network_address_only_with_keys(keydir):
    """The check that config makes is made again where the socket is made."""
    ctx = zmq.Context()
    server_only = Security(ctx, read_curve_settings(str(keydir / "server" / "server.key")))
    full = Security(ctx, read_curve_settings(str(keydir / "server" / "server.key"), str(keydir / "worker")))
    anywhere = Endpoint("tcp", "0.0.0.0", _free_port())
    try:
        for security, problem in ((None, "not a loopback address"), (server_only, "curve_authorized")):
            with pytest.raises(TransportError, match=problem):
                open_socket(ctx, zmq.PULL, anywhere, security, bind=True)
        open_socket(ctx, zmq.PULL, anywhere, full, bind=True).close()
    finally:
        full.close()
        ctx.term()


def test_config_refuses_a_network_bind_without_keys(keydir):
    from stream.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"^stream.bind: 0.0.0.0 is not a loopback address.*dfd keys"):
        load_config(None, {"stream.bind": "0.0.0.0"})
    cfg = load_config(None, {
        "stream.bind": "0.0.0.0",
        "stream.curve_secret_key": str(keydir / "server" / "server.key"),
        "stream.curve_authorized": str(keydir / "worker"),
    })
    assert cfg.stream.bind == "0.0.0.0"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_frames_travel_encrypted_and_a_stranger_gets_none(keydir, caplog):
    """The real frame sockets: a listed worker gets frames; an unknown key's worker gets none."""
    import numpy as np

    from stream.frames import FrameReceiver, FrameSender
    from stream.transport import tcp_endpoints

    server_ctx, worker_ctx, stranger_ctx = zmq.Context(), zmq.Context(), zmq.Context()
    server = Security(server_ctx, read_curve_settings(str(keydir / "server" / "server.key"), str(keydir / "worker")))
    worker_sec, stranger_sec = (
        Security(c, read_curve_settings(
            str(keydir / name / f"{name}.key"), server_key=str(keydir / "server" / "server.key.pub")))
        for c, name in ((worker_ctx, "worker"), (stranger_ctx, "stranger"))
    )
    ep = tcp_endpoints("127.0.0.1", _free_port(), ["cam"])
    sender = FrameSender(server_ctx, ep.frames["cam"], server, "cam", ring=None)
    stranger = FrameReceiver(stranger_ctx, ep.frames, stranger_sec)
    worker = FrameReceiver(worker_ctx, ep.frames, worker_sec)
    try:
        frame = np.full((48, 64, 3), 120, np.uint8)
        for ts in range(3):
            assert sender.has_credit(wait_s=10.0)
            assert sender.send(frame, float(ts))
            got = worker.recv(10.0)
            assert got is not None and got.header.ts == ts and got.image.shape == frame.shape
            worker.ready("cam")
        assert stranger.recv(0.3) is None
        assert REFUSED in caplog.text
    finally:
        for end in (sender, worker, stranger):
            end.close()
        for security in (server, worker_sec, stranger_sec):
            security.close()
        for c in (server_ctx, worker_ctx, stranger_ctx):
            c.term()
