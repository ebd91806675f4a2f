"""Alert events to an MQTT broker, Frigate-style, with Home Assistant discovery.

Topics (prefix `dfd` by default), all QoS 1:
  dfd/events              {"event_id", "type": new|update|end, "before", "after"} per alert event
  dfd/<stream>/suspected  ON while the stream has an open alert, else OFF (retained)
  dfd/<stream>/score      the last window score, at most every score_every_s (retained)
  dfd/available           online, or offline through the broker's last will (retained)
  homeassistant/binary_sensor/dfd_<stream>/deepfake/config   discovery (retained)

The sink is written by the alert writer (stream.alerts.recorder): events come
from its spool's front and leave the spool only after the broker's PUBACK.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from stream.alerts.errors import AlertStoreError, RecordRejected, StoreUnavailable
from stream.secrets import SecretFilter
from stream.sinks.payload import AlertStates
from stream.sinks.settings import MqttSection
from stream.wire import AlertEvent, ScoreEvent

KEEPALIVE_S = 30
AUTH_REFUSED = {134, 135}  # "Bad user name or password", "Not authorized" (3.1.1's 4 and 5, mapped by paho)


def slug(name: str) -> str:
    """A stream name fit for one MQTT topic level and a Home Assistant id."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


class MqttSink:
    def __init__(self, cfg: MqttSection, streams: Sequence[str], model_id: str,
                 username: str | None = None, password: str | None = None) -> None:
        self.cfg = cfg
        self._streams, self._model_id = list(streams), model_id
        self._auth = (username, password)
        self._secrets = SecretFilter([password or ""])
        self._prefix = cfg.topic_prefix.rstrip("/")
        self.masked = f"mqtt{'s' if cfg.tls else ''}://{username + '@' if username else ''}{cfg.host}:{cfg.port}"
        self._client_id = cfg.client_id or f"dfd-{socket.gethostname()}-{os.getpid()}"
        self._states = AlertStates()
        self._connected = threading.Event()  # CONNACK accepted, not disconnected since
        self._answered = threading.Event()  # CONNACK came, accepted or not
        self._refused: mqtt.ReasonCode | None = None
        self._last_score: dict[str, float] = {}
        self._client: mqtt.Client | None = None

    def topic(self, *levels: str) -> str:
        return "/".join((self._prefix, *levels))

    def _new_client(self) -> mqtt.Client:
        v5 = self.cfg.protocol == "5"
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id,
                        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
        c.will_set(self.topic("available"), "offline", qos=1, retain=True)
        if any(self._auth):
            c.username_pw_set(*self._auth)
        if self.cfg.tls:
            try:
                c.tls_set(ca_certs=self.cfg.ca_file or None, certfile=self.cfg.cert_file or None,
                          keyfile=self.cfg.key_file or None)
            except (OSError, ValueError) as exc:
                raise AlertStoreError(f"mqtt TLS: {getattr(exc, 'strerror', None) or exc}") from None
        c.connect_timeout = self.cfg.timeout_s
        c.reconnect_delay_set(1, 30)
        c.on_connect, c.on_disconnect = self._on_connect, self._on_disconnect
        return c

    # --- the Sink protocol (stream.alerts.sink), called by the writer thread ----------------

    def connect(self) -> None:
        if self._client is not None and self._connected.is_set():
            return
        self.close()
        client = self._client = self._new_client()
        self._answered.clear()
        self._refused = None
        try:
            client.connect(self.cfg.host, self.cfg.port, keepalive=KEEPALIVE_S)
        except (OSError, ValueError) as exc:  # refused, unreachable, name not known, TLS handshake
            self.close()
            raise StoreUnavailable(f"{self.masked}: {getattr(exc, 'strerror', None) or exc}") from None
        client.loop_start()
        answered = self._answered.wait(self.cfg.timeout_s)
        if answered and self._refused is None:
            return
        self.close()
        if not answered:
            raise StoreUnavailable(f"{self.masked}: no CONNACK within {self.cfg.timeout_s:g} s")
        line = f"{self.masked}: the broker refused the connection: {self._refused}"
        if self._refused.value in AUTH_REFUSED:
            raise AlertStoreError(f"{line} (see mqtt.username_env and mqtt.password_env)")
        raise StoreUnavailable(line)

    def write(self, events: Sequence[AlertEvent]) -> None:
        """Publish each event (and a stream's on/off change) and wait for every PUBACK."""
        self.connect()
        client = self._client
        sent = []
        for d in self._states.deliveries(events):
            try:
                body = d.json()
            except ValueError as exc:
                raise RecordRejected(f"alert {d.event.alert_id}: {exc}") from None
            sent.append(client.publish(self.topic("events"), body, qos=1))
            if d.event.kind != "update":
                on = "ON" if d.stream_open else "OFF"
                sent.append(client.publish(self.topic(slug(d.event.stream), "suspected"), on, qos=1, retain=True))
        deadline = time.monotonic() + self.cfg.timeout_s
        for info in sent:
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (ValueError, RuntimeError) as exc:
                raise StoreUnavailable(f"{self.masked}: {exc}") from None
            if not info.is_published():
                raise StoreUnavailable(f"{self.masked}: no PUBACK within {self.cfg.timeout_s:g} s")
        self._states.commit()

    def close(self) -> None:
        """Say offline (a clean disconnect fires no last will) and stop the network thread."""
        client, self._client = self._client, None
        if client is None:
            return
        if self._connected.is_set():
            try:
                client.publish(self.topic("available"), "offline", qos=1, retain=True).wait_for_publish(1.0)
            except (ValueError, RuntimeError):
                pass  # the broker is going away anyway: its last will says offline
        client.disconnect()
        client.loop_stop()
        self._connected.clear()

    def scrub(self, text: str) -> str:
        return self._secrets(text)

    # --- the live score, from the supervisor's thread: never waits, never spooled -------------

    def score(self, m: ScoreEvent) -> None:
        now = time.monotonic()
        client = self._client
        if client is None or not self._connected.is_set():
            return  # a live value: the next one replaces it
        if now - self._last_score.get(m.stream, float("-inf")) < self.cfg.score_every_s:
            return
        self._last_score[m.stream] = now
        body = json.dumps({"score": round(m.p_fake, 4), "track": m.track, "frame_time": m.frame_ts})
        client.publish(self.topic(slug(m.stream), "score"), body, qos=1, retain=True)

    # --- paho's network thread ------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: mqtt.ReasonCode,
                    properties: Any) -> None:
        if reason.is_failure:
            self._refused = reason
        else:
            self._announce(client)
            self._connected.set()
        self._answered.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._connected.clear()

    def _announce(self, client: mqtt.Client) -> None:
        """On every (re)connect: online, the discovery configs, each stream's on/off state."""
        client.publish(self.topic("available"), "online", qos=1, retain=True)
        open_now = self._states.open_streams()
        for stream in self._streams:
            if self.cfg.discovery:
                topic, config = self.discovery(stream)
                client.publish(topic, json.dumps(config), qos=1, retain=True)
            on = "ON" if stream in open_now else "OFF"
            client.publish(self.topic(slug(stream), "suspected"), on, qos=1, retain=True)

    def discovery(self, stream: str) -> tuple[str, dict[str, Any]]:
        """Home Assistant's discovery topic and config of the stream's "deepfake suspected" binary sensor."""
        node = f"{slug(self._prefix)}_{slug(stream)}"
        return f"{self.cfg.discovery_prefix}/binary_sensor/{node}/deepfake/config", {
            "name": "Deepfake suspected",
            "unique_id": f"{node}_deepfake",
            "state_topic": self.topic(slug(stream), "suspected"),
            "payload_on": "ON",
            "payload_off": "OFF",
            "availability_topic": self.topic("available"),
            "payload_available": "online",
            "payload_not_available": "offline",
            "device_class": "problem",
            "json_attributes_topic": self.topic(slug(stream), "score"),
            "device": {"identifiers": [node], "name": f"dfd {stream}", "manufacturer": "dfd",
                       "model": self._model_id},
        }
