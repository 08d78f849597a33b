"""The MQTT publisher: a paho-mqtt 2.x client that never blocks the pose loop.

Design (docs/mqtt.md, "Delivery guarantees"):

* paho runs its network loop in its own thread (`connect_async` + `loop_start`); a second small thread, the
  *sender*, hands every QoS 1 message to paho, so neither the pose loop nor paho's callbacks ever wait on the
  other (paho calls `on_publish` with its message lock held: publishing from there invites deadlocks).
* Pose frames (QoS 0) are published only while connected and while paho's outgoing buffer is short; otherwise
  they are dropped and counted. With MQTT 5 they carry a message expiry.
* Presence events wait in our own bounded deque and go to paho **one at a time** (stop-and-wait): the next
  event is handed over only after the broker acknowledged the previous one. An event handed over before a
  connection loss stays in paho's store and paho resends it first on reconnection, so events stay in order
  and nothing is handed over twice. The retained presence state is "latest wins": one in flight at a time, and
  republished on every connect.
* On every (re)connect: retained `online`, the retained presence state, the discovery config; the broker's
  will is a retained `offline`. `close()` publishes `offline` itself (a clean MQTT 3.1.1 DISCONNECT suppresses
  the will).
* Reconnection: exponential backoff with jitter in our callbacks (paho's own delay is kept tiny); a refused
  login ("not authorized", bad password) logs one line and waits the longest delay; a broker that refuses
  MQTT 5 makes the client fall back to 3.1.1.
"""

from __future__ import annotations

import functools
import logging
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgepose.config import HomeAssistantConfig, MqttConfig
from edgepose.mqtt import contract, discovery
from edgepose.mqtt.contract import PresenceEvent, PresenceState, Topics
from edgepose.pose import FramePoses

log = logging.getLogger(__name__)

# paho's own reconnect wait; the real backoff happens in our callbacks (with jitter and an interruptible wait).
_PAHO_RECONNECT_FLOOR = 0.05
# Pose frames are dropped while this many packets already wait in paho's outgoing buffer (slow link).
MAX_OUT_PACKETS = 64
# Messages on subscribed topics larger than this are ignored (Home Assistant's status is "online"/"offline").
MAX_CONTROL_PAYLOAD = 64
# MQTT 5: the broker drops messages to us larger than this.
MAX_INCOMING_PACKET = 64 * 1024
_AUTH_REASONS = {134, 135, 140}  # bad user name or password, not authorized, bad authentication method
_UNSUPPORTED_PROTOCOL = 132


@dataclass
class Counters:
    """Monotonic counters, exported in `stats`."""

    frames_published: int = 0
    frames_dropped: int = 0
    events_queued: int = 0
    events_published: int = 0
    events_dropped: int = 0
    connection_attempts: int = 0
    connections: int = 0
    reconnects: int = 0
    connection_failures: int = 0
    ignored_messages: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        d = {k: v for k, v in self.__dict__.items() if k != "extra"}
        d.update(self.extra)
        return d


class _PahoClient(mqtt.Client):
    """paho's client, remembering why the last connection attempt failed (paho only says that it failed)."""

    edgepose_attempts = 0
    edgepose_last_error: BaseException | None = None

    def reconnect(self) -> MQTTErrorCode:
        self.edgepose_attempts += 1
        self.edgepose_last_error = None
        try:
            return super().reconnect()
        except OSError as e:  # includes socket.gaierror, ConnectionRefusedError and ssl.SSLError
            self.edgepose_last_error = e
            raise

    def edgepose_fallback_v311(self) -> None:
        # paho fixes the protocol at construction; switching it before the next CONNECT is the least invasive
        # way to keep the same client object (and with it any message paho still holds).
        self._protocol = MQTTProtocolVersion.MQTTv311
        self._clean_session = True


def describe_connect_error(err: BaseException | None) -> str:
    if err is None:
        return "connection failed"
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({err.verify_message or err})"
    if isinstance(err, ssl.SSLError):
        return f"TLS error ({err.reason or err})"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused (is the broker running on this port?)"
    return f"{type(err).__name__}: {err}"


def backoff_delay(failures: int, lo: float, hi: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so a fleet does not reconnect in step."""
    base = min(hi, lo * 2.0 ** min(max(0, failures - 1), 30))
    return base / 2 + rng.uniform(0, base / 2)


def _guard(fn: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("MQTT: error in %s", fn.__name__)

    return wrapper


class Publisher:
    """Publishes one device's topics. Thread-safe; `publish_*` methods never block on the network."""

    def __init__(
        self,
        mqtt_cfg: MqttConfig,
        device_id: str,
        homeassistant: HomeAssistantConfig | None = None,
        *,
        temperature_sensor: bool = True,
        model: str = "BlazePose",
        snapshot: bool = False,
    ) -> None:
        self.cfg = mqtt_cfg
        self.topics = Topics(mqtt_cfg.prefix, device_id)
        self.ha = homeassistant or HomeAssistantConfig(discovery=False)
        self.counters = Counters()
        self._discovery_kwargs: dict[str, Any] = {"temperature": temperature_sensor, "model": model,
                                                  "snapshot": snapshot}
        self._rng = random.Random()
        self._seq = 0

        self._lock = threading.Lock()  # guards the fields below; never held while calling paho
        self._events: deque[bytes] = deque()  # payloads of events not yet acknowledged, oldest first
        self._event_mid: int | None = None  # mid of the head event while paho holds it
        self._state: bytes | None = None  # payload of the current presence state
        self._state_dirty = False
        self._state_mid: int | None = None
        self._need_announce = False
        self._need_discovery = False
        self._snapshot: bytes | None = None  # JPEG not yet handed to paho (latest wins)
        self._failures = 0
        self._auth_failed = False
        self._last_failure = ""
        self._logged_ignored: set[str] = set()
        # mids acknowledged before the sender registered them (monotonic time of the ack), see _take_early_ack.
        self._early_acks: dict[int, float] = {}
        self._ever_connected = False

        self._connected = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._closed = False
        self._client = self._make_client()
        self._sender = threading.Thread(target=self._sender_loop, name="edgepose-mqtt-sender", daemon=True)
        self._started = False

    # ---------------------------------------------------------------------------------------------- setup

    def _make_client(self) -> _PahoClient:
        cfg = self.cfg
        v5 = cfg.protocol == "5"
        client = _PahoClient(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else True,
        )
        # Bounds paho's store of QoS>0 messages (we hand over at most a few at a time; this is a safety net).
        client.max_queued_messages_set(max(100, cfg.event_queue_size))
        client.will_set(self.topics.status, contract.status_payload(False), qos=1, retain=True)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password.reveal() if cfg.password else None)
        if cfg.tls.enabled:
            # Verification stays on: CERT_REQUIRED and host name checking; ca_file pins a CA.
            client.tls_set(
                ca_certs=cfg.tls.ca_file or None,
                certfile=cfg.tls.cert_file or None,
                keyfile=cfg.tls.key_file or None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        client.reconnect_delay_set(_PAHO_RECONNECT_FLOOR, _PAHO_RECONNECT_FLOOR)  # type: ignore[arg-type]
        # An exception escaping a callback would stop paho's network thread for good: log it instead.
        client.on_connect = _guard(self._on_connect)
        client.on_connect_fail = _guard(self._on_connect_fail)
        client.on_disconnect = _guard(self._on_disconnect)
        client.on_publish = _guard(self._on_publish)
        client.on_message = _guard(self._on_message)
        return client

    def start(self) -> Publisher:
        """Start connecting in the background (returns at once, even if the broker is down)."""
        if self._started:
            return self
        self._started = True
        cfg = self.cfg
        kwargs: dict[str, Any] = {}
        if cfg.protocol == "5":
            kwargs["clean_start"] = True
            props = Properties(PacketTypes.CONNECT)
            # The broker must not send us anything big: we only read Home Assistant's short status.
            props.MaximumPacketSize = MAX_INCOMING_PACKET
            kwargs["properties"] = props
        self._client.connect_async(cfg.host, cfg.port, cfg.keepalive, **kwargs)
        self._client.loop_start()
        self._sender.start()
        return self

    def __enter__(self) -> Publisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def protocol(self) -> str:
        return "5" if self._client.protocol == MQTTProtocolVersion.MQTTv5 else "3.1.1"

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def pending_events(self) -> int:
        with self._lock:
            return len(self._events)

    def stats(self) -> dict[str, Any]:
        """Counters and connection state for the `stats` payload."""
        self.counters.connection_attempts = self._client.edgepose_attempts
        d: dict[str, Any] = self.counters.as_dict()
        d["connected"] = self.connected
        d["events_pending"] = self.pending_events()
        d["protocol"] = self.protocol
        return d

    # ------------------------------------------------------------------------------------------ publishing

    def publish_pose(self, frame: FramePoses, capture_ts: float) -> bool:
        """Publish one processed frame (QoS 0); False if it was dropped (disconnected or slow link)."""
        self._seq += 1
        seq = self._seq
        if not self._connected.is_set() or len(getattr(self._client, "_out_packet", ())) > MAX_OUT_PACKETS:
            self.counters.frames_dropped += 1
            return False
        payload = contract.pose_payload(frame, seq, capture_ts, time.time())
        props = None
        if self._client.protocol == MQTTProtocolVersion.MQTTv5:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = self.cfg.pose_expiry_seconds
        info = self._client.publish(self.topics.pose, payload, qos=0, retain=False, properties=props)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.counters.frames_dropped += 1
            return False
        self.counters.frames_published += 1
        return True

    def publish_presence(self, state: PresenceState, event: PresenceEvent | None = None) -> None:
        """Record the presence state (retained, latest wins) and queue an event (delivered once, in order).

        Raises ValueError for a state or event that cannot be serialised (e.g. a NaN timestamp), before
        anything is queued: a bad event must not block the ones behind it.
        """
        state_payload = contract.presence_payload(state)
        event_payload = contract.event_payload(event) if event is not None else None
        with self._lock:
            self._state = state_payload
            self._state_dirty = True
            if event_payload is not None:
                if len(self._events) >= self.cfg.event_queue_size:
                    # Drop the oldest event that paho does not hold yet; the retained state stays correct.
                    drop_at = 1 if self._event_mid is not None else 0
                    if drop_at < len(self._events):
                        del self._events[drop_at]
                        self.counters.events_dropped += 1
                self._events.append(event_payload)
                self.counters.events_queued += 1
        self._wake.set()

    def publish_snapshot(self, jpeg: bytes) -> None:
        """Queue the enter snapshot (retained, QoS 1, latest wins; sent once connected)."""
        with self._lock:
            self._snapshot = jpeg
        self._wake.set()

    def publish_stats(self, stats: dict[str, Any]) -> bool:
        if not self._connected.is_set():
            return False
        info = self._client.publish(self.topics.stats, contract.stats_payload(stats), qos=0, retain=False)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def close(self, timeout: float = 3.0) -> None:
        """Publish `offline`, disconnect and stop the threads (at most about `timeout` seconds)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._started:
            self._sender.join(timeout)
            if self._connected.is_set():
                info = self._client.publish(self.topics.status, contract.status_payload(False), qos=1,
                                            retain=True)
                try:
                    info.wait_for_publish(timeout)
                except (RuntimeError, ValueError):
                    pass  # the connection died meanwhile: the broker's will says offline
            with self._lock:
                lost = len(self._events)
            if lost:
                log.warning("MQTT: %d presence event(s) not delivered at shutdown", lost)
            self._client.disconnect()
            self._client.loop_stop()
        self._connected.clear()

    # ------------------------------------------------------------------------------------------- sender

    def _sender_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self._pump()
            except Exception:  # a bug here must not silently kill delivery forever
                log.exception("MQTT sender error")
                self._stop.wait(1.0)

    def _pump(self) -> None:
        if not self._connected.is_set():
            return
        with self._lock:
            announce, self._need_announce = self._need_announce, False
            disc = self._need_discovery or announce
            self._need_discovery = False
        client = self._client
        if announce:
            client.publish(self.topics.status, contract.status_payload(True), qos=1, retain=True)
        if disc and self.ha.discovery:
            topic, payload = discovery.discovery_message(self.topics, self.ha.prefix, **self._discovery_kwargs)
            client.publish(topic, payload, qos=1, retain=True)
        if announce and self.ha.discovery:
            client.subscribe(discovery.ha_status_topic(self.ha.prefix), qos=0)

        with self._lock:
            state = self._state if (self._state_dirty and self._state_mid is None) else None
            if state is not None:
                self._state_dirty = False
        if state is not None:
            info = client.publish(self.topics.presence, state, qos=1, retain=True)
            with self._lock:
                if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                    self._state_dirty = True
                elif not self._take_early_ack(info.mid):
                    self._state_mid = info.mid

        with self._lock:
            snapshot, self._snapshot = self._snapshot, None
        if snapshot is not None:
            info = client.publish(self.topics.snapshot, snapshot, qos=1, retain=True)
            if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                with self._lock:
                    self._snapshot = self._snapshot or snapshot

        with self._lock:
            head = self._events[0] if (self._events and self._event_mid is None) else None
        if head is not None:
            info = client.publish(self.topics.event, head, qos=1, retain=False)
            with self._lock:
                if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                    pass  # paho's store is full: try again on the next wake-up
                elif self._take_early_ack(info.mid):  # acknowledged before we got here
                    self._events.popleft()
                    self.counters.events_published += 1
                    self._wake.set()
                else:
                    # Even with rc=NO_CONN paho keeps the message and resends it after reconnecting.
                    self._event_mid = info.mid

    def _take_early_ack(self, mid: int) -> bool:
        """Under self._lock: was `mid` acknowledged before the sender recorded it?"""
        t = self._early_acks.pop(mid, None)
        return t is not None and time.monotonic() - t < 10.0

    # ---------------------------------------------------------------------------------------- callbacks

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            with self._lock:
                self._failures = 0
                self._auth_failed = False
                self._last_failure = ""
                self._need_announce = True
                self._state_dirty = self._state is not None
                self.counters.connections += 1
                if self._ever_connected:
                    self.counters.reconnects += 1
                self._ever_connected = True
            self._connected.set()
            log.info("MQTT: connected to %s:%d (MQTT %s)", self.cfg.host, self.cfg.port, self.protocol)
            self._wake.set()
            return
        self.counters.connection_failures += 1
        code = int(reason.value)
        if code == _UNSUPPORTED_PROTOCOL and client.protocol == MQTTProtocolVersion.MQTTv5:
            log.warning("MQTT: %s:%d refused MQTT 5; falling back to MQTT 3.1.1", self.cfg.host, self.cfg.port)
            self._client.edgepose_fallback_v311()
            return
        if code in _AUTH_REASONS:
            self._auth_failed = True
            self._log_failure(
                f"broker {self.cfg.host}:{self.cfg.port} refused the login: {reason} (check mqtt.username and "
                f"the password); retrying every {self.cfg.reconnect_max:g} s", logging.ERROR)
        else:
            self._log_failure(f"broker {self.cfg.host}:{self.cfg.port} refused the connection: {reason}")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self.counters.connection_failures += 1
        err = self._client.edgepose_last_error
        self._log_failure(f"cannot connect to {self.cfg.host}:{self.cfg.port}: {describe_connect_error(err)}",
                          logging.ERROR if isinstance(err, ssl.SSLError) else logging.WARNING)
        self._backoff(lost=False)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if self._stop.is_set():
            return
        if was_connected:
            log.warning("MQTT: connection to %s:%d lost (%s); reconnecting", self.cfg.host, self.cfg.port, reason)
        self._backoff(lost=was_connected)

    def _backoff(self, lost: bool) -> None:
        cfg = self.cfg
        if self._auth_failed:
            delay = backoff_delay(1, cfg.reconnect_max, cfg.reconnect_max, self._rng)
        elif lost:
            delay = backoff_delay(1, cfg.reconnect_min, cfg.reconnect_max, self._rng)
        else:
            self._failures += 1
            delay = backoff_delay(self._failures, cfg.reconnect_min, cfg.reconnect_max, self._rng)
        self._stop.wait(delay)  # runs in paho's thread while disconnected; close() interrupts it

    def _log_failure(self, message: str, level: int = logging.WARNING) -> None:
        # One line per distinct failure: a broker that keeps refusing must not flood the journal.
        if message != self._last_failure:
            self._last_failure = message
            log.log(level, "MQTT: %s", message)
        else:
            log.debug("MQTT: %s", message)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        # Called by paho with its message lock held: only bookkeeping here, the sender does the publishing.
        # Checked first: a refused status or discovery publish (untracked below) must be reported too.
        if reason is not None and getattr(reason, "is_failure", False):
            self._log_ignored("puback", f"broker rejected a publish: {reason} (ACL?)")
        with self._lock:
            if mid == self._event_mid:
                self._event_mid = None
                if self._events:
                    self._events.popleft()
                self.counters.events_published += 1
            elif mid == self._state_mid:
                self._state_mid = None
            else:
                # Either an untracked message (status, discovery) or one the sender has not recorded yet.
                # Entries expire quickly: mids wrap around after 65535 publishes (pose frames use them too).
                now = time.monotonic()
                if len(self._early_acks) > 256:
                    self._early_acks = {m: t for m, t in self._early_acks.items() if now - t < 10.0}
                self._early_acks[mid] = now
                return
        self._wake.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "<invalid topic>"
        payload = msg.payload
        if self.ha.discovery and topic == discovery.ha_status_topic(self.ha.prefix):
            if payload == b"online":
                with self._lock:
                    self._need_discovery = True
                    self._state_dirty = self._state is not None
                self._wake.set()
                return
            if payload == b"offline":
                return
        self.counters.ignored_messages += 1
        self._log_ignored(topic, f"ignored a message on {topic[:80]!r} ({len(payload)} bytes): "
                                 f"expected 'online' or 'offline'")

    def _log_ignored(self, key: str, message: str) -> None:
        if key in self._logged_ignored or len(self._logged_ignored) > 100:
            return
        self._logged_ignored.add(key)
        log.warning("MQTT: %s", message)
