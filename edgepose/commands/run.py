"""`edgepose run`: the daemon. Options override the config file (via the EDGEPOSE_* environment keys, so
they are validated exactly like the file)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Any

from edgepose.cli import EXIT_CONFIG, EXIT_OK, EXIT_UNAVAILABLE, CommandError
from edgepose.config import ConfigError, load_config

log = logging.getLogger("edgepose.run")

# option → configuration key, as the environment variable that overrides it
OVERRIDES: dict[str, str] = {
    "source": "EDGEPOSE_SOURCE_URI",
    "device_id": "EDGEPOSE_DEVICE_ID",
    "model": "EDGEPOSE_ENGINE_MODEL",
    "precision": "EDGEPOSE_ENGINE_PRECISION",
    "backend": "EDGEPOSE_ENGINE_BACKEND",
    "pace": "EDGEPOSE_SOURCE_PACE",
    "models_dir": "EDGEPOSE_ENGINE_MODELS_DIR",
    "stats_interval": "EDGEPOSE_STATS_INTERVAL_SECONDS",
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the daemon: camera → pose → MQTT")
    p.add_argument("--config", metavar="FILE", default=os.environ.get("EDGEPOSE_CONFIG"),
                   help="TOML configuration file (default: $EDGEPOSE_CONFIG, else built-in defaults)")  # fmt: skip
    p.add_argument("--source", help="camera index, /dev/videoN, file, folder, URL, picamera2 or auto")
    p.add_argument("--broker", metavar="HOST:PORT", help="MQTT broker")
    p.add_argument("--device-id", help="device id used in topics")
    p.add_argument("--model", choices=("lite", "full", "heavy"))
    p.add_argument("--precision", choices=("auto", "float", "fp16", "int8"))
    p.add_argument("--backend", choices=("auto", "cpu", "edgetpu"))
    p.add_argument("--models-dir", help="directory with the model files")
    p.add_argument("--loop", action="store_true", default=None, help="loop a video file or folder")
    p.add_argument("--pace", choices=("realtime", "fast"), help="files: real time or as fast as possible")
    p.add_argument("--stats-interval", type=float, help="seconds between stats messages")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N processed frames")
    p.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    p.add_argument("--summary", action="store_true", help="print the final stats as JSON on exit")
    p.set_defaults(func=run)


def override_env(args: argparse.Namespace, env: dict[str, str]) -> dict[str, str]:
    out = dict(env)
    for option, key in OVERRIDES.items():
        value = getattr(args, option)
        if value is not None:
            out[key] = str(value)
    if args.loop:
        out["EDGEPOSE_SOURCE_LOOP"] = "true"
    if args.broker:
        host, sep, port = args.broker.rpartition(":")
        if not sep or not host or not port:
            raise CommandError(f"--broker must be HOST:PORT, got {args.broker!r}", EXIT_CONFIG)
        out["EDGEPOSE_MQTT_HOST"] = host.strip("[]")
        out["EDGEPOSE_MQTT_PORT"] = port
    return out


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config, override_env(args, dict(os.environ)))
    except ConfigError as e:
        raise CommandError(f"invalid configuration: {' '.join(str(e).split())}", EXIT_CONFIG) from None
    from edgepose.daemon.runner import Daemon, StartupError
    from edgepose.io.sources import SourceError

    if not logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger("edgepose").setLevel(logging.INFO)
    daemon = Daemon(cfg, max_frames=args.max_frames, duration=args.duration)

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        daemon.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    try:
        daemon.run()
    except StartupError as e:
        raise CommandError(f"cannot start: {e}", EXIT_CONFIG) from None
    except SourceError as e:
        raise CommandError(f"cannot open the source: {e}", EXIT_UNAVAILABLE) from None
    if args.summary and daemon.final_stats is not None:
        print(json.dumps(daemon.final_stats), file=sys.stdout, flush=True)
    return EXIT_OK
