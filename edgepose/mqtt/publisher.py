"""The MQTT publisher: a paho-mqtt 2.x client that never blocks the pose loop.

Design (docs/mqtt.md, "Delivery guarantees"):

* paho runs its network loop in its own thread (`connect_async` + `loop_start`); a second small thread, the
  *sender*, hands every QoS 1 message to paho, so neither the pose loop nor paho's callbacks ever wait on the
  other (paho calls `on_publish` with its message lock held: publishing from there invites deadlocks).
* Pose frames (QoS 0) are published only while connected, while paho's outgoing buffer is short and while the
  broker answers: a small PINGREQ probe goes out every `PROBE_INTERVAL` while frames flow, and a probe left
  unanswered for half of `pose_expiry_seconds` means the link is stalled (a stopped broker, a dead route: the
  kernel's socket buffers would otherwise take seconds of frames and deliver them late). A frame counts as
  published once a probe sent after it was answered (the broker reads a connection in order), and as dropped
  if the connection died first, so `seq` gaps and `frames_dropped` agree. A frame larger than the broker's
  MQTT 5 Maximum Packet Size, or than a payload the broker refused as too large, is dropped and counted.
  With MQTT 5 frames carry a message expiry.
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
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

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
# PUBACK reasons a size limit produces: Mosquitto's message_size_limit answers 0x97 (quota exceeded), 0x83
# (implementation specific) or 0x95 (packet too large, not a valid PUBACK code: see _PahoClient).
_SIZE_REASONS = {0x83, 0x95, 0x97}
# A liveness probe (PINGREQ) goes out this often while pose frames flow.
PROBE_INTERVAL = 0.25
# A connection closed sooner than this after its CONNACK counts as a failed attempt (the backoff keeps growing).
STABLE_SECONDS = 2.0
# MQTT PUBLISH overhead beyond payload and topic: fixed header (≤5), topic length 2, properties (expiry) ≤ 10.
_PUBLISH_OVERHEAD = 17


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
    edgepose_on_pingresp: Callable[[], None] | None = None
    edgepose_raw_reason: dict[int, int]  # mid -> PUBACK reason byte paho could not decode (set per client)
    # Run before each reconnect, outside paho's own iteration over its stored messages (see _on_disconnect).
    edgepose_before_reconnect: Callable[[], None] | None = None

    def reconnect(self) -> MQTTErrorCode:
        self.edgepose_attempts += 1
        self.edgepose_last_error = None
        if self.edgepose_before_reconnect is not None:
            self.edgepose_before_reconnect()
        try:
            return super().reconnect()
        except OSError as e:  # includes socket.gaierror, ConnectionRefusedError and ssl.SSLError
            self.edgepose_last_error = e
            raise

    def _handle_pingresp(self) -> MQTTErrorCode:
        rc = super()._handle_pingresp()
        if self.edgepose_on_pingresp is not None:
            self.edgepose_on_pingresp()
        return rc

    def _handle_pubackcomp(self, cmd: Any) -> MQTTErrorCode:
        # Mosquitto 2.0 answers a publish over its message_size_limit with PUBACK reason 0x95, which MQTT 5 does
        # not allow in a PUBACK; paho then calls the packet malformed and drops the connection, and resends the
        # same message after the reconnect: a loop that delivered one event 18 times. Read it as a refusal.
        try:
            return super()._handle_pubackcomp(cmd)  # type: ignore[misc]
        except MalformedPacket:
            packet = self._in_packet["packet"]
            if cmd != "PUBACK" or self._protocol != MQTTProtocolVersion.MQTTv5 or len(packet) < 3:
                raise
            mid = struct.unpack("!H", packet[:2])[0]
            self.edgepose_raw_reason = {mid: packet[2]}
            with self._out_message_mutex:
                if mid in self._out_messages:
                    return self._do_on_publish(mid, ReasonCode(PacketTypes.PUBACK, identifier=0x80),
                                               Properties(PacketTypes.PUBACK))
            return MQTTErrorCode.MQTT_ERR_SUCCESS

    def edgepose_send_probe(self) -> bool:
        """Queue a PINGREQ without touching paho's own keep-alive bookkeeping (`_ping_t`)."""
        return self._send_simple_command(mqtt.PINGREQ) == MQTTErrorCode.MQTT_ERR_SUCCESS

    def edgepose_forget_larger_than(self, limit: int) -> list[int]:
        """Drop stored messages with a payload over `limit` bytes (paho would resend them first on every
        reconnect, into the same refusal); returns their mids. Called between connections."""
        with self._out_message_mutex:  # an RLock: safe from paho's own callbacks
            mids = [mid for mid, m in self._out_messages.items() if len(m.payload) > limit]
            for mid in mids:
                del self._out_messages[mid]
        return mids

    def edgepose_largest_stored(self) -> int:
        """Bytes of the largest payload paho holds to (re)send: on a reconnect paho resends these itself, before
        the publisher hands anything over, so they are the first suspects of a connection that dies at once."""
        with self._out_message_mutex:
            return max((len(m.payload) for m in self._out_messages.values()), default=0)

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
        # Frame accounting (see the module docstring); guarded by self._frames_lock.
        self._frames_lock = threading.Lock()
        self._unconfirmed = 0  # frames handed to paho after the outstanding probe (or since the last answer)
        self._probe_frames = 0  # frames handed to paho before the outstanding probe
        self._probe_sent: float | None = None  # monotonic time of the outstanding probe
        self._last_probe = 0.0
        self._stalled_logged = False
        self._stall_after = self.cfg.pose_expiry_seconds / 2.0
        self._max_packet: int | None = None  # the broker's MQTT 5 Maximum Packet Size
        self._max_payload: int | None = None  # smallest payload the broker refused as too large, minus one
        self._sizes: dict[int, tuple[str, int]] = {}  # mid -> (topic, payload bytes) of tracked QoS 1 messages
        self._connected_at = 0.0
        self._quick_deaths = 0
        self._forget_pending = False  # set by a quick death, done by _before_reconnect
        self._frame_bytes = 0  # largest pose payload so far
        self._conn_largest = 0  # largest payload handed over on the current connection

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
        client.edgepose_on_pingresp = self._on_pingresp
        client.edgepose_raw_reason = {}
        client.edgepose_before_reconnect = self._before_reconnect
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
        now = time.monotonic()
        if not self._connected.is_set() or len(getattr(self._client, "_out_packet", ())) > MAX_OUT_PACKETS \
                or self._stalled(now):
            self.counters.frames_dropped += 1
            return False
        payload = contract.pose_payload(frame, seq, capture_ts, time.time())
        self._frame_bytes = max(self._frame_bytes, len(payload))
        if not self._fits(self.topics.pose, payload):
            self.counters.frames_dropped += 1
            self._log_ignored("frame-size", f"pose frames of {len(payload)} bytes are larger than the broker "
                                            f"accepts; dropping them (raise the broker's limit: Mosquitto's "
                                            f"max_packet_size / message_size_limit)")
            return False
        props = None
        if self._client.protocol == MQTTProtocolVersion.MQTTv5:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = self.cfg.pose_expiry_seconds
        info = self._client.publish(self.topics.pose, payload, qos=0, retain=False, properties=props)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.counters.frames_dropped += 1
            return False
        self._conn_largest = max(self._conn_largest, len(payload))
        with self._frames_lock:
            self._unconfirmed += 1
        self._maybe_probe(now)
        return True

    def _maybe_probe(self, now: float) -> None:
        """Send a probe covering the frames handed over since the last one, at most every PROBE_INTERVAL."""
        with self._frames_lock:
            if self._unconfirmed and self._probe_sent is None and now - self._last_probe >= PROBE_INTERVAL \
                    and self._connected.is_set() and self._client.edgepose_send_probe():
                self._probe_frames, self._unconfirmed = self._unconfirmed, 0
                self._probe_sent = self._last_probe = now

    def _stalled(self, now: float) -> bool:
        """Has a probe gone unanswered for longer than half the frames' expiry (the broker does not read)?"""
        sent = self._probe_sent
        if sent is None or now - sent <= self._stall_after:
            return False
        if not self._stalled_logged:
            self._stalled_logged = True
            log.warning("MQTT: %s:%d has not answered for %.1f s; dropping pose frames until it does",
                        self.cfg.host, self.cfg.port, now - sent)
        return True

    def _fits(self, topic: str, payload: bytes) -> bool:
        """Within the broker's announced Maximum Packet Size and under any payload size it refused?"""
        if self._max_payload is not None and len(payload) > self._max_payload:
            return False
        limit = self._max_packet
        return limit is None or len(payload) + len(topic.encode()) + _PUBLISH_OVERHEAD <= limit

    def _on_pingresp(self) -> None:
        # paho's thread: the broker has read everything sent before the probe.
        with self._frames_lock:
            if self._probe_sent is None:
                return
            self.counters.frames_published += self._probe_frames
            self._probe_frames = 0
            self._probe_sent = None
        if self._stalled_logged:
            self._stalled_logged = False
            log.info("MQTT: %s:%d answers again; pose frames resume", self.cfg.host, self.cfg.port)

    def _settle_frames(self, delivered: bool) -> None:
        """Every frame handed over so far was read by the broker (delivered) or lost with the connection."""
        with self._frames_lock:
            n = self._probe_frames + self._unconfirmed
            self._probe_frames = self._unconfirmed = 0
            self._probe_sent = None
            if delivered:
                self.counters.frames_published += n
            else:
                self.counters.frames_dropped += n

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
                # A clean stop retains "absent, stopped" (docs/mqtt.md): a retained `present: true` next to
                # `offline` would be read as a fact by the next subscriber. Sent before `offline`, in order.
                stopped = contract.PresenceState(present=False, count=0, since=time.time(), stopped=True)
                self._client.publish(self.topics.presence, contract.presence_payload(stopped), qos=1,
                                     retain=True)
                info = self._client.publish(self.topics.status, contract.status_payload(False), qos=1,
                                            retain=True)
                try:
                    info.wait_for_publish(timeout)
                except (RuntimeError, ValueError):
                    pass  # the connection died meanwhile: the broker's will says offline
                # Its PUBACK means the broker read every frame before it (one connection is read in order).
                self._settle_frames(delivered=info.is_published())
            with self._lock:
                lost = len(self._events)
            if lost:
                log.warning("MQTT: %d presence event(s) not delivered at shutdown", lost)
            self._client.disconnect()
            self._client.loop_stop()
        self._settle_frames(delivered=False)
        self._connected.clear()

    # ------------------------------------------------------------------------------------------- sender

    def _sender_loop(self) -> None:
        while not self._stop.is_set():
            # While frames wait for their confirmation, wake often enough to probe for it (frames may pause).
            self._wake.wait(PROBE_INTERVAL if self._unconfirmed else 1.0)
            self._wake.clear()
            if self._stop.is_set():
                break
            self._maybe_probe(time.monotonic())
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
        if announce and self.ha.discovery:
            # Before the discovery config: the broker handles one connection's packets in order, so once the
            # config is out, Home Assistant's "online" (its birth message, sent once) can no longer be missed.
            client.subscribe(discovery.ha_status_topic(self.ha.prefix), qos=0)
        if disc and self.ha.discovery:
            topic, payload = discovery.discovery_message(self.topics, self.ha.prefix, **self._discovery_kwargs)
            if self._fits(topic, payload):
                self._track(client.publish(topic, payload, qos=1, retain=True), topic, payload)
            else:
                self._log_ignored("discovery-size", f"the Home Assistant discovery config ({len(payload)} bytes) "
                                                    f"is larger than the broker accepts; not sent (raise the "
                                                    f"broker's max_packet_size / message_size_limit)")

        with self._lock:
            state = self._state if (self._state_dirty and self._state_mid is None) else None
            if state is not None:
                self._state_dirty = False
        if state is not None:
            info = client.publish(self.topics.presence, state, qos=1, retain=True)
            self._track(info, self.topics.presence, state)
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
            self._track(info, self.topics.event, head)
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

    def _track(self, info: mqtt.MQTTMessageInfo, topic: str, payload: bytes) -> None:
        """Remember the size of a QoS 1 message, so that a refusal for its size can be explained and honoured."""
        with self._lock:
            if len(self._sizes) > 256:
                self._sizes.clear()
            self._sizes[info.mid] = (topic, len(payload))
        self._conn_largest = max(self._conn_largest, len(payload))

    def _take_early_ack(self, mid: int) -> bool:
        """Under self._lock: was `mid` acknowledged before the sender recorded it?"""
        t = self._early_acks.pop(mid, None)
        return t is not None and time.monotonic() - t < 10.0

    # ---------------------------------------------------------------------------------------- callbacks

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            limit = getattr(props, "MaximumPacketSize", None) if props is not None else None
            self._max_packet = int(limit) if limit else None
            self._connected_at = time.monotonic()
            # What paho resends by itself after this CONNACK counts as handed over on this connection.
            self._conn_largest = self._client.edgepose_largest_stored()
            with self._lock:
                # _failures is reset only once the connection proved stable (see _on_disconnect).
                self._auth_failed = False
                self._need_announce = True
                self._state_dirty = self._state is not None
                self.counters.connections += 1
                if self._ever_connected:
                    self.counters.reconnects += 1
                self._ever_connected = True
            self._connected.set()
            log.log(logging.DEBUG if self._quick_deaths else logging.INFO, "MQTT: connected to %s:%d (MQTT %s)%s",
                    self.cfg.host, self.cfg.port, self.protocol,
                    f", broker's maximum packet size {self._max_packet} bytes" if self._max_packet else "")
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
        self._quick_deaths = 0  # the broker is unreachable now: a different problem, logged as such
        err = self._client.edgepose_last_error
        self._log_failure(f"cannot connect to {self.cfg.host}:{self.cfg.port}: {describe_connect_error(err)}",
                          logging.ERROR if isinstance(err, ssl.SSLError) else logging.WARNING)
        self._backoff(lost=False)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        self._settle_frames(delivered=False)  # frames the broker had not confirmed died with the connection
        if self._stop.is_set():
            return
        if not was_connected:
            self._backoff(lost=False)
            return
        uptime = time.monotonic() - self._connected_at
        if uptime >= STABLE_SECONDS:
            self._failures = 0
            self._quick_deaths = 0
            if self._max_packet is None:
                self._max_payload = None  # a guess from quick deaths (or a refusal) is tried again
            self._last_failure = ""
            log.warning("MQTT: connection to %s:%d lost (%s); reconnecting", self.cfg.host, self.cfg.port, reason)
            self._backoff(lost=True)
            return
        # Closed right after the broker accepted us: typically something we send breaks one of its limits.
        # Count it as a failed attempt so that the backoff keeps growing instead of reconnecting every second.
        self._quick_deaths += 1
        largest = self._largest_message()
        if self._quick_deaths >= 2 and self._conn_largest > 64:
            # Twice in a row, with the broker up in between (a refused attempt resets the count): without a
            # stated limit (MQTT 3.1.1, or a broker that does not announce one) the largest message of the
            # connection is the suspect. Nothing that large is sent again (until a connection stays up for
            # STABLE_SECONDS and then ends), so status, state and events get through instead of the daemon dying
            # on the same message forever.
            self._max_payload = min(self._max_payload or self._conn_largest, self._conn_largest - 1)
            # Not here: this callback can run inside paho's resend loop over its stored messages (a connection
            # dying during that loop), and deleting from them then breaks the loop. Done before the reconnect.
            self._forget_pending = True
        self._log_failure(
            f"connection to {self.cfg.host}:{self.cfg.port} lost right after the broker accepted it "
            f"({reason}); if the broker limits message sizes (Mosquitto: message_size_limit, max_packet_size), "
            f"allow at least {largest} bytes; backing off"
            + (f" and not sending messages over {self._max_payload} bytes" if self._max_payload else ""))
        self._backoff(lost=False)

    def _before_reconnect(self) -> None:
        if self._forget_pending and self._max_payload is not None:
            self._forget_pending = False
            self._forget_oversized()

    def _forget_oversized(self) -> None:
        assert self._max_payload is not None
        forgotten = self._client.edgepose_forget_larger_than(self._max_payload)
        with self._lock:
            if self._event_mid in forgotten:  # an event that large could never be delivered
                self._event_mid = None
                if self._events:
                    self._events.popleft()
                    self.counters.events_dropped += 1
            if self._state_mid in forgotten:
                self._state_mid = None
        if forgotten:
            self._wake.set()

    def _largest_message(self) -> int:
        """Bytes of the largest message this daemon publishes (the discovery config, or a typical frame)."""
        sizes = [n for _t, n in self._sizes.values()] + [self._frame_bytes]
        if self.ha.discovery:
            sizes.append(len(discovery.discovery_message(self.topics, self.ha.prefix, **self._discovery_kwargs)[1]))
        return max(sizes) + 64

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
            code = self._client.edgepose_raw_reason.pop(mid, int(getattr(reason, "value", 0)))
            with self._lock:
                topic, size = self._sizes.get(mid, ("", 0))
            if code in _SIZE_REASONS and size:
                # Honour it: nothing of this size or larger goes out again on this broker.
                self._max_payload = min(self._max_payload or size, size - 1)
                self._log_ignored("puback-size", f"broker refused a {size}-byte message on {topic!r} (reason "
                                                 f"0x{code:02x}): it limits message sizes; raise the broker's "
                                                 f"message_size_limit (Mosquitto) to at least "
                                                 f"{self._largest_message()} bytes")
            else:
                self._log_ignored("puback", f"broker rejected a publish: {reason} (ACL?)")
        with self._lock:
            self._sizes.pop(mid, None)
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
