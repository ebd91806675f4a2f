"""The MQTT sink against a real, private Mosquitto that the test starts, stops and restarts.

Never the shared broker at 127.0.0.1:1883: each test runs its own on a free port,
with persistence on, so a subscriber's session (and the messages queued for it)
survives a broker restart, as it would in production.
"""

from __future__ import annotations

import getpass
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench.net import free_port
from stream.alerts.errors import AlertStoreError
from stream.alerts.recorder import start_writer
from stream.config import load_config
from stream.sinks.integrations import open_integrations
from stream.sinks.mqtt import MqttSink
from stream.sinks.settings import MqttSection
from stream.wire import ScoreEvent
from tests.test_alerts_contract import lifecycle, wait_until

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
FAST = {"retry_base_s": 0.05, "retry_max_s": 0.5}
pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed (.ci/run installs it)")


class PrivateMosquitto:
    def __init__(self, root: Path, users: dict[str, str] | None = None) -> None:
        self.root, self.port, self.proc = root, free_port(), None
        root.mkdir(parents=True, exist_ok=True)
        # `user`: run as ourselves (as root, mosquitto would switch to a user that can't write `root`)
        lines = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {root}/",
                 f"user {getpass.getuser()}"]
        if users:
            pw = root / "passwd"
            pw.touch()
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pw), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        self.conf = root / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.root / "log", "ab"))
        def listening() -> bool:
            assert self.proc.poll() is None, (self.root / "log").read_text()
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0
        wait_until(listening, "mosquitto listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


class Subscriber:
    """A persistent-session QoS 1 subscriber to `<prefix>/#` and the discovery topics: what it got, in order."""

    def __init__(self, port: int, topics: tuple[str, ...] = ("dfd/#", "homeassistant/#")) -> None:
        self.got: list[tuple[str, bytes, bool]] = []  # topic, payload, dup (a redelivery by the broker)
        self._lock = threading.Lock()
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{port}", clean_session=False)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, rc, p: (c.subscribe([(t, 1) for t in topics]), self.ready.set())
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.got.append((msg.topic, msg.payload, bool(msg.dup)))

    def on(self, topic: str, redelivered: bool = True) -> list[bytes]:
        with self._lock:
            return [p for t, p, dup in self.got if t == topic and (redelivered or not dup)]

    def events(self, redelivered: bool = True) -> list[dict]:
        return [json.loads(p) for p in self.on("dfd/events", redelivered)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path):
    b = PrivateMosquitto(tmp_path / "mosquitto")
    b.start()
    yield b
    b.stop()


def event_key(e) -> tuple[str, str, float]:
    return (e.alert_id, e.kind, e.ts)


def test_events_arrive_once_in_order_with_before_after(broker, tmp_path):
    sub = Subscriber(broker.port)
    cfg = load_config(None, {"mqtt.enabled": True, "mqtt.port": broker.port, "alerts.spool": str(tmp_path / "a.spool")})
    hub = open_integrations(cfg, ["door", "hall"], "dfd-test-1")
    try:
        sent = lifecycle("door", updates=2) + lifecycle("hall", start=1_700_000_050.0, end=False)
        for e in sent:
            hub.on_message(e)
        wait_until(lambda: len(sub.events()) == len(sent), "every event at the subscriber")
        got = sub.events()
        assert [(g["after"]["id"], g["type"]) for g in got] == [(e.alert_id, e.kind) for e in sent]
        assert len({g["event_id"] for g in got}) == len(sent)
        # before is the alert's previous state: the update's before is the new's after.
        assert got[1]["before"] == got[0]["after"] and got[1]["after"]["top_score"] > got[0]["after"]["top_score"]
        assert got[3]["type"] == "end" and got[3]["after"]["active"] is False and got[3]["before"]["active"] is True
        assert got[0]["after"]["camera"] == "door" and got[0]["after"]["has_snapshot"] is True
        # The binary sensor's state: door went ON then OFF, hall is still ON; dfd/available said online.
        wait_until(lambda: sub.on("dfd/hall/suspected")[-1:] == [b"ON"], "hall ON")
        assert sub.on("dfd/door/suspected")[-2:] == [b"ON", b"OFF"]
        assert sub.on("dfd/available")[-1] == b"online"
        # Live scores: the first is published at once, the next within score_every_s is not.
        hub.on_message(ScoreEvent("door", 1, 10, 1.0, 1.0, 0.91))
        hub.on_message(ScoreEvent("door", 1, 11, 1.1, 1.1, 0.12))
        wait_until(lambda: sub.on("dfd/door/score"), "a score")
        assert json.loads(sub.on("dfd/door/score")[0])["score"] == 0.91
        # The subscriber can see an event before the broker's acknowledgement reaches the sink.
        wait_until(lambda: hub.status()["mqtt"]["written"] == len(sent), "every acknowledgement counted")
        assert hub.status()["mqtt"]["state"] == "ok"
    finally:
        hub.close()
        sub.close()
    # A new subscriber gets the retained state: discovery configs, last score, availability.
    late = Subscriber(broker.port)
    wait_until(lambda: late.on("homeassistant/binary_sensor/dfd_hall/deepfake/config"), "retained discovery")
    config = json.loads(late.on("homeassistant/binary_sensor/dfd_hall/deepfake/config")[0])
    assert config["state_topic"] == "dfd/hall/suspected" and config["availability_topic"] == "dfd/available"
    wait_until(lambda: late.on("dfd/available") == [b"offline"], "retained offline after a clean stop")
    assert json.loads(late.on("dfd/door/score")[0])["score"] == 0.91
    late.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_broker_restart_loses_nothing_and_duplicates_nothing(broker, tmp_path, protocol):
    sub = Subscriber(broker.port)
    spool = tmp_path / "a.spool.mqtt"
    sink = MqttSink(MqttSection(enabled=True, port=broker.port, protocol=protocol, timeout_s=2.0), ["door"], "m")
    writer = start_writer(sink, spool, batch_size=20, **FAST)
    first = lifecycle("door", updates=3)
    for e in first:
        writer.submit(e)
    wait_until(lambda: len(sub.events()) == len(first), "the first alert")

    broker.stop()
    during = lifecycle("door", track=2, start=1_700_000_100.0, updates=5)
    for e in during:
        writer.submit(e)
    wait_until(lambda: writer.status().state == "spooling" and writer.status().spool_depth == len(during),
               "events spooled while the broker is down")
    # dfd restarts while the broker is still down: its spool carries over.
    writer.close(timeout=0.5)
    sink = MqttSink(MqttSection(enabled=True, port=broker.port, protocol=protocol, timeout_s=2.0), ["door"], "m")
    writer = start_writer(sink, spool, batch_size=20, **FAST)
    assert writer.status().spool_depth == len(during)

    broker.start()
    wait_until(lambda: writer.status().state == "ok" and writer.status().spool_depth == 0, "the spool replayed")
    sent = first + during
    wait_until(lambda: len(sub.events()) >= len(sent), "every event at the subscriber")
    writer.close()
    sub.close()
    # The broker may deliver a message twice to its subscriber (QoS 1, flagged DUP, same event_id)
    # when it restarts before the subscriber's PUBACK; the sink itself published each event once.
    got = sub.events(redelivered=False)
    assert len({g["event_id"] for g in got}) == len(got) == len(sent)
    assert {g["event_id"] for g in sub.events()} == {g["event_id"] for g in got}
    assert [(g["after"]["id"], g["type"], g["after"]["score"]) for g in got] == \
        [(e.alert_id, e.kind, e.score) for e in sent]
    assert spool.read_bytes() == b""


def test_broker_stopped_mid_stream_every_event_arrives_in_order(broker, tmp_path):
    """Events flow while the broker dies: QoS 1 may deliver one twice, never drop or reorder; ids de-duplicate."""
    sub = Subscriber(broker.port)
    sink = MqttSink(MqttSection(enabled=True, port=broker.port, timeout_s=1.0), ["door"], "m")
    writer = start_writer(sink, tmp_path / "s.mqtt", batch_size=20, **FAST)
    sent = [e for k in range(12) for e in lifecycle("door", track=k, start=1_700_000_000.0 + 10 * k, updates=3)]
    for i, e in enumerate(sent):
        writer.submit(e)
        if i == len(sent) // 3:
            wait_until(lambda: sub.events(), "the first events")
            broker.stop()
        if i == 2 * len(sent) // 3:
            broker.start()
        time.sleep(0.005)
    wait_until(lambda: len({g["event_id"] for g in sub.events()}) == len(sent), "every event at the subscriber")
    writer.close()
    sub.close()
    got, seen, first_seen = sub.events(), {}, []
    for g in got:
        if g["event_id"] in seen:
            assert seen[g["event_id"]] == g  # a duplicate is the same event, byte for byte
        else:
            seen[g["event_id"]] = g
            first_seen.append((g["after"]["id"], g["type"], g["after"]["frame_time"]))
    assert first_seen == [(e.alert_id, e.kind, e.frame_ts) for e in sent]


def test_last_will_says_offline_when_dfd_dies(broker, tmp_path):
    sub = Subscriber(broker.port)
    code = (
        "import os, sys; from stream.sinks.mqtt import MqttSink; from stream.sinks.settings import MqttSection;"
        f"s = MqttSink(MqttSection(enabled=True, port={broker.port}), ['door'], 'm'); s.connect();"
        "print('connected', flush=True); sys.stdin.readline(); os._exit(9)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "connected"
    wait_until(lambda: sub.on("dfd/available")[-1:] == [b"online"], "online")
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(10) == 9
    wait_until(lambda: sub.on("dfd/available")[-1:] == [b"offline"], "the last will")
    sub.close()


def test_credentials_come_from_the_environment(tmp_path, monkeypatch):
    b = PrivateMosquitto(tmp_path / "auth", users={"dfd": "s3cr3t-mqtt"})
    b.start()
    try:
        spool = str(tmp_path / "a.spool")
        monkeypatch.setenv("DFD_MQTT_USER", "dfd")
        monkeypatch.setenv("DFD_MQTT_PASSWORD", "wrong-pw-77")
        cfg = load_config(None, {"mqtt.enabled": True, "mqtt.port": b.port, "mqtt.username_env": "DFD_MQTT_USER",
                                 "mqtt.password_env": "DFD_MQTT_PASSWORD", "alerts.spool": spool})
        with pytest.raises(AlertStoreError) as err:
            open_integrations(cfg, ["door"], "m")
        line = str(err.value)
        assert "\n" not in line and "refused" in line and "wrong-pw-77" not in line and "mqtt.password_env" in line
        monkeypatch.setenv("DFD_MQTT_PASSWORD", "s3cr3t-mqtt")
        hub = open_integrations(cfg, ["door"], "m")
        assert hub.status()["mqtt"]["state"] == "ok" and "s3cr3t" not in hub.status()["mqtt"]["backend"]
        hub.close()
        monkeypatch.delenv("DFD_MQTT_PASSWORD")
        with pytest.raises(Exception, match="mqtt.password_env: environment variable DFD_MQTT_PASSWORD is not set"):
            open_integrations(cfg, ["door"], "m")
    finally:
        b.stop()
