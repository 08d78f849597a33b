"""Consume edgepose over MQTT from Python: typed frames, presence, events and status.

Example::

    from edgepose.client import subscribe, Frame

    for msg in subscribe("localhost", 1883, device_id="livingroom"):
        if isinstance(msg, Frame) and msg.poses:
            knee = msg.keypoint("left_knee")          # array [x, y, z, visibility, presence], normalised
            print(msg.seq, msg.pixels("left_knee"))  # (x, y) in pixels
            print(msg.ids)                           # the people's track ids (engine.max_poses > 1)

`subscribe()` returns a `Subscription`: iterate it (blocking) and close it (or use `with`). Messages are
parsed with the contract of `edgepose.mqtt.contract` (docs/mqtt.md); malformed ones are skipped and logged
once per topic. If the consumer falls behind by `max_frames` pose frames, newer frames are dropped until it
catches up (counted in `Subscription.dropped`); presence, events and status are never dropped.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgepose.mqtt import contract
from edgepose.mqtt.contract import PresenceEvent, PresenceState
from edgepose.pose import Pose

log = logging.getLogger(__name__)

__all__ = ["Event", "Frame", "Presence", "Stats", "Status", "Subscription", "keypoint", "subscribe"]


def keypoint(pose: Pose, name: str) -> npt.NDArray[np.float32]:
    """The row [x, y, z, visibility, presence] of keypoint `name` (e.g. "left_knee")."""
    return pose.keypoint(name)


# A `pose` message (device_id, seq, ts, pub_ts, width, height, poses) with keypoint accessors by name.
Frame = contract.PoseFrame


@dataclass(frozen=True)
class Presence:
    device_id: str
    state: PresenceState
    retained: bool = False


@dataclass(frozen=True)
class Event:
    device_id: str
    event: PresenceEvent


@dataclass(frozen=True)
class Status:
    device_id: str
    online: bool
    retained: bool = False


@dataclass(frozen=True)
class Stats:
    device_id: str
    data: dict[str, Any]


Message = Frame | Presence | Event | Status | Stats


def parse_message(topic: str, payload: bytes, prefix: str = "edgepose", retained: bool = False) -> Message | None:
    """Parse one MQTT message of the contract; None for topics outside it. Raises ValueError if malformed."""
    where = contract.split_topic(topic, prefix)
    if where is None:
        return None
    device_id, kind = where
    if kind == contract.POSE:
        return contract.parse_pose(payload, device_id)
    if kind == contract.PRESENCE:
        return Presence(device_id, contract.parse_presence(payload), retained)
    if kind == contract.EVENT:
        return Event(device_id, contract.parse_event(payload))
    if kind == contract.STATUS:
        return Status(device_id, contract.parse_status(payload) == contract.ONLINE, retained)
    return Stats(device_id, contract.parse_stats(payload))


class Subscription:
    """A live subscription; iterate it to receive `Message`s. Not thread-safe to iterate from two threads."""

    def __init__(
        self,
        host: str = "localhost",
        port: int = 1883,
        device_id: str = "+",
        prefix: str = "edgepose",
        *,
        kinds: Iterable[str] = contract.KINDS,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        tls: bool = False,
        client_id: str | None = None,
        max_frames: int = 64,
    ) -> None:
        self.prefix = contract.validate_prefix(prefix)
        self.topics = [contract.subscription(prefix, device_id, k) for k in kinds]
        self.dropped = 0
        self.malformed = 0
        self._frames_in_queue = 0
        self._max_frames = max_frames
        self._queue: queue.Queue[Message | None] = queue.Queue()
        self._warned: set[str] = set()
        self.duplicate_events = 0
        # QoS 1 may redeliver an event (docs/mqtt.md, "Delivery guarantees"); a redelivery repeats the previous
        # event of its device exactly, timestamp included, so it is recognised and dropped here.
        self._last_event: dict[str, tuple[Any, ...]] = {}
        self._closed = False
        # Set while connected to the broker (callers that must not wait forever watch it, e.g. `edgepose
        # listen`); `refused` is the broker's reason when it rejected the connection (bad credentials).
        self.connected = threading.Event()
        self.refused: str | None = None
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"edgepose-client-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv311,
        )
        if username:
            self._client.username_pw_set(username, password)
        if tls or ca_file:
            self._client.tls_set(ca_certs=ca_file, certfile=cert_file, keyfile=key_file,
                                 cert_reqs=ssl.CERT_REQUIRED)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._client.reconnect_delay_set(1, 30)
        self._client.connect_async(host, port, 30)
        self._client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.error("edgepose.client: broker refused the connection: %s", reason)
            self.refused = str(reason)
            return
        self.refused = None
        client.subscribe([(t, 1) for t in self.topics])
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            parsed = parse_message(msg.topic, msg.payload, self.prefix, bool(msg.retain))
        except (ValueError, UnicodeDecodeError) as e:
            self.malformed += 1
            topic = getattr(msg, "_topic", b"")[:200]
            if topic not in self._warned and len(self._warned) < 100:
                self._warned.add(topic)
                log.warning("edgepose.client: skipping a malformed message on %r: %s", topic, e)
            return
        if parsed is None:
            return
        with self._lock:
            if isinstance(parsed, Event):
                key = (parsed.event.type, parsed.event.ts, parsed.event.count)
                if self._last_event.get(parsed.device_id) == key:
                    self.duplicate_events += 1
                    return
                self._last_event[parsed.device_id] = key
            if isinstance(parsed, Frame):
                if self._frames_in_queue >= self._max_frames:
                    self.dropped += 1
                    return
                self._frames_in_queue += 1
        self._queue.put(parsed)

    def get(self, timeout: float | None = None) -> Message | None:
        """The next message, or None after `timeout` seconds (or once closed)."""
        if self._closed:
            return None
        try:
            msg = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(msg, Frame):
            with self._lock:
                self._frames_in_queue -= 1
        return msg

    def __iter__(self) -> Iterator[Message]:
        while not self._closed:
            msg = self.get(timeout=0.5)
            if msg is not None:
                yield msg

    def messages(self, timeout: float) -> Iterator[Message]:
        """Like iteration, but stops once no message arrived for `timeout` seconds."""
        last = time.monotonic()
        while not self._closed:
            msg = self.get(timeout=0.1)
            if msg is not None:
                last = time.monotonic()
                yield msg
            elif time.monotonic() - last > timeout:
                return

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def subscribe(host: str = "localhost", port: int = 1883, device_id: str = "+", prefix: str = "edgepose",
              **kwargs: Any) -> Subscription:
    """Subscribe to one device (or all: "+") and return an iterable `Subscription` (see the module docstring).

    Keyword arguments: kinds (topic kinds, default all), username, password, ca_file, cert_file, key_file, tls,
    client_id, max_frames (pose frames buffered before the oldest are dropped).
    """
    return Subscription(host, port, device_id, prefix, **kwargs)
