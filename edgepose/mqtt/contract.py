"""The MQTT topic and payload contract (docs/mqtt.md), shared by the publisher and `edgepose.client`.

Topics live under `<prefix>/<device_id>/`: `status` (retained "online"/"offline"), `pose` (QoS 0), `presence`
(retained JSON, QoS 1), `event` (QoS 1) and `stats`. Every JSON payload carries `"v": PAYLOAD_VERSION`.
Version policy: adding a field keeps the version; removing, renaming or changing the meaning of a field bumps
it. Parsers accept payloads of version 1 up to PAYLOAD_VERSION and raise ValueError naming the problem otherwise.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from edgepose.config import ID_RE, PREFIX_LEVEL_RE
from edgepose.pose import FramePoses, Pose
from edgepose.topology import KEYPOINT_NAMES

PAYLOAD_VERSION = 1

STATUS = "status"
POSE = "pose"
PRESENCE = "presence"
EVENT = "event"
STATS = "stats"
KINDS = (STATUS, POSE, PRESENCE, EVENT, STATS)
SNAPSHOT = "snapshot"  # binary JPEG, optional ([snapshot] enabled), see Topics.snapshot

ONLINE = "online"
OFFLINE = "offline"

QOS = {STATUS: 1, POSE: 0, PRESENCE: 1, EVENT: 1, STATS: 0}
RETAIN = {STATUS: True, POSE: False, PRESENCE: True, EVENT: False, STATS: False}

# Larger payloads are refused by the parsers (a pose frame with 10 people is ~30 kB).
MAX_PAYLOAD_BYTES = 1 << 20


EventType = Literal["enter", "leave", "count"]
EVENT_TYPES = ("enter", "leave", "count")


def validate_device_id(device_id: str) -> str:
    """Device ids are one topic level and a Home Assistant id: 1-64 of A-Z a-z 0-9 _ -."""
    if not isinstance(device_id, str) or not ID_RE.match(device_id):
        raise ValueError(f"device id {device_id!r} is not allowed; use 1-64 characters from A-Z a-z 0-9 _ -")
    return device_id


def validate_prefix(prefix: str) -> str:
    """A prefix is one or more '/'-separated levels of A-Z a-z 0-9 _ . - (no wildcards, no '$', no '//')."""
    if not isinstance(prefix, str) or not prefix or not all(
        PREFIX_LEVEL_RE.match(level) for level in prefix.split("/")
    ):
        raise ValueError(f"topic prefix {prefix!r} is not allowed; use levels of A-Z a-z 0-9 _ . - separated "
                         "by '/'")
    return prefix


@dataclass(frozen=True)
class Topics:
    """The topics of one device."""

    prefix: str
    device_id: str

    def __post_init__(self) -> None:
        validate_prefix(self.prefix)
        validate_device_id(self.device_id)

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device_id}"

    def topic(self, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown topic kind {kind!r}; known: {', '.join(KINDS)}")
        return f"{self.base}/{kind}"

    status = property(lambda self: self.topic(STATUS))
    pose = property(lambda self: self.topic(POSE))
    presence = property(lambda self: self.topic(PRESENCE))
    event = property(lambda self: self.topic(EVENT))
    stats = property(lambda self: self.topic(STATS))

    @property
    def snapshot(self) -> str:
        """The retained JPEG of the last enter event (binary, not a JSON kind: not in KINDS, so subscribers
        of all kinds do not receive pictures they cannot parse)."""
        return f"{self.base}/{SNAPSHOT}"


def subscription(prefix: str = "edgepose", device_id: str = "+", kind: str = "+") -> str:
    """A topic filter for one or all devices ("+") and one or all kinds ("+")."""
    validate_prefix(prefix)
    if device_id != "+":
        validate_device_id(device_id)
    if kind != "+" and kind not in KINDS:
        raise ValueError(f"unknown topic kind {kind!r}; known: {', '.join(KINDS)}")
    return f"{prefix}/{device_id}/{kind}"


def split_topic(topic: str, prefix: str) -> tuple[str, str] | None:
    """(device_id, kind) of a contract topic under `prefix`, or None for anything else."""
    head = prefix + "/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head):].split("/")
    if len(parts) != 2 or parts[1] not in KINDS or not ID_RE.match(parts[0]):
        return None
    return parts[0], parts[1]


# ---------------------------------------------------------------------------------------------------------
# Typed messages


@dataclass(frozen=True)
class PresenceState:
    """The retained presence state: `since` = wall-clock seconds when the current state began (None: unknown).

    `stopped`: retained by a clean stop (absent, count 0): nobody is watching, so this is no observation.
    `zones`: {include zone name: people whose hip centre is inside}, only when include zones are configured.
    """

    present: bool
    count: int
    since: float | None
    stopped: bool = False
    zones: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"v": PAYLOAD_VERSION, "present": self.present, "count": self.count, "since": _round_ts(self.since)}
        if self.zones is not None:
            d["zones"] = {str(k): int(v) for k, v in self.zones.items()}
        if self.stopped:
            d["stopped"] = True
        return d


@dataclass(frozen=True)
class PresenceEvent:
    """A change of presence: `type` enter/leave, or count (the number of people changed while present); `ts`
    wall-clock seconds, `count` people after the change."""

    type: EventType
    ts: float
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"v": PAYLOAD_VERSION, "type": self.type, "ts": _round_ts(self.ts), "count": self.count}


@dataclass
class PoseFrame:
    """One `pose` message: the poses of one processed frame (keypoints normalised to width x height)."""

    device_id: str
    seq: int
    ts: float
    pub_ts: float
    width: int
    height: int
    poses: list[Pose] = field(default_factory=list)

    @property
    def ids(self) -> list[int | None]:
        """The track id of each pose (stable while the person is tracked; None from a daemon without ids)."""
        return [p.id for p in self.poses]

    def by_id(self, track_id: int) -> Pose | None:
        """The pose of the person with track id `track_id`, or None if not in this frame."""
        return next((p for p in self.poses if p.id == track_id), None)

    def keypoint(self, name: str, person: int = 0) -> npt.NDArray[np.float32]:
        """[x, y, z, visibility, presence] of keypoint `name` of pose `person`."""
        return self.poses[person].keypoint(name)

    def pixels(self, name: str, person: int = 0) -> npt.NDArray[np.float32]:
        """(x, y) of keypoint `name` in pixels."""
        return self.keypoint(name, person)[:2] * np.array([self.width, self.height], np.float32)

    def named(self, person: int = 0) -> dict[str, npt.NDArray[np.float32]]:
        """All 33 keypoints of pose `person` by name."""
        kp = self.poses[person].keypoints
        return {n: kp[i] for i, n in enumerate(KEYPOINT_NAMES)}


def _round_ts(ts: float | None) -> float | None:
    return None if ts is None else round(float(ts), 3)


def _dumps(obj: dict[str, Any]) -> bytes:
    # allow_nan=False: NaN is not JSON; a non-finite value is a bug upstream and must not reach consumers.
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


# ---------------------------------------------------------------------------------------------------------
# Builders


def pose_payload(frame: FramePoses, seq: int, capture_ts: float, publish_ts: float) -> bytes:
    """The `pose` payload; timestamps are wall-clock seconds (capture time of the frame, publish time)."""
    body = {
        "v": PAYLOAD_VERSION,
        "seq": int(seq),
        "ts": _round_ts(capture_ts),
        "pub_ts": _round_ts(publish_ts),
        "width": int(frame.width),
        "height": int(frame.height),
        # A non-finite pose is a bug upstream; JSON has no NaN, and one bad pose must not lose the frame.
        "poses": [p.to_dict() for p in frame.poses if p.is_finite() and math.isfinite(p.score)],
    }
    return _dumps(body)


def presence_payload(state: PresenceState) -> bytes:
    return _dumps(state.to_dict())


def event_payload(event: PresenceEvent) -> bytes:
    if event.type not in EVENT_TYPES:
        raise ValueError(f"event type must be one of {', '.join(EVENT_TYPES)}, got {event.type!r}")
    return _dumps(event.to_dict())


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _finite_or_none(value.item())
    return value


def stats_payload(stats: dict[str, Any]) -> bytes:
    """The `stats` payload: the given fields plus "v"; non-finite numbers (at any depth) become null."""
    body = {"v": PAYLOAD_VERSION, **_finite_or_none(stats)}
    # Anything else that is not JSON (a path, an enum) is sent as its string form rather than failing.
    return json.dumps(body, separators=(",", ":"), allow_nan=False, default=str).encode()


def status_payload(online: bool) -> bytes:
    return (ONLINE if online else OFFLINE).encode()


# ---------------------------------------------------------------------------------------------------------
# Parsers


def _load(payload: bytes | str, what: str) -> dict[str, Any]:
    if isinstance(payload, str):
        payload = payload.encode()
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"{what} payload is too large ({len(payload)} bytes > {MAX_PAYLOAD_BYTES})")
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what} payload is not JSON: {e}") from None
    except RecursionError:
        raise ValueError(f"{what} payload is nested too deeply") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{what} payload must be a JSON object, got {type(obj).__name__}")
    v = obj.get("v")
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError(f"{what} payload lacks the integer version field 'v'")
    if not 1 <= v <= PAYLOAD_VERSION:
        raise ValueError(f"{what} payload has version {v}; this edgepose understands 1 to {PAYLOAD_VERSION}")
    return obj


def _field(obj: dict[str, Any], name: str, types: type | tuple[type, ...], what: str,
           nullable: bool = False) -> Any:
    if name not in obj:
        raise ValueError(f"{what} payload lacks {name!r}")
    value = obj[name]
    if value is None and nullable:
        return None
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ValueError(f"{what} field {name!r} has the wrong type bool")
    if not isinstance(value, types):
        raise ValueError(f"{what} field {name!r} has the wrong type {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} field {name!r} is not finite")
    return value


def parse_pose(payload: bytes | str, device_id: str = "") -> PoseFrame:
    obj = _load(payload, "pose")
    poses_raw = _field(obj, "poses", list, "pose")
    poses = []
    for i, p in enumerate(poses_raw):
        try:
            pose = Pose.from_dict(p)
        except ValueError as e:
            raise ValueError(f"pose payload, poses[{i}]: {e}") from None
        if not pose.is_finite():
            raise ValueError(f"pose payload, poses[{i}]: non-finite coordinates")
        poses.append(pose)
    width = _field(obj, "width", int, "pose")
    height = _field(obj, "height", int, "pose")
    if width <= 0 or height <= 0:
        raise ValueError(f"pose payload has a bad frame size {width}x{height}")
    return PoseFrame(
        seq=_field(obj, "seq", int, "pose"),
        ts=float(_field(obj, "ts", (int, float), "pose")),
        pub_ts=float(_field(obj, "pub_ts", (int, float), "pose")),
        width=width,
        height=height,
        poses=poses,
        device_id=device_id,
    )


def parse_presence(payload: bytes | str) -> PresenceState:
    obj = _load(payload, "presence")
    count = _field(obj, "count", int, "presence")
    if count < 0:
        raise ValueError("presence field 'count' is negative")
    since = _field(obj, "since", (int, float), "presence", nullable=True)
    return PresenceState(present=_field(obj, "present", bool, "presence"), count=count,
                         since=None if since is None else float(since), stopped=obj.get("stopped") is True,
                         zones=_zone_counts(obj))


def _zone_counts(obj: dict[str, Any]) -> dict[str, int] | None:
    """The optional `zones` field of a presence payload: {zone name: count ≥ 0}."""
    if obj.get("zones") is None:
        return None
    zones = _field(obj, "zones", dict, "presence")
    for name, n in zones.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"presence field 'zones' has a bad count for zone {name!r}: {n!r}")
    return dict(zones)


def parse_event(payload: bytes | str) -> PresenceEvent:
    obj = _load(payload, "event")
    etype = _field(obj, "type", str, "event")
    if etype not in EVENT_TYPES:
        raise ValueError(f"event field 'type' must be one of {', '.join(EVENT_TYPES)}, got {etype!r}")
    count = _field(obj, "count", int, "event")
    if count < 0:
        raise ValueError("event field 'count' is negative")
    return PresenceEvent(type=etype, ts=float(_field(obj, "ts", (int, float), "event")), count=count)


def parse_stats(payload: bytes | str) -> dict[str, Any]:
    return _load(payload, "stats")


def parse_status(payload: bytes | str) -> str:
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    if text not in (ONLINE, OFFLINE):
        raise ValueError(f"status payload must be 'online' or 'offline', got {text[:40]!r}")
    return text
