"""`edgepose run`: the daemon. Options override the config file and the EDGEPOSE_* environment (they are
validated exactly like the file, and an error names the option)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Any

from edgepose.commands.config import read_config
from edgepose.config import Config
from edgepose.errors import EXIT_OK, EXIT_USAGE, CommandError

log = logging.getLogger("edgepose.run")

# option → configuration key it overrides
OVERRIDES: dict[str, str] = {
    "source": "source.uri",
    "device_id": "device.id",
    "model": "engine.model",
    "precision": "engine.precision",
    "backend": "engine.backend",
    "pace": "source.pace",
    "models_dir": "engine.models_dir",
    "stats_interval": "stats.interval_seconds",
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the daemon: camera → pose → MQTT")
    p.add_argument("--config", metavar="FILE", default=os.environ.get("EDGEPOSE_CONFIG"),
                   help="TOML configuration file (default: $EDGEPOSE_CONFIG, else built-in defaults)")  # fmt: skip
    # The defaults shown are the configuration's (config.py); an option overrides the file's value.
    d = Config()
    p.add_argument("--source", help="camera index, /dev/videoN, file, folder, URL, picamera2 or auto "
                   f"(default: source.uri, {d.source.uri})")  # fmt: skip
    p.add_argument("--broker", metavar="HOST:PORT", help=f"MQTT broker (default: mqtt.host:mqtt.port, "
                   f"{d.mqtt.host}:{d.mqtt.port})")  # fmt: skip
    p.add_argument("--device-id", help="device id used in topics (default: device.id, else the host name)")
    p.add_argument("--model", choices=("lite", "full", "heavy"),
                   help=f"landmark model (default: engine.model, {d.engine.model})")  # fmt: skip
    p.add_argument("--precision", choices=("auto", "float", "fp16", "int8"),
                   help=f"model precision (default: engine.precision, {d.engine.precision})")  # fmt: skip
    p.add_argument("--backend", choices=("auto", "cpu", "edgetpu"),
                   help=f"inference backend (default: engine.backend, {d.engine.backend})")  # fmt: skip
    p.add_argument("--models-dir",
                   help="directory with the model files (default: engine.models_dir, else see README)")  # fmt: skip
    p.add_argument("--loop", action="store_true", default=None,
                   help=f"loop a video file or folder (default: source.loop, {d.source.loop!s})".lower())  # fmt: skip
    p.add_argument("--pace", choices=("realtime", "fast"),
                   help=f"files: real time or as fast as possible (default: source.pace, {d.source.pace})")  # fmt: skip
    p.add_argument("--stats-interval", type=float,
                   help="seconds between stats messages "
                        f"(default: stats.interval_seconds, {d.stats.interval_seconds:g})")  # fmt: skip
    p.add_argument("--max-frames", type=int, default=None, help="stop after N processed frames (default: never)")
    p.add_argument("--duration", type=float, default=None, help="stop after N seconds (default: never)")
    p.add_argument("--summary", action="store_true", help="print the final stats as JSON on exit")
    p.set_defaults(func=run)


def overrides(args: argparse.Namespace) -> dict[str, tuple[object, str]]:
    """The options given, as {"section.key": (value, "--option")} for `load_config`."""
    out: dict[str, tuple[object, str]] = {}
    for option, key in OVERRIDES.items():
        value = getattr(args, option)
        if value is not None:
            out[key] = (value, "--" + option.replace("_", "-"))
    if args.loop:
        out["source.loop"] = (True, "--loop")
    if args.broker:
        host, sep, port = args.broker.rpartition(":")
        if not sep or not host or not port:
            raise CommandError(f"--broker must be HOST:PORT, got {args.broker!r}", EXIT_USAGE)
        if not port.isdigit():
            raise CommandError(f"--broker: the port must be a number, got {port!r}", EXIT_USAGE)
        out["mqtt.host"] = (host.strip("[]"), "--broker")
        out["mqtt.port"] = (int(port), "--broker")
    return out


def on_sighup(signum: int, _frame: Any) -> None:
    # Not a reload: the engine, the source and the MQTT session are built from the configuration at start, and
    # rebuilding them in place is where a daemon goes wrong. systemd has no ExecReload for this unit either.
    log.warning("received SIGHUP: ignored; the configuration is read at start only (systemctl restart edgepose)")


def run(args: argparse.Namespace) -> int:
    if threading.current_thread() is threading.main_thread():
        # First, before anything slow: Python's default for SIGHUP ends the process with status 129, which
        # systemd counts as a clean exit (Restart=on-failure would not bring the daemon back).
        signal.signal(signal.SIGHUP, on_sighup)
    cfg = read_config(args.config, overrides(args))
    from edgepose.daemon.runner import Daemon, StartupError
    from edgepose.io.sources import SourceError, UnreadableFileError
    from edgepose.live_view import LiveViewError

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
    # The status is the error's own (errors.py); here each gets the words that say what failed.
    except StartupError as e:
        raise CommandError(f"cannot start: {e}", e.exit_status) from None
    except LiveViewError as e:
        raise CommandError(f"cannot start the live view: {e}", e.exit_status) from None
    except UnreadableFileError as e:
        raise CommandError(f"cannot read the source: {e}", e.exit_status) from None
    except SourceError as e:
        raise CommandError(f"cannot open the source: {e}", e.exit_status) from None
    if args.summary and daemon.final_stats is not None:
        print(json.dumps(daemon.final_stats), file=sys.stdout, flush=True)
    return EXIT_OK
