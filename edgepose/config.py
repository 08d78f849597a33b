"""The configuration model: one TOML file, validated at start into frozen dataclasses, one per section.

These dataclasses are the one schema: the engine, the validity stage, the presence tracker and the smoother
take their section as it is (`PoseEngine.from_config(cfg.engine)`, `ValidityStage(cfg.validity)`, ...), and a
command builds the same class from its options. Each field's metadata (`_opt`) is its description, the reason
for its default, its type and range, and (by its name) its environment variable; it drives the validation
(on construction too), the environment overrides and docs/configuration.md's key tables (tools/config_docs.py).

Every key has a default (docs/configuration.md lists them). An unknown key or a bad value raises `ConfigError`,
whose message names the key path (`mqtt.port`) and what is allowed. Environment variables override the file:
`EDGEPOSE_<SECTION>_<KEY>` (e.g. `EDGEPOSE_MQTT_HOST`, `EDGEPOSE_MQTT_TLS_CA_FILE`), parsed and validated like
file values. The MQTT password never lives in the file: it is read from `mqtt.password_file`, from the
environment variable named by `mqtt.password_env`, or from `$CREDENTIALS_DIRECTORY/mqtt_password` (systemd
`LoadCredential=`), and is held in a `Secret` whose repr is `***`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
import os
import re
import socket
import ssl
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgepose.errors import EXIT_CONFIG, EdgeposeError

ENV_PREFIX = "EDGEPOSE_"
CREDENTIAL_NAME = "mqtt_password"
# A password file larger than this is a mistake (a key file, a log), not a password.
MAX_PASSWORD_BYTES = 4096

# A device or client id, and a level of a topic prefix; edgepose.mqtt.contract checks topics with the same two.
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PREFIX_LEVEL_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ConfigError(EdgeposeError, ValueError):
    """An invalid configuration; `key` is the dotted key path (may be empty for file-level errors)."""

    exit_status = EXIT_CONFIG

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class Secret:
    """A string that never shows itself in repr/str/format (so not in logs, errors or dumps)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:  # never pickled into a child process or a cache by accident
        raise TypeError("Secret cannot be pickled")


def _opt(default: Any, doc: str, *, choices: tuple[Any, ...] | None = None, lo: float | None = None,
         hi: float | None = None, kind: str | None = None, why: str = "") -> Any:
    """A config field with its documentation (`why`: the reason for its default), its constraints (read by the
    validator) and, through its name, its environment variable; docs/configuration.md's tables are made from
    them (`settings_table`)."""
    meta = {"doc": doc, "choices": choices, "lo": lo, "hi": hi, "kind": kind, "why": why}
    return field(default=default, metadata=meta)


def _internal(default: Any, doc: str) -> Any:
    """A field set by code, never by the TOML file or the environment (not documented as a key)."""
    return field(default=default, metadata={"doc": doc, "internal": True})


class _Validated:
    """Checks every documented field against its metadata on construction, so that a section built in code
    (a command, a test) is held to the same rules as one read from the file; errors name the field."""

    def __post_init__(self) -> None:
        for name, f in _fields(type(self)).items():
            value = getattr(self, name)
            if value is None or _is_section(f):
                continue  # None: unset, the consumer's default (engine.threads from a command)
            _convert(name, f, os.fspath(value) if isinstance(value, os.PathLike) else value)


def default_device_id() -> str:
    """The host name's first label, reduced to the characters allowed in a device id."""
    name = socket.gethostname().split(".")[0]
    name = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64]
    return name or "edgepose"


@dataclass(frozen=True)
class DeviceConfig(_Validated):
    id: str = _opt("", "Device id used in topics and Home Assistant ids (default: the host name)", kind="id")


@dataclass(frozen=True)
class SourceConfig(_Validated):
    uri: str = _opt("auto", 'Camera/stream/file: "auto", a camera index, /dev/videoN, a file, an rtsp/http '
                    'URL, an image folder or "picamera2"', kind="uri")
    width: int = _opt(640, "Requested capture width in pixels", lo=16, hi=8192)
    height: int = _opt(480, "Requested capture height in pixels", lo=16, hi=8192)
    fps: float = _opt(30.0, "Requested camera frame rate", lo=0.1, hi=240)
    loop: bool = _opt(False, "Restart a video file or image folder at its end")
    pace: str = _opt("realtime", "Files: play at their frame rate or as fast as possible",
                     choices=("realtime", "fast"))


@dataclass(frozen=True)
class EngineConfig(_Validated):
    model: str = _opt("lite", "Landmark model", choices=("lite", "full", "heavy"))
    precision: str = _opt("auto", "Model precision: `auto` chooses per stage the fastest form on this CPU from its "
                          "features (Pi 4: float detector and lite/full landmarks; Pi 5: int8; x86: int8; an unknown "
                          "CPU: float; docs/pi.md), `float`, `fp16` (the float landmark files computed in fp16 where "
                          "the CPU has FP16 arithmetic, Pi 5; the detector stays float), or `int8` (the shipped "
                          "quantized models; on the CPU the mixed recipe where built, see docs/int8.md)",
                          choices=("auto", "float", "fp16", "int8"))
    backend: str = _opt("auto", "Inference backend (auto = Edge TPU if present, else CPU, logged loudly)",
                        choices=("auto", "cpu", "edgetpu"))
    edgetpu_device: str = _opt("", 'Edge TPU device: "" (first found), "usb", "usb:N", "pci", "pci:N"',
                               kind="tpu")
    # None (commands without --threads): the runtime's choice.
    threads: int | None = _opt(4, "CPU inference threads", lo=1, hi=64)
    heatmap_kernel: int = _opt(7, "Heatmap refinement kernel size", choices=(7, 9))
    models_dir: str = _opt("", "Directory with the model files (default: the packaged models)", kind="path")
    min_detection_score: float = _opt(0.5, "Detector score threshold", lo=0.0, hi=1.0)
    min_presence: float = _opt(0.5, "Landmark pose-presence threshold to keep tracking", lo=0.0, hi=1.0)
    max_poses: int = _opt(1, "People tracked at most (1: the single-person graph, cost unchanged)", lo=1, hi=16)
    detect_interval: int = _opt(1, "While fewer than max_poses are tracked, look for newcomers every N frames",
                                lo=1, hi=1000)
    wide_frame_tiles: bool = _opt(True, "Video, frames 3:2 or wider: while the detector finds nobody in the whole "
                                  "frame, it also looks at one square tile of it a frame, in turn (people 1.78x "
                                  "larger at 16:9, for one more detector run on such frames; docs/presence.md)")
    id_hold_seconds: float = _opt(1.0, "A person lost this long at most keeps their id when found at the same "
                                  "place", lo=0.0, hi=60.0)
    # Set by the commands, not by the daemon's file:
    static: bool = _internal(False, "Single images: the detector on every frame, nothing smoothed")
    segmentation: bool = _internal(False, "Compute the landmark model's segmentation mask")
    mirror_evidence: bool = _internal(False, "Static mode: also run the landmark model on each person's mirrored "
                                             "crop, for the person score of pose validity on photos")
    full_graph: bool = _internal(False, "Run the segmentation head even without a mask (to measure what "
                                        "dropping it saves; edgepose.inference.pruning)")
    edgetpu_form: bool = _internal(False, "Run the graphs the Edge TPU compiler is given (the rewritten detector, "
                                          "the landmark model's split form) on the CPU: the Edge TPU form's "
                                          "accuracy without a TPU (edgepose.inference.chain); needs int8")


@dataclass(frozen=True)
class SmoothingConfig(_Validated):
    enabled: bool = _opt(True, "One-Euro smoothing of the keypoints")
    landmark_min_cutoff: float = _opt(0.05, "Keypoints: minimum cutoff frequency (Hz)", lo=1e-6, hi=1e3)
    landmark_beta: float = _opt(80.0, "Keypoints: speed coefficient", lo=0.0, hi=1e6)
    landmark_derivate_cutoff: float = _opt(1.0, "Keypoints: derivative cutoff (Hz)", lo=1e-6, hi=1e3)
    world_min_cutoff: float = _opt(0.1, "World landmarks: minimum cutoff (Hz)", lo=1e-6, hi=1e3)
    world_beta: float = _opt(40.0, "World landmarks: speed coefficient", lo=0.0, hi=1e6)
    world_derivate_cutoff: float = _opt(1.0, "World landmarks: derivative cutoff (Hz)", lo=1e-6, hi=1e3)
    aux_min_cutoff: float = _opt(0.01, "Auxiliary (ROI) points: minimum cutoff (Hz)", lo=1e-6, hi=1e3)
    aux_beta: float = _opt(10.0, "Auxiliary points: speed coefficient", lo=0.0, hi=1e6)
    aux_derivate_cutoff: float = _opt(1.0, "Auxiliary points: derivative cutoff (Hz)", lo=1e-6, hi=1e3)
    visibility_alpha: float = _opt(0.1, "Visibility low-pass factor", lo=0.0, hi=1.0)


@dataclass(frozen=True)
class PresenceConfig(_Validated):
    enter_frames: int = _opt(3, "Consecutive frames with a convincing pose before 'present'", lo=1, hi=1000)
    leave_seconds: float = _opt(2.0, "Seconds without a pose before 'absent'", lo=0.0, hi=86400)
    min_score: float = _opt(0.5, "Minimum pose score for a pose to count", lo=0.0, hi=1.0)
    min_torso_visibility: float = _opt(0.5, "Visibility a torso point needs to count as seen", lo=0.0, hi=1.0)
    min_torso_points: int = _opt(2, "Torso points (shoulders, hips) that must be seen", lo=0, hi=4)


@dataclass(frozen=True)
class ValidityConfig(_Validated):
    """The pose-validity stage (edgepose.validity); `why` is the reason for each default (docs/configuration.md)."""

    enabled: bool = _opt(True, "Reject poses that are not people before publishing and presence",
        why=("on: ghosts on furniture were 29–99 % of empty frames without it (docs/presence.md); off shows the raw "
             "engine"))
    min_pose_score: float = _opt(0.5, "Landmark pose-presence score a pose needs", lo=0.0, hi=1.0,
        why="the landmark model's own gate (spec §3.4): every emitted pose passes; raise to be stricter")
    min_detection_score: float = _opt(0.52, "Score of the detection that started the track", lo=0.0, hi=1.0,
        why=("more than one int8 step (0.016 in score at 0.5) above the detector's own threshold of 0.5: a detection "
             "within that step of it is the quantization's noise as much as a person. On the tuning clips the car "
             "ghost on the road started at 0.500, people's tracks at 0.578 and more (confirmation clips: 0.531 and "
             "more). Video only: on photos the person score weighs the detection score, and this rule on top of it "
             "cost 9 more of 1,000 LSP people (905 → 896 found) for no ghost removed; docs/presence.md"))
    min_torso_visibility: float = _opt(0.75, "Mean visibility of both shoulders or of both hips",
                                         lo=0.0, hi=1.0,
        why=("people on the clips: 10th percentile of the 4-point mean 0.97 and more (0.79 on the smallest clip). The"
             " better-seen pair (shoulders or hips) is judged, so a person at a desk with hidden hips passes (the "
             "grey astronaut photo: hips 0.07); judging all four rejected 2.4 % vs 3.1 % of the clips' empty frames "
             "with a pose left (docs/presence.md)"))
    min_extent: float = _opt(0.12, "Larger side of the keypoint box, share of the frame height", lo=0.0, hi=1.0,
        why=("desk and table ghosts on the clips are 6–13 % of the frame high (median), real people 19 % and more "
             "(10th percentile). Video only: on photos the person score judges instead (on the tuning photos, on top "
             "of it, these rules cost 4 more LSP people for 1 more ghost)"))
    max_limb_ratio: float = _opt(2.5, "Longest limb over the torso, as a multiple of a human's", lo=0.1, hi=100,
        why=("a bone can look shorter than a human's (foreshortening), not 2.5 times longer unless the torso is "
             "foreshortened. Video only: on photos the person score judges instead (on the tuning photos, on top of "
             "it, these rules cost 4 more LSP people for 1 more ghost)"))
    max_shoulder_ratio: float = _opt(1.6, "Shoulder width over torso length", lo=0.1, hi=100,
        why=("people on the clips: 90th percentile 0.4–0.6 standing, 1.2 lying on the floor. Video only: on photos "
             "the person score judges instead (on the tuning photos, on top of it, these rules cost 4 more LSP people "
             "for 1 more ghost)"))
    min_person_score: float = _opt(0.5, "Person score a pose needs on a photo (static input: `infer` on images or "
                                   "`--static`, `eval`): a logistic score with fixed coefficients of the pose score, "
                                   "the detection score and the length of the world skeleton's limbs, the pose score "
                                   "and the limbs averaged with those of the pose the landmark model finds on the "
                                   "mirrored crop (`edgepose/validity/rules.py`). 0 = off; raise to be stricter",
                                   lo=0.0, hi=1.0,
        why=("fitted on the tuning photos (even half of `images/negatives`, LSP), 0.5 placed where it loses 7 of 911 "
             "LSP people; lite int8 ghosts on those negatives 33 → 7 (without the mirror 14; held-out odd half 21 → 2 "
             "= 0.7 %; docs/presence.md, \"Evidence: photos\"). Not "
             "applied to video, where time and motion judge: it would reject the conference room's visitor for 6 s "
             "while he walks in"))
    max_speed: float = _opt(3.0, "Hip-centre speed in pose sizes per second", lo=0.0, hi=1000,
        why=("a walker in the gait-lab clips moves about 0.9 of his height per second; the car ghosts about 7; 3 was "
             "chosen on the tuning clips (2 began to cut real people in the corridor clip)"))
    min_track_frames: int = _opt(2, "Frames a track must last before its poses count", lo=1, hi=1000,
        why="rejects one-frame flickers before they are published (costs one frame of a real person)")
    motion: bool = _opt(True, "Require motion in the pose's box (video only)",
        why="a track born where nothing moved is furniture (Frigate's idea); off for cameras that shake")
    min_foreground: float = _opt(0.05, "Share of the pose's box that must change to count as motion",
                                 lo=0.0, hi=1.0,
        why=("chosen on the tuning clips: with 0.1 the conference room's seated visitor was lost for a while (one "
             "visit split in two), with 0.05 not"))
    still_seconds: float = _opt(5.0, "Seconds without motion in its box before a pose is rejected",
                                lo=0.0, hi=86400,
        why=("a seated person moves within a few seconds; a ghost on a moved chair stops moving at once. Adds to the "
             "leave delay"))
    pixel_threshold: float = _opt(18.0, "Grey-level change that counts as motion (0-255)", lo=1.0, hi=255,
        why="a clear change of an 8-bit grey level; kept from the first try on the tuning clips, not tuned further")
    background_seconds: float = _opt(1.0, "Time constant of the motion model's running average",
                                     lo=0.01, hi=3600,
        why="1 s makes it a frame difference over about a second: a moved chair counts only while it moves")
    track_gap_seconds: float = _opt(1.0, "A track survives gaps this long (flicker keeps its history)",
                                    lo=0.0, hi=3600,
        why="a ghost that vanishes and reappears on the same spot keeps its history (never moved)")
    match_distance: float = _opt(0.2, "Largest hip-centre jump (frame heights) within one track",
                                 lo=0.0, hi=10,
        why="a person moves less than a fifth of the frame between two frames at 4 fps and more")


@dataclass(frozen=True)
class TlsConfig(_Validated):
    enabled: bool = _opt(False, "Use TLS (certificate verification is always on)")
    ca_file: str = _opt("", "CA bundle to verify the broker with (default: the system CAs)", kind="path")
    cert_file: str = _opt("", "Client certificate (PEM) for mutual TLS", kind="path")
    key_file: str = _opt("", "Client private key (PEM)", kind="path")


@dataclass(frozen=True)
class MqttConfig(_Validated):
    host: str = _opt("localhost", "Broker host name or address", kind="host")
    port: int = _opt(1883, "Broker port (usually 8883 with TLS)", lo=1, hi=65535)
    prefix: str = _opt("edgepose", "Topic prefix; topics are <prefix>/<device_id>/...", kind="prefix")
    client_id: str = _opt("", "MQTT client id, unique per broker (default: edgepose-<device id>)", kind="id")
    protocol: str = _opt("5", 'MQTT version: "5" (falls back to 3.1.1 if refused) or "3.1.1"',
                         choices=("5", "3.1.1"))
    keepalive: int = _opt(60, "Keep-alive interval in seconds", lo=5, hi=65535)
    username: str = _opt("", "User name (empty: anonymous)", kind="text")
    password_file: str = _opt("", "File holding the password (one line)", kind="path")
    password_env: str = _opt("", "Name of an environment variable holding the password", kind="envname")
    tls: TlsConfig = field(default_factory=TlsConfig, metadata={"doc": "TLS settings"})
    reconnect_min: float = _opt(1.0, "First reconnect delay in seconds (doubles per failure, with jitter)",
                                lo=0.01, hi=3600)
    # 5 s: back within 5 s of the broker's return (issue 6); at most 12-24 attempts a minute, no storm.
    reconnect_max: float = _opt(5.0, "Longest reconnect delay in seconds (also the retry period after a refused "
                                "login)", lo=0.01, hi=3600)
    event_queue_size: int = _opt(1000, "Presence events kept while the broker is unreachable", lo=1, hi=1_000_000)
    pose_expiry_seconds: int = _opt(2, "MQTT 5 message expiry of pose frames", lo=1, hi=3600)
    # Resolved from password_file / password_env / $CREDENTIALS_DIRECTORY, never from the TOML file.
    password: Secret | None = field(default=None, repr=False, compare=False, metadata={"internal": True})


@dataclass(frozen=True)
class HomeAssistantConfig(_Validated):
    discovery: bool = _opt(True, "Publish Home Assistant MQTT discovery configs")
    prefix: str = _opt("homeassistant", "Home Assistant discovery prefix", kind="prefix")


@dataclass(frozen=True)
class StatsConfig(_Validated):
    interval_seconds: float = _opt(60.0, "Seconds between stats messages", lo=1.0, hi=86400)


@dataclass(frozen=True)
class LiveViewConfig(_Validated):
    enabled: bool = _opt(False, "Serve the live view page (camera frames with the skeletons); off by default")
    bind: str = _opt("127.0.0.1", "IP address the live view listens on; any other than loopback needs token_file",
                     kind="ip")
    port: int = _opt(8088, "TCP port of the live view", lo=1, hi=65535)
    max_fps: float = _opt(5.0, "Highest frame rate sent to a viewer", lo=0.1, hi=60)
    quality: int = _opt(70, "JPEG quality of the live view frames", lo=10, hi=100)
    token_file: str = _opt("", "File holding the access token (one line, 16 characters or more); required "
                               "when bind is not a loopback address", kind="path")
    # Resolved from token_file, never from the TOML file.
    token: Secret | None = field(default=None, repr=False, compare=False, metadata={"internal": True})


@dataclass(frozen=True)
class SnapshotConfig(_Validated):
    enabled: bool = _opt(False, "Publish a JPEG with the skeleton on every enter event (retained; off for privacy)")
    width: int = _opt(640, "Snapshot width in pixels (the height keeps the frame's aspect ratio)", lo=16, hi=4096)
    quality: int = _opt(80, "Snapshot JPEG quality", lo=10, hi=100)


@dataclass(frozen=True)
class Config:
    device: DeviceConfig = field(default_factory=DeviceConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    presence: PresenceConfig = field(default_factory=PresenceConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    homeassistant: HomeAssistantConfig = field(default_factory=HomeAssistantConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    live_view: LiveViewConfig = field(default_factory=LiveViewConfig)
    snapshot: SnapshotConfig = field(default_factory=SnapshotConfig)
    validity: ValidityConfig = field(default_factory=ValidityConfig)
    # [[zones]]: validated by edgepose.zones.parse_zones (an array of tables, not a section).
    zones: tuple[Any, ...] = field(default=(), metadata={"internal": True})

    def replace(self, **sections: Any) -> Config:
        return dataclasses.replace(self, **sections)


# ---------------------------------------------------------------------------------------------------------
# Validation


def _fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}


def _is_section(f: dataclasses.Field[Any]) -> bool:
    return dataclasses.is_dataclass(f.default_factory) if f.default_factory is not dataclasses.MISSING else False


def _section_type(f: dataclasses.Field[Any]) -> type:
    return f.default_factory  # type: ignore[return-value]


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", dict: "a table",
            list: "an array"}.get(type(value), type(value).__name__)


def _check_text(key: str, value: str, kind: str | None) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigError(key, "control characters are not allowed")
    if len(value) > 4096:
        raise ConfigError(key, "value is too long (more than 4096 characters)")
    if kind == "id" and value and not ID_RE.match(value):
        raise ConfigError(key, f"{value!r} is not allowed; use 1-64 characters from A-Z a-z 0-9 _ -")
    if kind == "prefix":
        check_prefix(key, value)
    if kind == "envname" and value and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
        raise ConfigError(key, f"{value!r} is not an environment variable name")
    if kind == "host" and (not value or any(c.isspace() for c in value) or len(value) > 253):
        raise ConfigError(key, "must be a host name or address without spaces")
    if kind == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ConfigError(key, f"{value!r} is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1)") from None
    if kind == "tpu" and value and not re.match(r"^(usb|pci)(:\d{1,3})?$", value):
        raise ConfigError(key, f'{value!r} is not allowed; use "", "usb", "usb:N", "pci" or "pci:N"')
    return value


def check_prefix(key: str, value: str) -> str:
    """A topic prefix: one or more '/'-separated levels of A-Z a-z 0-9 _ . - (no wildcards, no '$')."""
    levels = value.split("/")
    if not value or not all(PREFIX_LEVEL_RE.match(level) for level in levels):
        raise ConfigError(key, f"{value!r} is not allowed; use levels of A-Z a-z 0-9 _ . - separated by '/' "
                               "(no wildcards '+' '#', no empty level)")
    return value


def _allowed(meta: Mapping[str, Any]) -> str:
    choices, lo, hi = meta.get("choices"), meta.get("lo"), meta.get("hi")
    if choices is not None:
        return " (allowed: " + ", ".join(repr(c) if isinstance(c, str) else str(c) for c in choices) + ")"
    if lo is not None and hi is not None:
        return f" (allowed: {lo:g} to {hi:g})"
    return ""


def _convert(key: str, f: dataclasses.Field[Any], value: Any) -> Any:
    try:
        return _convert_checked(key, f, value)
    except ConfigError as e:
        if "allowed" in str(e):
            raise
        raise ConfigError(key, str(e).removeprefix(f"{key}: ") + _allowed(f.metadata)) from None


def _convert_checked(key: str, f: dataclasses.Field[Any], value: Any) -> Any:
    default = f.default
    meta = f.metadata
    choices = meta.get("choices")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(key, f"must be true or false, got {_type_name(value)}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"must be an integer, got {_type_name(value)}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, f"must be a number, got {_type_name(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(key, "must be a finite number")
    elif isinstance(default, str):
        if f.name == "uri" and isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value <= 63:
                raise ConfigError(key, "a camera index must be between 0 and 63")
            value = str(value)
        if f.name == "protocol" and isinstance(value, int | float) and not isinstance(value, bool):
            value = {5: "5", 3.1: "3.1.1", 311: "3.1.1"}.get(value, str(value))
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, got {_type_name(value)}")
        value = _check_text(key, value, meta.get("kind"))
    if choices is not None and value not in choices:
        allowed = ", ".join(repr(c) if isinstance(c, str) else str(c) for c in choices)
        raise ConfigError(key, f"{value!r} is not allowed; allowed values: {allowed}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(key, f"{value!r} is out of range; allowed: {lo} to {hi}")
    return value


_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def key_path(path: str, name: object) -> str:
    """`path.name`, with `name` quoted as in TOML when it is not a bare key (so it is never empty)."""
    text = str(name)
    if not _BARE_KEY_RE.match(text):
        text = json.dumps(text[:60])
    return f"{path}.{text}" if path else text


def _build(cls: type, table: Any, path: str) -> Any:
    if not isinstance(table, Mapping):
        raise ConfigError(path, f"must be a table, got {_type_name(table)}")
    known = _fields(cls)
    kwargs: dict[str, Any] = {}
    for name, value in table.items():
        key = key_path(path, name)
        f = known.get(name)
        if f is None:
            hint = ""
            if cls is MqttConfig and name == "password":
                hint = " (the password never goes in the file: use mqtt.password_file, mqtt.password_env " \
                       "or the systemd credential mqtt_password)"
            allowed = ", ".join(known)
            raise ConfigError(key, f"unknown key{hint}; allowed keys: {allowed}")
        kwargs[name] = _build(_section_type(f), value, key) if _is_section(f) else _convert(key, f, value)
    return cls(**kwargs)


def _parse_env_value(key: str, f: dataclasses.Field[Any], text: str) -> Any:
    default = f.default
    if isinstance(default, bool):
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(key, f"{text!r} is not a boolean; use true/false")
    if isinstance(default, int) or (isinstance(default, str) and f.name == "uri" and text.isdigit()):
        try:
            return int(text.strip())
        except ValueError:
            if isinstance(default, str):
                return text
            raise ConfigError(key, f"{text!r} is not an integer") from None
    if isinstance(default, float):
        try:
            return float(text.strip())
        except ValueError:
            raise ConfigError(key, f"{text!r} is not a number") from None
    return text


def _env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """Merge EDGEPOSE_<SECTION>_<KEY>[_<SUBKEY>] variables into `data`; returns {key path: variable}."""
    sections = _fields(Config)
    sources: dict[str, str] = {}
    for var, text in env.items():
        if not var.startswith(ENV_PREFIX):
            continue
        rest = var[len(ENV_PREFIX):].lower()
        section = next((s for s in sections if rest.startswith(s + "_")), None)
        if section is None:
            continue  # e.g. EDGEPOSE_TEST_DATA: not a config variable
        cls = _section_type(sections[section])
        name = rest[len(section) + 1:]
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(section, f"must be a table, got {_type_name(table)}")
        path = section
        fields = _fields(cls)
        # Nested tables (mqtt.tls): EDGEPOSE_MQTT_TLS_CA_FILE.
        for sub, f in fields.items():
            if _is_section(f) and name.startswith(sub + "_"):
                table = table.setdefault(sub, {})
                if not isinstance(table, dict):
                    raise ConfigError(f"{section}.{sub}", f"must be a table, got {_type_name(table)}")
                path, name, fields = f"{section}.{sub}", name[len(sub) + 1:], _fields(_section_type(f))
                break
        key = f"{path}.{name}"
        f = fields.get(name)
        if f is None or _is_section(f):
            raise ConfigError(key, f"unknown key (from environment variable {var}); allowed keys: "
                                   + ", ".join(fields))
        try:
            table[name] = _parse_env_value(key, f, text)
        except ConfigError as e:
            raise ConfigError(key, f"{str(e).removeprefix(key + ': ')} (from environment variable {var})") \
                from None
        sources[key] = var
    return sources


def check_private_file(key: str, path: str, what: str) -> None:
    """Refuse a secret (password or private key file) that group or others may read, as ssh does.

    Refused rather than warned about: a warning in a journal nobody reads protects nothing, and deploy.sh
    installs /etc/edgepose/mqtt_password with mode 0600 (systemd hands it over as a 0400 credential).
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # reported by the reader with the reason
    if stat.S_ISREG(mode) and mode & 0o044:
        who = {0o044: "group and others", 0o004: "others", 0o040: "group"}[mode & 0o044]
        raise ConfigError(key, f"the {what} {path!r} is readable by {who} (mode {stat.S_IMODE(mode):04o}); "
                               f"make it private: chmod 600 {path}")


def _check_tls_files(tls: TlsConfig) -> None:
    """Load the CA, certificate and key as the MQTT client will, so a bad file is a configuration error (exit 78
    before any model loads) instead of a crash at connect time."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if tls.ca_file:
        try:
            ctx.load_verify_locations(cafile=tls.ca_file)
        except (ssl.SSLError, OSError, ValueError) as e:
            raise ConfigError("mqtt.tls.ca_file", f"{tls.ca_file!r} is not a usable CA bundle (PEM): "
                                                  f"{_ssl_reason(e)}") from None
    if tls.cert_file:
        check_private_file("mqtt.tls.key_file", tls.key_file, "private key file")
        try:  # a certificate alone parses as a CA bundle: tells a bad certificate from a bad key
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=tls.cert_file)
        except (ssl.SSLError, OSError, ValueError) as e:
            raise ConfigError("mqtt.tls.cert_file", f"{tls.cert_file!r} is not a certificate (PEM): "
                                                    f"{_ssl_reason(e)}") from None
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
        except (ssl.SSLError, OSError, ValueError) as e:
            raise ConfigError("mqtt.tls.key_file", f"{tls.key_file!r} is not the private key (PEM, unencrypted) "
                                                   f"of {tls.cert_file!r}: {_ssl_reason(e)}") from None


def _ssl_reason(e: BaseException) -> str:
    if isinstance(e, ssl.SSLError) and e.reason:
        return str(e.reason)
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__


def _read_password_file(key: str, path: str, what: str = "password", *, check_mode: bool = True) -> str:
    if check_mode:
        check_private_file(key, path, f"{what} file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_PASSWORD_BYTES + 1)
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise ConfigError(key, f"cannot read the {what} file {path!r}: {reason}") from None
    if len(raw) > MAX_PASSWORD_BYTES:
        raise ConfigError(key, f"the {what} file {path!r} is larger than {MAX_PASSWORD_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(key, f"the {what} file {path!r} is not UTF-8 text") from None
    text = text.rstrip("\r\n")
    if not text:
        raise ConfigError(key, f"the {what} file {path!r} is empty")
    return text


def _resolve_password(mqtt: MqttConfig, env: Mapping[str, str]) -> Secret | None:
    if mqtt.password_file and mqtt.password_env:
        raise ConfigError("mqtt.password_file", "set either mqtt.password_file or mqtt.password_env, not both")
    password: str | None = None
    if mqtt.password_file:
        password = _read_password_file("mqtt.password_file", mqtt.password_file)
    elif mqtt.password_env:
        password = env.get(mqtt.password_env)
        if not password:
            raise ConfigError("mqtt.password_env", f"environment variable {mqtt.password_env} is not set or empty")
    elif env.get("CREDENTIALS_DIRECTORY"):
        cred = Path(env["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_NAME
        # The unit always loads the credential (LoadCredential= fails the start if the file is missing), so
        # deploy.sh installs it empty for brokers without a password: an empty credential means "none".
        if cred.is_file() and cred.stat().st_size > 0:
            # systemd makes credentials 0400 in a private directory: no mode check (a test copy may be 0644).
            password = _read_password_file("mqtt (systemd credential)", str(cred), check_mode=False)
    if password is not None and not mqtt.username:
        raise ConfigError("mqtt.username", "a password is configured, so a user name is required")
    return Secret(password) if password is not None else None


def _apply_overrides(data: dict[str, Any], overrides: Mapping[str, tuple[Any, str]]) -> dict[str, str]:
    """Merge {"section.key": (value, origin)} (command-line options) into `data`; returns {key path: origin}."""
    sources: dict[str, str] = {}
    for key, (value, origin) in overrides.items():
        *tables, name = key.split(".")
        table = data
        for t in tables:
            table = table.setdefault(t, {})
            if not isinstance(table, dict):
                raise ConfigError(t, f"must be a table, got {_type_name(table)}")
        table[name] = value
        sources[key] = origin
    return sources


def parse_config(data: Mapping[str, Any], env: Mapping[str, str] | None = None,
                 overrides: Mapping[str, tuple[Any, str]] | None = None) -> Config:
    """Validate already-parsed TOML tables (plus environment overrides, then `overrides` from command-line
    options as {"section.key": (value, "--option")}) into a `Config`; errors name where a value came from."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    zones = _parse_zones(raw.pop("zones", []))
    sources = {k: f"environment variable {v}" for k, v in _env_overrides(raw, env).items()}
    sources.update(_apply_overrides(raw, overrides or {}))
    try:
        cfg: Config = _build(Config, raw, "")
    except ConfigError as e:
        if e.key in sources:
            raise ConfigError(e.key, f"{str(e).removeprefix(e.key + ': ')} (from {sources[e.key]})") from None
        raise
    device = cfg.device if cfg.device.id else DeviceConfig(id=default_device_id())
    mqtt = cfg.mqtt
    if mqtt.reconnect_min > mqtt.reconnect_max:
        raise ConfigError("mqtt.reconnect_min", f"{mqtt.reconnect_min} is larger than mqtt.reconnect_max "
                                                f"({mqtt.reconnect_max})")
    if bool(mqtt.tls.cert_file) != bool(mqtt.tls.key_file):
        raise ConfigError("mqtt.tls.cert_file", "a client certificate needs both cert_file and key_file")
    if not mqtt.tls.enabled and (mqtt.tls.ca_file or mqtt.tls.cert_file):
        raise ConfigError("mqtt.tls.enabled", "TLS files are set but mqtt.tls.enabled is false")
    for name in ("ca_file", "cert_file", "key_file"):
        path = getattr(mqtt.tls, name)
        if path and not os.path.isfile(path):
            raise ConfigError(f"mqtt.tls.{name}", f"file not found: {path!r}")
    if mqtt.tls.enabled:
        _check_tls_files(mqtt.tls)
    client_id = mqtt.client_id or f"edgepose-{device.id}"[:64]
    mqtt = dataclasses.replace(mqtt, client_id=client_id, password=_resolve_password(mqtt, env))
    return cfg.replace(device=device, mqtt=mqtt, live_view=_resolve_live_view(cfg.live_view), zones=zones)


def _parse_zones(raw: Any) -> tuple[Any, ...]:
    from edgepose.zones import ZoneError, parse_zones

    try:
        return parse_zones(raw)
    except ZoneError as e:
        raise ConfigError(key_path("zones", e.name), e.detail) from None


# The shortest live view token accepted: 16 hex characters are 64 bits (`openssl rand -hex 16` gives 32).
MIN_TOKEN_CHARS = 16


def _resolve_live_view(lv: LiveViewConfig) -> LiveViewConfig:
    """Read the token; off loopback a token is required (the page shows the camera to anyone who can reach it)."""
    token = None
    if lv.enabled and lv.token_file:
        token = _read_password_file("live_view.token_file", lv.token_file, "token").strip()
        if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
            raise ConfigError("live_view.token_file", f"the token in {lv.token_file!r} must be at least "
                                                      f"{MIN_TOKEN_CHARS} characters without spaces")
    elif lv.enabled and not ipaddress.ip_address(lv.bind).is_loopback:
        raise ConfigError("live_view.token_file", f"live_view.bind = {lv.bind!r} is not a loopback address, so "
                                                  "a token file is required (e.g. openssl rand -hex 16)")
    return dataclasses.replace(lv, token=Secret(token) if token is not None else None)


def load_config(path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, tuple[Any, str]] | None = None) -> Config:
    """Read and validate a TOML file (None: defaults plus environment; `overrides` as in `parse_config`)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError("", f"{os.fspath(path)}: invalid TOML: {e}") from None
        except UnicodeDecodeError as e:
            raise ConfigError("", f"{os.fspath(path)}: invalid TOML: not UTF-8 text ({e.reason} at byte "
                                  f"{e.start})") from None
        except (OSError, ValueError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ConfigError("", f"cannot read {os.fspath(path)}: {reason}") from None
        except RecursionError:
            raise ConfigError("", f"{os.fspath(path)}: invalid TOML: nested too deeply") from None
    return parse_config(data, env, overrides)


# ---------------------------------------------------------------------------------------------------------
# Output


def to_dict(cfg: Any, *, redact: bool = True) -> dict[str, Any]:
    """The effective configuration as plain tables; the password appears only as "***" (or is omitted)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "zones" and isinstance(value, tuple):
            if value:
                out[f.name] = [z.to_dict() for z in value]
        elif f.metadata.get("internal") and not isinstance(value, Secret):
            continue  # set by code (engine.static), not a key of the file
        elif dataclasses.is_dataclass(value):
            out[f.name] = to_dict(value, redact=redact)
        elif isinstance(value, Secret):
            out[f.name] = "***" if redact else value.reveal()
        elif value is not None:
            out[f.name] = value
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    s = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def dump_toml(cfg: Config) -> str:
    """The effective configuration as TOML (password redacted), loadable again by `load_config`."""
    lines: list[str] = []

    def emit(table: dict[str, Any], path: str) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if path:
            lines.append(f"[{path}]")
        for k, v in scalars.items():
            if k in ("password", "token"):
                lines.append(f"# {k} = {_toml_value(v)}  (resolved from a file, env or credential)")
            else:
                lines.append(f"{k} = {_toml_value(v)}")
        lines.append("")
        for k, v in table.items():
            if isinstance(v, dict):
                emit(v, f"{path}.{k}" if path else k)

    table = to_dict(cfg)
    zones = table.pop("zones", [])
    emit(table, "")
    for z in zones:
        points = ", ".join(f"[{x!r}, {y!r}]" for x, y in z["polygon"])
        lines += ["[[zones]]", f"name = {_toml_value(z['name'])}", f"kind = {_toml_value(z['kind'])}",
                  f"polygon = [{points}]", ""]
    return "\n".join(lines).lstrip("\n")


def settings_table(cls: type, path: str) -> list[str]:
    """The Markdown table of one section's keys (docs/configuration.md), from the fields' metadata."""
    lines = ["| Key | Default | Meaning |", "|---|---|---|"]
    for name, f in _fields(cls).items():
        if _is_section(f):
            continue
        meaning = f.metadata.get("doc", "")
        if f.metadata.get("why"):
            meaning += ". Why: " + f.metadata["why"]
        meaning = meaning.replace("<", "&lt;").replace(">", "&gt;")
        lines.append(f"| `{path}.{name}` | `{_toml_value(f.default)}` | {meaning} |")
    return lines


def sections(cls: type = Config, path: str = "") -> list[tuple[str, type]]:
    """Every section as (dotted path, dataclass), nested tables after their parent (mqtt, mqtt.tls)."""
    out: list[tuple[str, type]] = []
    for name, f in _fields(cls).items():
        if _is_section(f):
            key = f"{path}.{name}" if path else name
            out.append((key, _section_type(f)))
            out.extend(sections(_section_type(f), key))
    return out


def iter_keys(cls: type = Config, path: str = "") -> list[tuple[str, Any, str]]:
    """Every documented key as (dotted path, default, doc); used by the docs test."""
    out: list[tuple[str, Any, str]] = []
    for name, f in _fields(cls).items():
        key = f"{path}.{name}" if path else name
        if _is_section(f):
            out.extend(iter_keys(_section_type(f), key))
        else:
            out.append((key, f.default, f.metadata.get("doc", "")))
    return out
