"""`edgepose presence replay VIDEO [--labels FILE]`: the daemon's path (engine, validity, zones, presence) on a
recorded clip, as fast as the CPU allows; prints the enter/leave timeline and, with labels, its score."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from edgepose.cli import EXIT_CONFIG, EXIT_DATAERR, EXIT_NOINPUT, CommandError
from edgepose.config import Config, ConfigError, load_config
from edgepose.daemon import presence as presence_sm
from edgepose.daemon.pipeline import PosePipeline, validity_stage
from edgepose.daemon.replay_score import LabelsError, load_labels, score
from edgepose.daemon.runner import engine_config, presence_config, smoother
from edgepose.engine.tracker import PoseEngine
from edgepose.inference.backend import BackendError
from edgepose.io.sources import SourceError, open_source
from edgepose.model_files import ModelError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("presence", help="presence tools (replay a clip through the daemon's path)")
    psub = p.add_subparsers(dest="presence_command", metavar="SUBCOMMAND", required=True)
    r = psub.add_parser("replay", help="replay a video through engine, validity, zones and presence")
    r.add_argument("video", type=Path, help="video file")
    r.add_argument("--labels", type=Path, help="labels JSON (the format of videos/presence/labels.json)")
    r.add_argument("--config", metavar="FILE", default=os.environ.get("EDGEPOSE_CONFIG"),
                   help="daemon TOML configuration (default: $EDGEPOSE_CONFIG, else built-in defaults)")
    r.add_argument("--model", choices=("lite", "full", "heavy"), help="override engine.model")
    r.add_argument("--precision", choices=("float", "int8"), help="override engine.precision")
    r.add_argument("--backend", choices=("auto", "cpu", "edgetpu"), help="override engine.backend")
    r.add_argument("--no-validity", action="store_true", help="feed presence the raw engine poses")
    r.add_argument("--json", action="store_true", help="print one JSON object instead of the timeline")
    r.set_defaults(func=replay)


def _config(args: argparse.Namespace) -> Config:
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        raise CommandError(str(e), EXIT_CONFIG) from None
    overrides = {k: getattr(args, k) for k in ("model", "precision", "backend") if getattr(args, k)}
    return cfg.replace(engine=dataclasses.replace(cfg.engine, **overrides)) if overrides else cfg


def run_replay(cfg: Config, video: Path, *, validity: bool = True) -> dict[str, Any]:
    """Replay `video`; returns frames, fps, per-frame state lists and the (kind, frame, seconds) events."""
    try:
        engine = PoseEngine.from_config(engine_config(cfg), smoother=smoother(cfg))
    except (ModelError, BackendError, ValueError) as e:
        raise CommandError(str(e), EXIT_NOINPUT) from None
    tracker = presence_sm.PresenceTracker(presence_config(cfg))
    pipeline = PosePipeline(engine, validity_stage(cfg, enabled=validity), tracker)
    try:
        source = open_source(str(video), pace="fast")
        source.open()
    except SourceError as e:
        raise CommandError(str(e), EXIT_NOINPUT) from None
    events: list[tuple[str, int, float]] = []
    present: list[bool] = []
    posed: list[bool] = []
    times: list[float] = []
    validity_ms = 0.0
    t0: int | None = None
    try:
        while (frame := source.read()) is not None:
            t0 = frame.timestamp_ns if t0 is None else t0
            seconds = (frame.timestamp_ns - t0) / 1e9  # media time: the same at any replay speed
            step = pipeline.step(frame.rgb, frame.timestamp_ns)
            validity_ms += step.raw.timings_ms.get("validity", 0.0)
            events += [(e.kind, frame.index, seconds) for e in step.events]
            present.append(tracker.state.present)
            posed.append(bool(step.published.poses))
            times.append(seconds)
    except SourceError as e:
        raise CommandError(str(e), EXIT_DATAERR) from None
    finally:
        source.close()
    return {"video": video.name, "frames": len(times), "fps": source.fps, "events": events, "present": present,
            "posed": posed, "times": times, "rejected": dict(sorted(pipeline.validity.rejections.items())),
            "validity_ms_per_frame": round(validity_ms / max(len(times), 1), 4)}


def replay(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if not args.video.is_file():
        raise CommandError(f"{args.video}: no such video file", EXIT_NOINPUT)
    if args.labels is not None:
        try:  # the file and its entry, before the long replay; the ranges are checked against the clip after
            load_labels(args.labels, args.video.name, None)
        except LabelsError as e:
            raise CommandError(str(e), EXIT_DATAERR) from None
    out = run_replay(cfg, args.video, validity=not args.no_validity)
    result: dict[str, Any] = {k: out[k] for k in ("video", "frames", "fps", "rejected", "validity_ms_per_frame")}
    result["validity"] = not args.no_validity
    result["model"], result["precision"] = cfg.engine.model, cfg.engine.precision
    result["events"] = [{"kind": k, "frame": f, "seconds": round(t, 3)} for k, f, t in out["events"]]
    result["frames_with_pose"] = sum(out["posed"])
    if args.labels is not None:
        try:
            labels = load_labels(args.labels, args.video.name, out["frames"])
        except LabelsError as e:
            raise CommandError(str(e), EXIT_DATAERR) from None
        result["score"] = score(labels, out["events"], out["present"], out["posed"], out["times"],
                                cfg.presence.leave_seconds).to_dict()
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['video']}: {result['frames']} frames at {result['fps']:g} fps, {cfg.engine.model} "
          f"{cfg.engine.precision}, validity {'on' if result['validity'] else 'off'}")
    for e in result["events"]:
        print(f"  {e['kind']:5s}  frame {e['frame']:6d}  {e['seconds']:9.2f} s")
    print(f"  frames with a published pose: {result['frames_with_pose']}; rejected by reason: "
          f"{result['rejected'] or 'none'}")
    if "score" in result:
        s = result["score"]
        print(f"  visits {s['visits']}: enters {s['enters']} (missed {s['missed_enters']}, extra "
              f"{s['extra_enters']}), leaves {s['leaves']} (missed {s['missed_leaves']}, extra {s['extra_leaves']}, "
              f"not observable before the clip's end {s['unobservable_leaves']})")
        print(f"  empty frames {s['empty_frames']}: present on {s['false_presence_frames']}, a pose on "
              f"{s['empty_frames_with_pose']}")
        print(f"  enter delays (s) {s['enter_delays_s']}, leave delays (s) {s['leave_delays_s']}"
              f"  → {'OK' if s['ok'] else 'MISMATCH'}")
    return 0
