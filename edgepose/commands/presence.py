"""`edgepose presence replay VIDEO [--labels FILE]`: the daemon's path (engine, validity, zones, presence) on a
recorded clip, as fast as the CPU allows; prints the enter/leave timeline and, with labels, its score."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from edgepose.commands.config import read_config
from edgepose.config import Config
from edgepose.daemon import presence as presence_sm
from edgepose.daemon.pipeline import PosePipeline, validity_stage
from edgepose.daemon.replay_score import LabelsError, load_labels, score
from edgepose.daemon.runner import smoother
from edgepose.engine.tracker import PoseEngine
from edgepose.errors import EXIT_DATAERR, EXIT_NOINPUT, CommandError
from edgepose.io.sources import SourceError, open_source


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
    r.add_argument("--mediapipe", action="store_true",
                   help="feed the same presence state machine MediaPipe's legacy Pose instead (reference venv; "
                        "its model of the same complexity, video mode, no validity)")
    r.add_argument("--json", action="store_true", help="print one JSON object instead of the timeline")
    r.set_defaults(func=replay)


def _config(args: argparse.Namespace) -> Config:
    # The options override the Config as `run`'s do: typed values, validated with the rest.
    given = {f"engine.{k}": (getattr(args, k), f"--{k}") for k in ("model", "precision", "backend") if getattr(args, k)}
    return read_config(args.config, given)


def run_replay(cfg: Config, video: Path, *, validity: bool = True) -> dict[str, Any]:
    """Replay `video`; returns frames, fps, per-frame state lists and the (kind, frame, seconds) events."""
    # A ModelError or BackendError reaches the CLI with its own status (66); the settings were validated.
    engine = PoseEngine.from_config(cfg.engine, smoother=smoother(cfg))
    tracker = presence_sm.PresenceTracker(cfg.presence, cfg.zones)
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


def run_mediapipe_replay(cfg: Config, video: Path) -> dict[str, Any]:
    """MediaPipe's poses of `video` through the daemon's presence state machine (for comparison)."""
    import cv2
    import numpy as np

    from edgepose import plugins
    from edgepose.errors import EXIT_UNAVAILABLE, EdgeposeError
    from edgepose.model_files import COMPLEXITIES
    from edgepose.pose import Pose, Roi

    cap = cv2.VideoCapture(str(video))
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    cap.release()
    fps = fps if 0.0 < fps < 1000.0 else 30.0  # the file sources' fallback
    run_reference = plugins.reference("mediapipe")  # edgepose-dev
    try:
        ref = run_reference(video, model_complexity=COMPLEXITIES.index(cfg.engine.model), static=False)
    except EdgeposeError as e:  # the reference venv is missing, or the reference failed
        raise CommandError(str(e), EXIT_UNAVAILABLE) from None
    tracker = presence_sm.PresenceTracker(cfg.presence)
    roi = Roi.from_values(np.nan, np.nan, np.nan, np.nan, np.nan)
    events: list[tuple[str, int, float]] = []
    present, posed, times = [], [], []
    for i in range(ref.frames):
        poses = []
        if ref.found[i]:
            kp = np.concatenate([ref.landmarks[i], np.ones((33, 1), np.float32)], axis=1).astype(np.float32)
            # Legacy Pose returns a pose only above its presence threshold (0.5); it does not give the score.
            poses = [Pose(keypoints=kp, world=ref.world[i].astype(np.float32), score=1.0, roi=roi)]
        t = i / fps
        events += [(e.kind, i, t) for e in tracker.update(poses, round(t * 1e9))]
        present.append(tracker.state.present)
        posed.append(bool(poses))
        times.append(t)
    return {"video": video.name, "frames": ref.frames, "fps": fps, "events": events, "present": present,
            "posed": posed, "times": times, "rejected": {}, "validity_ms_per_frame": 0.0}


def replay(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if not args.video.is_file():
        raise CommandError(f"{args.video}: no such video file", EXIT_NOINPUT)
    if args.labels is not None:
        try:  # the file and its entry, before the long replay; the ranges are checked against the clip after
            load_labels(args.labels, args.video.name, None)
        except LabelsError as e:
            raise CommandError(str(e), EXIT_DATAERR) from None
    if args.mediapipe:
        out = run_mediapipe_replay(cfg, args.video)
    else:
        out = run_replay(cfg, args.video, validity=not args.no_validity)
    result: dict[str, Any] = {k: out[k] for k in ("video", "frames", "fps", "rejected", "validity_ms_per_frame")}
    result["validity"] = not args.no_validity and not args.mediapipe
    result["engine"] = "mediapipe" if args.mediapipe else "edgepose"
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
    what = f"MediaPipe {cfg.engine.model}" if args.mediapipe else f"{cfg.engine.model} {cfg.engine.precision}"
    print(f"{result['video']}: {result['frames']} frames at {result['fps']:g} fps, {what}, "
          f"validity {'on' if result['validity'] else 'off'}")
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
