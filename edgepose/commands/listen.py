"""`edgepose listen`: subscribe to edgepose topics and print frames, presence, events and status."""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from typing import Any, TextIO

import numpy as np

from edgepose.client import Event, Frame, Message, Presence, Stats, Status, Subscription, subscribe
from edgepose.commands.config import read_config
from edgepose.errors import EXIT_UNAVAILABLE, EXIT_USAGE, CommandError
from edgepose.mqtt import contract
from edgepose.pose import VISIBILITY

# Keypoints shown in the compact frame line.
SHOWN = ("nose", "left_wrist", "right_wrist", "left_knee", "right_knee")
# How long listen waits for a broker it cannot reach before it gives up (the client retries meanwhile).
CONNECT_TIMEOUT_S = 10.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("listen", help="show the frames, presence, events and status of devices")
    p.add_argument("--config", metavar="FILE", help="take broker, prefix and credentials from this config")
    p.add_argument("--host", help="broker host (default: from --config, else localhost)")
    p.add_argument("--port", type=int, help="broker port (default: from --config, else 1883)")
    p.add_argument("--prefix", help="topic prefix (default: edgepose)")
    p.add_argument("--device", default="+", metavar="ID", help="device id (default: all devices)")
    p.add_argument("--json", action="store_true", help="print one JSON object per message")
    p.add_argument("--no-frames", action="store_true", help="hide pose frames")
    p.add_argument("--count", type=int, default=0, metavar="N", help="exit after N messages")
    p.add_argument("--timeout", type=float, default=0.0, metavar="S",
                   help="exit after S seconds without a message (0: never)")
    p.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT_S, metavar="S",
                   help="give up (exit 69) when the broker cannot be reached for S seconds, at start or after "
                        f"losing it (default: {CONNECT_TIMEOUT_S:g})")
    p.set_defaults(func=run)


def _fmt_ts(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int((ts % 1) * 1000):03d}"


def format_message(msg: Message) -> str:
    """One readable line per message."""
    if isinstance(msg, Frame):
        head = f"{msg.device_id} pose #{msg.seq} {msg.width}x{msg.height} {len(msg.poses)} pose(s)"
        if not msg.poses:
            return head
        parts = []
        for name in SHOWN:
            x, y = msg.pixels(name)
            parts.append(f"{name}=({x:.0f},{y:.0f} v{float(msg.keypoint(name)[VISIBILITY]):.2f})")
        pts = " ".join(parts)
        lag = max(0.0, msg.pub_ts - msg.ts) * 1000
        return f"{head} score={msg.poses[0].score:.2f} {pts} capture->publish={lag:.0f}ms"
    if isinstance(msg, Presence):
        s = msg.state
        state = "present" if s.present else "absent"
        zones = "".join(f" {name}={n}" for name, n in (s.zones or {}).items())
        return f"{msg.device_id} presence {state} count={s.count} since={_fmt_ts(s.since)}{zones}"
    if isinstance(msg, Event):
        e = msg.event
        return f"{msg.device_id} event {e.type.upper()} at {_fmt_ts(e.ts)} count={e.count}"
    if isinstance(msg, Status):
        return f"{msg.device_id} status {'online' if msg.online else 'OFFLINE'}"
    return f"{msg.device_id} stats " + " ".join(_stat_fields({k: v for k, v in msg.data.items() if k != "v"}))


def _stat_fields(data: dict[str, Any], prefix: str = "") -> list[str]:
    """`key=value` for the stats line: nested objects as dotted keys, null as "-", no Python reprs."""
    out: list[str] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += _stat_fields(value, f"{name}.") if value else [f"{name}=-"]
        elif isinstance(value, list | tuple):
            out.append(f"{name}={','.join(_stat_value(v) for v in value) or '-'}")
        else:
            out.append(f"{name}={_stat_value(value)}")
    return out


def _stat_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def to_json(msg: Message) -> dict[str, Any]:
    if isinstance(msg, Frame):
        return {"device": msg.device_id, "kind": "pose", "seq": msg.seq, "ts": msg.ts, "pub_ts": msg.pub_ts,
                "width": msg.width, "height": msg.height, "poses": [p.to_dict() for p in msg.poses]}
    if isinstance(msg, Presence):
        return {"device": msg.device_id, "kind": "presence", **msg.state.to_dict()}
    if isinstance(msg, Event):
        return {"device": msg.device_id, "kind": "event", **msg.event.to_dict()}
    if isinstance(msg, Status):
        return {"device": msg.device_id, "kind": "status", "online": msg.online}
    assert isinstance(msg, Stats)
    return {"device": msg.device_id, "kind": "stats", **msg.data}


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    kwargs: dict[str, Any] = {}
    host, port, prefix = "localhost", 1883, "edgepose"
    if args.config:
        cfg = read_config(args.config)
        m = cfg.mqtt
        host, port, prefix = m.host, m.port, m.prefix
        if m.username:
            kwargs.update(username=m.username, password=m.password.reveal() if m.password else None)
        if m.tls.enabled:
            kwargs.update(tls=True, ca_file=m.tls.ca_file or None, cert_file=m.tls.cert_file or None,
                          key_file=m.tls.key_file or None)
    host = args.host or host
    port = args.port or port
    prefix = args.prefix or prefix
    kinds = [k for k in contract.KINDS if not (args.no_frames and k == contract.POSE)]
    try:
        sub = subscribe(host, port, args.device, prefix, kinds=kinds, **kwargs)
    except ValueError as e:
        raise CommandError(str(e), EXIT_USAGE) from None
    n = 0
    with sub:
        wait_connected(sub, host, port, args.connect_timeout)
        last = time.monotonic()
        lost_at: float | None = None
        while True:
            msg = sub.get(timeout=0.1)
            now = time.monotonic()
            if msg is not None:
                last = now
                if args.json:
                    print(json.dumps(to_json(msg), default=_np_default), file=out, flush=True)
                else:
                    print(format_message(msg), file=out, flush=True)
                n += 1
                if args.count and n >= args.count:
                    break
                continue
            if not sub.connected.is_set():
                if lost_at is None:
                    lost_at = now
                    print(f"edgepose listen: lost the connection to the broker at {host}:{port}; reconnecting",
                          file=sys.stderr, flush=True)  # fmt: skip
                elif now - lost_at > args.connect_timeout:
                    raise CommandError(f"lost the connection to the MQTT broker at {host}:{port} and could not "
                                       f"reconnect within {args.connect_timeout:g} s{_why(host, port, sub)}",
                                       EXIT_UNAVAILABLE)  # fmt: skip
            elif lost_at is not None:
                lost_at = None
                print(f"edgepose listen: reconnected to {host}:{port}", file=sys.stderr, flush=True)
            if args.timeout > 0 and now - last > args.timeout:
                break
    return 0


def wait_connected(sub: Subscription, host: str, port: int, wait: float) -> None:
    """Return once connected; after `wait` seconds, a CommandError (69) that says why not."""
    if not sub.connected.wait(max(wait, 0.0)):
        raise CommandError(f"cannot connect to the MQTT broker at {host}:{port} within {wait:g} s"
                           f"{_why(host, port, sub)} (is it running? see --host/--port/--config)",
                           EXIT_UNAVAILABLE)  # fmt: skip


def _why(host: str, port: int, sub: Subscription) -> str:
    """The reason as the operating system (or the broker) gives it: one TCP connection attempt."""
    if sub.refused:
        return f": the broker refused it ({sub.refused})"
    try:
        socket.create_connection((host, port), timeout=3).close()
    except socket.gaierror as e:
        return f": cannot resolve {host!r} ({e.strerror})"
    except OSError as e:
        return f": {e.strerror or e}"
    return ""


def _np_default(obj: object) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
