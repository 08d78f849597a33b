"""`edgepose demo`: the daemon tracking a person and publishing to MQTT, with the messages printed as they
arrive. Source: the camera if one is present, otherwise a clip made now from the scikit-image photos of people
(moving, with empty stretches so that presence events happen; the clip comes with edgepose-dev). Broker: --broker,
else one answering on localhost:1883, else a Mosquitto started for the demo (installed from the distribution if
missing and root).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from edgepose import plugins
from edgepose.commands.listen import format_message
from edgepose.config import parse_config
from edgepose.errors import EXIT_OK, EXIT_UNAVAILABLE, CommandError
from edgepose.model_files import (
    ModelError,
    default_models_dir,
    detector_filename,
    fetch_float_models,
    landmark_filename,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="run the daemon on a camera or a demo clip and show what it publishes")
    p.add_argument("--duration", type=float, default=40.0, help="seconds to run (Ctrl-C stops earlier)")
    p.add_argument("--source", default=None, help="default: the camera if present, else a generated clip")
    p.add_argument("--broker", metavar="HOST:PORT", default=None)
    p.add_argument("--model", choices=("lite", "full", "heavy"), default="lite")
    p.add_argument("--precision", choices=("float", "int8"), default=None,
                   help="default: int8 when the built models are present, else float")  # fmt: skip
    p.add_argument("--frames-per-second-shown", type=float, default=2.0, help="pose frames printed per second")
    p.set_defaults(func=run)


def camera_present() -> bool:
    if any(Path("/dev").glob("video[0-9]*")):
        return True
    try:
        import picamera2  # noqa: F401

        return True
    except ImportError:
        return False


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if exe is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("demo: installing the mosquitto broker (apt-get install mosquitto)…", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "mosquitto"], check=False)
        exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if exe is None:
        raise CommandError("no MQTT broker on localhost:1883 and mosquitto is not installed: "
                           "`sudo apt install mosquitto`, or pass --broker HOST:PORT", EXIT_UNAVAILABLE)  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if port_open("127.0.0.1", port):
            return proc, port
        time.sleep(0.1)
    proc.kill()
    raise CommandError("the demo broker did not start", EXIT_UNAVAILABLE)


def clear_retained(host: str, port: int, prefix: str, device_id: str) -> None:
    """Remove what the demo retained on a broker that outlives it (the user's): an empty retained message
    deletes a topic's retained one, so the next reader sees no stale demo device."""
    import paho.mqtt.publish as publish

    from edgepose.mqtt import contract

    topics = [f"{prefix}/{device_id}/{kind}" for kind, retained in contract.RETAIN.items() if retained]
    try:
        publish.multiple([{"topic": t, "payload": b"", "qos": 1, "retain": True} for t in topics],
                         hostname=host, port=port, client_id=f"edgepose-demo-cleanup-{os.getpid()}")  # fmt: skip
    except OSError as e:
        print(f"demo: could not clear the retained {', '.join(topics)} on {host}:{port}: {e}", flush=True)
        return
    print(f"demo: cleared the retained {', '.join(topics)} on {host}:{port}", flush=True)


def ensure_models(model: str, precision: str) -> None:
    models_dir = default_models_dir()
    if precision != "float":
        return
    wanted = [Path(detector_filename("float")).name, Path(landmark_filename(model, "float")).name]
    missing = [n for n in wanted if not (models_dir / "float" / n).is_file()]
    if missing:
        print(f"demo: fetching {', '.join(missing)} into {models_dir / 'float'}", flush=True)
        try:
            fetch_float_models(models_dir, missing)
        except ModelError as e:
            raise CommandError(str(e), EXIT_UNAVAILABLE) from None


def run(args: argparse.Namespace) -> int:
    from edgepose.client import Frame, subscribe
    from edgepose.daemon.runner import Daemon

    models_dir = default_models_dir()
    precision = args.precision or (
        "int8" if (models_dir / landmark_filename(args.model, "int8")).is_file() else "float"
    )
    ensure_models(args.model, precision)
    with tempfile.TemporaryDirectory(prefix="edgepose-demo-") as tmp:
        work = Path(tmp)
        source = args.source or ("auto" if camera_present() else str(plugins.demo_clip(work / "demo.avi")))
        broker_proc = None
        if args.broker:
            host, _, port_text = args.broker.rpartition(":")
            port = int(port_text)
        elif port_open("127.0.0.1", 1883):
            host, port = "127.0.0.1", 1883
        else:
            broker_proc, port = start_mosquitto(work)
            host = "127.0.0.1"
            print(f"demo: started a Mosquitto broker on {host}:{port} (stopped at the end)", flush=True)
        cfg = parse_config({
            "device": {"id": "demo"},
            "source": {"uri": source, "loop": True, "pace": "realtime"},
            "engine": {"model": args.model, "precision": precision, "backend": "cpu"},
            "presence": {"leave_seconds": 1.5},
            "mqtt": {"host": host, "port": port},
            "homeassistant": {"discovery": False},
            "stats": {"interval_seconds": 10.0},
        })  # fmt: skip
        print(f"demo: source {source if source == 'auto' else 'demo clip (scikit-image photos)'}; "
              f"model {args.model} {precision}; broker {host}:{port}; topics edgepose/demo/#", flush=True)  # fmt: skip
        daemon = Daemon(cfg, duration=args.duration)
        errors: list[BaseException] = []

        def run_daemon() -> None:
            try:
                daemon.run()
            except BaseException as e:  # shown after the listener stops
                errors.append(e)

        thread = threading.Thread(target=run_daemon, name="edgepose-daemon", daemon=True)
        previous = signal.signal(signal.SIGINT, lambda *_: daemon.stop())
        try:
            with subscribe(host, port, "demo") as sub:
                thread.start()
                last_frame_shown = 0.0
                while thread.is_alive():
                    for msg in sub.messages(0.5):
                        now = time.monotonic()
                        if isinstance(msg, Frame):
                            if now - last_frame_shown < 1.0 / args.frames_per_second_shown:
                                continue
                            last_frame_shown = now
                        print(format_message(msg), flush=True)
                    if not thread.is_alive():
                        break
                thread.join(5)
        finally:
            signal.signal(signal.SIGINT, previous)
            if broker_proc is not None:
                broker_proc.terminate()
                broker_proc.wait(5)
            else:
                clear_retained(host, port, cfg.mqtt.prefix, cfg.device.id)
        if errors:
            raise CommandError(f"the daemon stopped: {errors[0]}", EXIT_UNAVAILABLE)
    return EXIT_OK
